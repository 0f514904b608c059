"""Channel updaters: signed off-chain payment-channel state updates with increasing sequence.

Each user owns a channel between two of the run's channel-party keys, and its own API key (the
service counts channels opened per client); every arrival moves a few stroops from one side to the
other, keeps the total, bumps the sequence and has both parties sign the canonical state
(`reference_impl.crypto_verification.sign_channel_state`).
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import Keypair

from reference_impl.crypto_verification import sign_channel_state
from scenarios.client_keys import MAX_KEYS_PER_PREFIX
from scenarios.users.base import PacedUser

CAPACITY_STROOPS = 10_000_000


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

    def act(self, intended_s: float) -> None:
        self.seq += 1
        self.balance_a = max(0, self.balance_a - self.rng.randint(1, 1000))
        state = channel_state(self.channel_id, self.seq, self.party_a.public_key, self.party_b.public_key,
                              self.balance_a, CAPACITY_STROOPS)
        signed = sign_channel_state(sign_channel_state(state, self.party_a), self.party_b)
        status, reply, _ = self.call(
            intended_s, "channel", "POST", f"/channels/{self.channel_id}/updates",
            body=signed, client_key=self.client_key,
        )
        if status == 409 and reply and isinstance(reply.get("latest_sequence"), int):
            self.seq = int(reply["latest_sequence"])
