"""Paying agents: x402 handshake (402 challenge, then the paid request) for a resource.

Each user owns one funded payer account and tracks its sequence number locally (loaded once from
the ledger; reloaded after anything but a 200). The handshake is recorded as two rows: the
challenge (`x402-challenge`) and the paid request (`x402`), whose latency spans the whole
handshake, challenge included, as the `x402.handshake` target defines it.
"""

from __future__ import annotations

from stellar_sdk import Keypair

from scenarios.users.base import PacedUser
from scenarios.users.x402_client import payment_header, requirements


class PayingAgent(PacedUser):
    kind = "paying_agent"

    def setup(self) -> None:
        payers = self.ctx.accounts["payers"]
        self.payer = Keypair.from_secret(payers[self.index % len(payers)])
        self.next_seq = 0

    def _sync_sequence(self) -> None:
        resp = self.client.get(
            f"{self.ctx.ledger_url}/accounts/{self.payer.public_key}", name="ledger-account"
        )
        if resp.status_code == 200:
            self.next_seq = max(self.next_seq, int(resp.json()["sequence"]) + 1)

    def act(self, intended_s: float) -> None:
        if not self.next_seq:
            self._sync_sequence()
        key = self.key("agent", "x402", requests_per_arrival=2.0)
        name = f"r{self.rng.randrange(50)}"
        path = f"/resources/{name}"
        started = self.ctx.now_s()
        status, body, _ = self.call(
            intended_s, "x402-challenge", "GET", path, client_key=key, expected="challenge"
        )
        req = requirements(body) if status == 402 else None
        if req is None:
            return
        header, _tx_hash = payment_header(req, self.payer, self.next_seq)
        status, _, _ = self.call(
            intended_s, "x402", "GET", path, client_key=key, headers={"X-PAYMENT": header}, started_s=started
        )
        if status == 200:
            self.next_seq += 1
        else:
            self._sync_sequence()
