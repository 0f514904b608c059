"""Malformed-input clients: replay the run's seeded corpus (scenarios/corpus.py) one case per arrival.

Each case is definitely invalid (at least one field breaks the contract), so the service must answer
4xx with a JSON body, never 5xx, and nothing may reach the ledger (P32).
"""

from __future__ import annotations

import base64

from scenarios.users.base import PacedUser


class Fuzzer(PacedUser):
    kind = "fuzzer"

    def act(self, intended_s: float) -> None:
        corpus = self.ctx.corpus
        if not corpus:
            return
        case = corpus[self.rng.randrange(len(corpus))]
        raw = base64.b64decode(case["raw_b64"]) if case.get("raw_b64") is not None else None
        self.call(
            intended_s, case["endpoint"], case["method"], case["path"],
            body=case.get("body") if raw is None else None, raw=raw,
            headers=case.get("headers") or {}, client_key=self.key("fuzzer", case["endpoint"]),
            expected="reject",
        )
