"""Paying agents: x402 handshake (402 challenge, then the paid request) for a resource.

Each user owns one funded payer account (`PayerAccount`). The service answers a payment before it
settles it, and stellar-core queues one transaction per account, so after a 200 the user waits until
its payment is in a ledger before it takes another arrival (other users take them meanwhile). The
handshake is recorded as two rows: the challenge (`x402-challenge`) and the paid request (`x402`),
whose latency spans the whole handshake, challenge included, as the `x402.handshake` target defines it.
"""

from __future__ import annotations

import time

import gevent
from stellar_sdk import Keypair

from scenarios.users.base import PacedUser
from scenarios.users.payer import PayerAccount
from scenarios.users.x402_client import PAYMENT_TIMEOUT_S, payment_header, requirements

SETTLE_LIMIT_S = 2 * PAYMENT_TIMEOUT_S


class PayingAgent(PacedUser):
    kind = "paying_agent"

    def setup(self) -> None:
        payers = self.ctx.accounts["payers"]
        self.payer = PayerAccount(Keypair.from_secret(payers[self.index % len(payers)]), self.ledger_get,
                                  gevent.sleep, time.time)

    def act(self, intended_s: float) -> None:
        key = self.key("agent", "x402", requests_per_arrival=2.0)
        path = f"/resources/r{self.rng.randrange(50)}"
        started = self.ctx.now_s()
        status, body, _ = self.call(
            intended_s, "x402-challenge", "GET", path, client_key=key, expected="challenge"
        )
        req = requirements(body) if status == 402 else None
        if req is None:
            return
        header, tx_hash = payment_header(req, self.payer.keypair, self.payer.sequence())
        status, _, _ = self.call(
            intended_s, "x402", "GET", path, client_key=key, headers={"X-PAYMENT": header}, started_s=started
        )
        if status == 200:
            self.payer.paid(tx_hash, time.time() + PAYMENT_TIMEOUT_S)
            self.payer.settle_wait(SETTLE_LIMIT_S)
        else:
            self.payer.refused()
