"""Escrow users: `POST /contracts/escrow` (a claimable balance with time predicates), idempotent.

A share of escrows (`IMPATIENT_SHARE`) is asked by an impatient client: it gives up waiting after
`CLIENT_TIMEOUT_S` (less than a ledger close, so the first request is still in flight) and sends the
same request again with the same Idempotency-Key. The service must create one escrow: both answers
name it and the ledger holds one claimable balance for the key (the nothing-lost invariant counts a
second as a duplicate). Both answers are recorded (the first when it arrives).
"""

from __future__ import annotations

import gevent

from scenarios.users.base import PacedUser
from scenarios.users.settler import agent_did

IMPATIENT_SHARE = 0.25
CLIENT_TIMEOUT_S = 0.3


class EscrowUser(PacedUser):
    kind = "escrow_user"

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        body = {
            "agent_did": agent_did(self.ctx.seed, self.index),
            "payee": self.rng.choice(self.ctx.accounts["destinations"]),
            "amount": str(self.rng.randint(1, 5)),
            "deadline_seconds": 3600,
        }
        key = f"{self.ctx.run_id}-e{self.index}-{n}"
        client_key = self.key("escrow", "escrow", requests_per_arrival=1.0 + IMPATIENT_SHARE)

        def send() -> None:
            self.call(intended_s, "escrow", "POST", "/contracts/escrow", body=body, client_key=client_key,
                      idempotency_key=key)

        if self.rng.random() >= IMPATIENT_SHARE:
            send()
            return
        first = gevent.spawn(send)
        first.join(timeout=CLIENT_TIMEOUT_S)
        if not first.dead:  # timed out waiting: retry with the same key while the first is in flight
            send()
        first.join()
