"""Paying agents on x402 v2: the 402 challenge, then a Soroban-authorised USDC transfer paid through
`PAYMENT-SIGNATURE` (scenarios/users/x402_v2_client.py), served once the facilitator settled it.

The agent reads the ledger through Soroban RPC directly (not through the service or the proxies), as
an agent calls its own RPC provider. Its payments spend no sequence number of its own (the facilitator
is the transaction's source), so it needs no waiting between payments. Two rows per arrival: the
challenge (`x402-challenge`) and the paid request (`x402-v2`), whose latency spans the whole
handshake - challenge, building and signing, verification and settlement - as the client sees it; its
tx hash is the `PAYMENT-RESPONSE` receipt's. A payment the client cannot build (RPC refused the
simulation) is one `x402-v2-client` row with status 0 and `expected="client_error"`.
"""

from __future__ import annotations

from stellar_sdk import Keypair, SorobanServer

from scenarios.users.base import PacedUser
from scenarios.users.x402_v2_client import Tamper, pay

RECEIPT = "PAYMENT-RESPONSE"


class PayingAgentV2(PacedUser):
    kind = "paying_agent_v2"

    def setup(self) -> None:
        payers = self.ctx.accounts["payers"]
        self.payer = Keypair.from_secret(payers[self.index % len(payers)])
        self.rpc = SorobanServer(f"{self.ctx.ledger_url}/soroban/rpc")
        self.passphrase: str | None = None

    def challenge(self, intended_s: float, key: str, path: str) -> dict[str, str] | None:
        status, _, headers = self.call(intended_s, "x402-challenge", "GET", path, client_key=key,
                                       expected="challenge")
        return headers if status == 402 else None

    def signature(self, intended_s: float, headers: dict[str, str], tamper: Tamper | None = None) -> str | None:
        """The PAYMENT-SIGNATURE for a challenge, or None (recorded as a client error)."""
        try:
            value, self.passphrase = pay(self.rpc, headers, self.payer, self.passphrase, tamper)
            return value
        except Exception as error:  # noqa: BLE001 - any client-side failure is recorded, never raised
            self.record_client_error(intended_s, "x402-v2-client", f"{type(error).__name__}: {error}")
            return None

    def act(self, intended_s: float) -> None:
        key = self.key("agent2", "x402", requests_per_arrival=2.0)
        path = f"/resources/r{self.rng.randrange(50)}"
        started = self.ctx.now_s()
        headers = self.challenge(intended_s, key, path)
        value = self.signature(intended_s, headers) if headers is not None else None
        if value is None:
            return
        self.call(intended_s, "x402-v2", "GET", path, client_key=key, headers={"PAYMENT-SIGNATURE": value},
                  started_s=started, receipt_header=RECEIPT)
