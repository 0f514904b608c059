"""Settlers: `POST /settlements` with idempotency keys, retried with the same key on unknown outcome.

A small share of settlements (`FAILING_SHARE`) pays an account that does not exist, so the ledger
fails them (`op_no_destination`, HTTP 422): the transaction-failure logging property (P31) needs
real failed transactions. Those are recorded with `expected="fail"`. A 504 `outcome_unknown` or a
dropped connection is retried (at most `MAX_RETRIES` times) with the same Idempotency-Key, which
must never pay twice (the nothing-lost invariant).
"""

from __future__ import annotations

import gevent
from stellar_sdk import Keypair

from scenarios.users.base import PacedUser

FAILING_SHARE = 0.05
MAX_RETRIES = 2
RETRY_PAUSE_S = 1.0


def agent_did(seed: int, index: int) -> str:
    return f"did:example:agent-{seed}-{index}"


class Settler(PacedUser):
    kind = "settler"

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        key = f"{self.ctx.run_id}-s{self.index}-{n}"
        failing = self.rng.random() < FAILING_SHARE
        if failing:
            raw = self.rng.getrandbits(256).to_bytes(32, "big")
            destination = Keypair.from_raw_ed25519_seed(raw).public_key
        else:
            destination = self.rng.choice(self.ctx.accounts["destinations"])
        body = {
            "destination": destination,
            "amount": f"0.{self.rng.randint(1, 9_999_999):07d}",
            "asset": self.ctx.asset,
            "agent_did": agent_did(self.ctx.seed, self.index),
        }
        client_key = self.key("settler", "settlement", requests_per_arrival=1.2)
        for attempt in range(MAX_RETRIES + 1):
            status, _, _ = self.call(
                intended_s, "settlement", "POST", "/settlements", body=body, client_key=client_key,
                idempotency_key=key, expected="fail" if failing else "ok",
            )
            if status not in (0, 504) or attempt == MAX_RETRIES:
                return
            gevent.sleep(RETRY_PAUSE_S)
