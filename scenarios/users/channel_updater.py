"""Channel updaters: signed off-chain payment-channel state updates with increasing sequence.

Each user owns a channel between two of the run's channel-party keys, and its own API key (the
service counts channels opened per client); every arrival moves a few stroops from one side to the
other, keeps the total, bumps the sequence and has both parties sign the canonical state
(`reference_impl.crypto_verification.sign_channel_state`).

A share of arrivals (`CONFLICT_SHARE`) sends two different signed states with the same next sequence at
once (two devices of one agent racing): at most one may be accepted, the other must be refused (409).
Both are recorded with `expected="conflict"` and the same `idempotency_key` (`conflict-<channel>-<seq>`),
so the channels check can pair them.
"""

from __future__ import annotations

from typing import Any

import gevent
from stellar_sdk import Keypair

from reference_impl.crypto_verification import sign_channel_state
from scenarios.client_keys import MAX_KEYS_PER_PREFIX
from scenarios.users.base import PacedUser

CAPACITY_STROOPS = 10_000_000
CONFLICT_SHARE = 0.2


def channel_state(channel_id: str, sequence: int, a: str, b: str, balance_a: int, total: int) -> dict[str, Any]:
    """An unsigned channel state in the service's format."""
    return {"channelId": channel_id, "sequence": sequence, "participants": [a, b],
            "balances": {a: balance_a, b: total - balance_a}, "total": total}


class ChannelUpdater(PacedUser):
    kind = "channel_updater"

    def setup(self) -> None:
        parties = self.ctx.accounts["channel_parties"]
        self.party_a = Keypair.from_secret(parties[(2 * self.index) % len(parties)])
        self.party_b = Keypair.from_secret(parties[(2 * self.index + 1) % len(parties)])
        self.channel_id = f"ch-{self.ctx.seed}-{self.index}"
        self.seq = 0
        self.balance_a = CAPACITY_STROOPS
        self.client_key = f"channel-{self.index % MAX_KEYS_PER_PREFIX}"

    def signed(self, balance_a: int) -> dict[str, Any]:
        state = channel_state(self.channel_id, self.seq, self.party_a.public_key, self.party_b.public_key,
                              balance_a, CAPACITY_STROOPS)
        return sign_channel_state(sign_channel_state(state, self.party_a), self.party_b)

    def act(self, intended_s: float) -> None:
        self.seq += 1
        self.balance_a = max(0, self.balance_a - self.rng.randint(1, 1000))
        path = f"/channels/{self.channel_id}/updates"
        if self.seq > 1 and self.rng.random() < CONFLICT_SHARE:
            self.race(intended_s, path)
            return
        status, reply, _ = self.call(intended_s, "channel", "POST", path, body=self.signed(self.balance_a),
                                     client_key=self.client_key)
        self.follow(status, reply)

    def race(self, intended_s: float, path: str) -> None:
        """Two different states with the same sequence at once; the channel keeps whichever it accepted."""
        other = max(0, self.balance_a - 1)
        tag = f"conflict-{self.channel_id}-{self.seq}"
        calls = [gevent.spawn(self.call, intended_s, "channel", "POST", path, body=self.signed(balance),
                              client_key=self.client_key, idempotency_key=tag, expected="conflict")
                 for balance in (self.balance_a, other)]
        gevent.joinall(calls)
        answers = [c.value for c in calls if c.value is not None]
        for status, reply, _ in answers:
            if status == 409:
                self.follow(status, reply)
        accepted = [i for i, (status, _, _) in enumerate(answers) if status // 100 == 2]
        if accepted == [1]:
            self.balance_a = other

    def follow(self, status: int, reply: dict[str, Any] | None) -> None:
        if status == 409 and reply and isinstance(reply.get("latest_sequence"), int):
            self.seq = int(reply["latest_sequence"])
