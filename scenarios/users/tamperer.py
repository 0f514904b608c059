"""Tampered and replayed proofs.

Each arrival fetches a fresh x402 challenge, then sends one tampered payment: signed by another key,
signed for another network, or already expired; or a channel update with a forged signature. Those
records carry `expected="reject"`: each must be refused with 4xx and logged CRITICAL (P33). Every
`REPLAY_EVERY`-th arrival instead makes one valid payment and presents it again (user kind `replayer`,
logged MEDIUM `replay`, so not a CRITICAL case), alternately over the process's tamperers
- one after the other: the payment (`expected="ok"`), then the same proof (`expected="replay"`), or
- concurrently: two copies sent at once (`expected="replay_race"`), of which at most one may be served;
and, once the payment is in a ledger (the user waits for it, like a paying agent), once more later
(`expected="replay"`). Challenges are recorded with `expected="challenge"`.
"""

from __future__ import annotations

import time

import gevent
from stellar_sdk import Keypair

from reference_impl.crypto_verification import sign_channel_state
from scenarios.users.base import PacedUser
from scenarios.users.channel_updater import channel_state
from scenarios.users.payer import PayerAccount
from scenarios.users.paying_agent import SETTLE_LIMIT_S
from scenarios.users.x402_client import OTHER_NETWORK, PAYMENT_TIMEOUT_S, payment_header, requirements

TAMPERINGS = ("wrong_key", "wrong_network", "expired", "forged_channel")
REPLAY_EVERY = 5


class Tamperer(PacedUser):
    kind = "tamperer"

    def setup(self) -> None:
        payers = self.ctx.accounts["payers"]
        self.payer = PayerAccount(Keypair.from_secret(payers[-1 - (self.index % len(payers))]), self.ledger_get,
                                  gevent.sleep, time.time)
        strangers = self.ctx.accounts["strangers"]
        self.stranger = Keypair.from_secret(strangers[self.index % len(strangers)])

    def _challenge(self, intended_s: float, key: str) -> tuple[str, dict | None]:
        path = f"/resources/t{self.rng.randrange(20)}"
        status, body, _ = self.call(intended_s, "x402-challenge", "GET", path, client_key=key, expected="challenge")
        return path, requirements(body) if status == 402 else None

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        key = self.key("tamperer", "x402", requests_per_arrival=3.0)
        if n % REPLAY_EVERY == REPLAY_EVERY - 1:
            self.replay(intended_s, key)
            return
        tampering = TAMPERINGS[n % len(TAMPERINGS)]
        if tampering == "forged_channel":
            self.forged_channel(intended_s, key)
            return
        path, req = self._challenge(intended_s, key)
        if req is None:
            return
        header, _ = payment_header(
            req, self.payer.keypair, self.payer.sequence(),
            signer=self.stranger if tampering == "wrong_key" else None,
            passphrase=OTHER_NETWORK if tampering == "wrong_network" else None,
            expired=tampering == "expired",
        )
        self.call(intended_s, "x402", "GET", path, client_key=key, headers={"X-PAYMENT": header},
                  expected="reject")

    def replay(self, intended_s: float, key: str) -> None:
        path, req = self._challenge(intended_s, key)
        if req is None:
            return
        header, tx_hash = payment_header(req, self.payer.keypair, self.payer.sequence())

        def present(expected: str) -> int:
            return self.call(intended_s, "x402", "GET", path, client_key=key, headers={"X-PAYMENT": header},
                             user_kind="replayer", expected=expected)[0]

        if self.ctx.next_index("replay") % 2 == 0:  # alternate over the process's tamperers
            racers = [gevent.spawn(present, "replay_race") for _ in range(2)]
            gevent.joinall(racers, timeout=2 * self.network_timeout)
            served = any(g.value == 200 for g in racers)
        else:
            served = present("ok") == 200
            if served:
                present("replay")
        if not served:
            self.payer.refused()
            return
        self.payer.paid(tx_hash, time.time() + PAYMENT_TIMEOUT_S)
        self.payer.settle_wait(SETTLE_LIMIT_S)
        present("replay")  # later: the payment is settled by now (or its wait ran out)

    def forged_channel(self, intended_s: float, key: str) -> None:
        """A channel's opening state where party A's signature comes from an impostor's key."""
        channel_id = f"tamper-{self.ctx.seed}-{self.index}-{next(self.sequence)}"
        state = channel_state(channel_id, 1, self.payer.keypair.public_key, self.stranger.public_key, 1000, 1000)
        impostor = sign_channel_state(state, Keypair.random())["signatures"]
        signed = sign_channel_state(state, self.stranger)
        signed["signatures"][self.payer.keypair.public_key] = next(iter(impostor.values()))
        self.call(intended_s, "channel", "POST", f"/channels/{channel_id}/updates", body=signed,
                  client_key=self.key("tamperer", "channel"), expected="reject")
