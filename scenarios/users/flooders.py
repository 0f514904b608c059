"""State floods: clients trying to grow the service's memory or crowd out other clients' state.

`NonceFlooder` asks for x402 challenges (each holds a nonce until it expires) as fast as its issued
keys' rate limit allows (`HEADROOM` of it), never paying: the service must keep at most its
per-client quota of nonces for each key and never drop another client's. `ChannelFlooder` opens a
brand-new payment channel per arrival (two fresh parties, both signatures valid), alternately under
its issued key and under a fresh unissued key (anonymous): the service must stop each client at its
channel quota and never exceed its configured channel bound. Records carry `expected="flood"`; the
state-bounds check judges what the service holds (docs/judges.md).
"""

from __future__ import annotations

from stellar_sdk import Keypair

from reference_impl.crypto_verification import sign_channel_state
from scenarios.users.base import PacedUser
from scenarios.users.channel_updater import channel_state

HEADROOM = 0.9  # share of each key's limit a flooder uses: as much as it can without being refused


class NonceFlooder(PacedUser):
    kind = "nonce_flooder"

    def act(self, intended_s: float) -> None:
        n = self.ctx.keys_needed(self.kind, "x402-challenge", 1.0, headroom=HEADROOM)
        self.call(intended_s, "x402-challenge", "GET", f"/resources/nf{self.rng.randrange(8)}",
                  client_key=f"nonceflood-{self.rng.randrange(n)}", expected="flood")


class ChannelFlooder(PacedUser):
    kind = "channel_flooder"

    def act(self, intended_s: float) -> None:
        n = next(self.sequence)
        channel_id = f"flood-{self.ctx.seed}-{self.index}-{n}"
        a, b = (Keypair.from_raw_ed25519_seed(self.rng.getrandbits(256).to_bytes(32, "big")) for _ in range(2))
        signed = sign_channel_state(sign_channel_state(channel_state(channel_id, 1, a.public_key, b.public_key, 5, 10),
                                                       a), b)
        path = f"/channels/{channel_id}/updates"
        if n % 2:
            self.call(intended_s, "channel", "POST", path, body=signed, expected="flood",
                      raw_api_key=f"rotated-{self.rng.getrandbits(64):016x}")
        else:
            keys = self.ctx.keys_needed(self.kind, "channel", 0.5, headroom=HEADROOM)
            self.call(intended_s, "channel", "POST", path, body=signed, expected="flood",
                      client_key=f"channelflood-{self.rng.randrange(keys)}")
