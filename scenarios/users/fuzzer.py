"""Malformed-input clients: replay the run's seeded corpus (scenarios/corpus.py), `BATCH` cases per arrival.

Each case is definitely invalid (one field or header of a valid request, or the request as a whole:
path, method, size, JSON), so the service must answer 4xx with a JSON body, never 5xx, and nothing may
reach the ledger (P32). A field case is recorded with `expected="reject:<field>"`, the field it
changed, which the 4xx's `field` must name; the others with `expected="reject"`.
A case that carries its own `X-API-Key` sends it as an unissued key (the anonymous client); the
others use the fuzzers' issued keys. Oversized bodies are built here from their size.
"""

from __future__ import annotations

from scenarios.corpus import case_body
from scenarios.users.base import PacedUser

BATCH = 5


class Fuzzer(PacedUser):
    kind = "fuzzer"

    def act(self, intended_s: float) -> None:
        corpus = self.ctx.corpus
        for _ in range(BATCH if corpus else 0):
            case = corpus[self.rng.randrange(len(corpus))]
            headers = dict(case.get("headers") or {})
            own_key = headers.pop("X-API-Key", None)
            self.call(
                intended_s, case["endpoint"], case["method"], case["path"], raw=case_body(case), headers=headers,
                client_key="" if own_key is not None else self.key("fuzzer", case["endpoint"], BATCH),
                raw_api_key=own_key, expected=f"reject:{case['field']}" if case.get("field") else "reject",
            )
