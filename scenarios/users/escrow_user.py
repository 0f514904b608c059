"""Escrow users: `POST /contracts/escrow` (a claimable balance with time predicates), idempotent."""

from __future__ import annotations

from scenarios.users.base import PacedUser
from scenarios.users.settler import agent_did


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
        self.call(intended_s, "escrow", "POST", "/contracts/escrow", body=body,
                  client_key=self.key("escrow", "escrow"), idempotency_key=f"{self.ctx.run_id}-e{self.index}-{n}")
