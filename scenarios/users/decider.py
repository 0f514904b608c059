"""Deciders: `POST /agent/decisions` with one to three generated loan or escrow opportunities."""

from __future__ import annotations

import time
from typing import Any

from scenarios.users.base import PacedUser
from scenarios.users.settler import agent_did


class Decider(PacedUser):
    kind = "decider"

    def opportunity(self, i: int) -> dict[str, Any]:
        dests = self.ctx.accounts["destinations"]
        counterparty, other = self.rng.sample(dests, 2)
        if self.rng.random() < 0.5:
            terms = {"lender": counterparty, "borrower": other, "principal": str(self.rng.randint(1, 500)),
                     "interestRate": round(self.rng.uniform(0.01, 0.3), 3),
                     "durationSeconds": self.rng.randint(1, 365) * 86400}
            if self.rng.random() < 0.5:
                terms["collateral"] = str(self.rng.randint(1, 800))
            return {"id": f"o{i}", "type": "loan", "terms": terms}
        escrow = {"payer": other, "payee": counterparty, "amount": str(self.rng.randint(1, 100)),
                  "deadline": int(time.time()) + self.rng.randint(1, 60) * 86400}
        return {"id": f"o{i}", "type": "escrow", "escrow": escrow}

    def act(self, intended_s: float) -> None:
        body = {
            "agent_did": agent_did(self.ctx.seed, self.index),
            "opportunities": [self.opportunity(i) for i in range(self.rng.randint(1, 3))],
        }
        self.call(intended_s, "decision", "POST", "/agent/decisions", body=body,
                  client_key=self.key("decider", "decision"))
