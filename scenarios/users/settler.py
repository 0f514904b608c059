"""Settlers: `POST /settlements` with idempotency keys, retried with the same key on unknown outcome.

A small share of settlements (`FAILING_SHARE`) pays an account that does not exist, so the ledger
fails them (`op_no_destination`, HTTP 422): the transaction-failure logging property (P31) needs
real failed transactions. Another share (`OVERDRAWN_SHARE`) asks for more than any of the service's
paying accounts holds (`OVERDRAWN_AMOUNT`): the transaction is valid at submission (stellar-core checks
only the fee against the balance there) and fails when applied (`op_underfunded`, fee charged). Those are
recorded with `expected="fail"`, and the agent retries a 422 once with the same Idempotency-Key: the
service must answer the stored failure, never pay a new transaction for it (the fees check). A 504
`outcome_unknown` or a dropped connection is retried (at most `MAX_RETRIES` times) with the same
Idempotency-Key, which must never pay twice (the nothing-lost invariant).
"""

from __future__ import annotations

import gevent
from stellar_sdk import Keypair

from scenarios.users.base import PacedUser

FAILING_SHARE = 0.05
OVERDRAWN_SHARE = 0.04
# Above every funded balance of the run (harness/run/accounts.py: 100,000 XLM, 10,000 USDC per account).
OVERDRAWN_AMOUNT = "900000000"
MAX_RETRIES = 2
RETRY_PAUSE_S = 1.0


def agent_did(seed: int, index: int) -> str:
    return f"did:example:agent-{seed}-{index}"


class Settler(PacedUser):
    kind = "settler"

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        key = f"{self.ctx.run_id}-s{self.index}-{n}"
        roll = self.rng.random()
        failing = roll < FAILING_SHARE
        overdrawn = FAILING_SHARE <= roll < FAILING_SHARE + OVERDRAWN_SHARE
        if failing:
            raw = self.rng.getrandbits(256).to_bytes(32, "big")
            destination = Keypair.from_raw_ed25519_seed(raw).public_key
        else:
            destination = self.rng.choice(self.ctx.accounts["destinations"])
        amount = f"0.{self.rng.randint(1, 9_999_999):07d}"
        body = {
            "destination": destination,
            "amount": OVERDRAWN_AMOUNT if overdrawn else amount,
            "asset": self.ctx.asset,
            "agent_did": agent_did(self.ctx.seed, self.index),
        }
        client_key = self.key("settler", "settlement", requests_per_arrival=1.2)
        expected = "fail" if failing or overdrawn else "ok"
        retried_failure = False
        for attempt in range(MAX_RETRIES + 1):
            status, _, _ = self.call(
                intended_s, "settlement", "POST", "/settlements", body=body, client_key=client_key,
                idempotency_key=key, expected=expected,
            )
            retry_failure = status == 422 and expected == "fail" and not retried_failure
            if (status not in (0, 504) and not retry_failure) or attempt == MAX_RETRIES:
                return
            retried_failure |= retry_failure
            gevent.sleep(RETRY_PAUSE_S)
