"""Tampered and replayed x402 v2 payments.

Each arrival fetches a fresh challenge and sends one adversarial `PAYMENT-SIGNATURE`, cycling through
the tamperings of `x402_v2_client.TAMPERINGS`: signed honestly but for the wrong amount, the wrong
payee or the wrong token (`expected="mismatch"`: refused, logged LOW), or with an authorization
already expired or signed for another network's passphrase (`expected="reject"`: refused, logged
CRITICAL). Every `REPLAY_EVERY`-th arrival instead pays validly and sends the same header again: the
replay (user kind `replayer`, `expected="replay"`) must be refused (logged MEDIUM `replay`). P33
judges all of them: none may be served or settled.
"""

from __future__ import annotations

from stellar_sdk import Keypair

from scenarios.users.paying_agent_v2 import RECEIPT, PayingAgentV2
from scenarios.users.x402_v2_client import CRYPTO_TAMPERINGS, TAMPERINGS, Tamper

REPLAY_EVERY = 6


class TampererV2(PayingAgentV2):
    kind = "tamperer_v2"

    def setup(self) -> None:
        super().setup()
        payers = self.ctx.accounts["payers"]
        self.payer = Keypair.from_secret(payers[-1 - (self.index % len(payers))])
        destinations = self.ctx.accounts["destinations"]
        self.other = destinations[self.index % len(destinations)]

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        key = self.key("tamperer2", "x402", requests_per_arrival=3.0)
        path = f"/resources/t{self.rng.randrange(20)}"
        headers = self.challenge(intended_s, key, path)
        if headers is None:
            return
        if n % REPLAY_EVERY == REPLAY_EVERY - 1:
            self.replay(intended_s, key, path, headers)
            return
        kind = TAMPERINGS[n % len(TAMPERINGS)]
        value = self.signature(intended_s, headers, Tamper(kind, self.other))
        if value is not None:
            self.call(intended_s, "x402-v2", "GET", path, client_key=key, headers={"PAYMENT-SIGNATURE": value},
                      expected="reject" if kind in CRYPTO_TAMPERINGS else "mismatch", receipt_header=RECEIPT)

    def replay(self, intended_s: float, key: str, path: str, headers: dict[str, str]) -> None:
        value = self.signature(intended_s, headers)
        if value is None:
            return
        status, _, _ = self.call(intended_s, "x402-v2", "GET", path, client_key=key, user_kind="replayer",
                                 headers={"PAYMENT-SIGNATURE": value}, expected="ok", receipt_header=RECEIPT)
        if status == 200:
            self.call(intended_s, "x402-v2", "GET", path, client_key=key, user_kind="replayer",
                      headers={"PAYMENT-SIGNATURE": value}, expected="replay", receipt_header=RECEIPT)
