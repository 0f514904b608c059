"""Abusive clients: each arrival is a burst of requests far above the limit.

The target is the run-config's `abuse` entry (default: x402 challenges, `GET /resources/...`, which
only answer 402 and cost the ledger nothing). `Abuser` sends under one of a few issued keys;
`KeyRotator` sends every request under a fresh key nobody issued, claiming to be a new client each
time: the service must limit all of them together as one anonymous client (its address), and the
nonce each admitted challenge holds counts against that one client's quota.
Records carry `expected="ratelimit"`: the rate-limit property (P34) checks that admitted requests
per client stay within the limit and that 429s carry the headers.
"""

from __future__ import annotations

from typing import Any

from scenarios.users.base import PacedUser

DEFAULT_ABUSE = {"endpoint": "x402-challenge", "method": "GET", "path": "/resources/abuse", "burst": 12, "keys": 2}


class Abuser(PacedUser):
    kind = "abuser"

    def abuse(self) -> dict[str, Any]:
        return {**DEFAULT_ABUSE, **self.ctx.config.get("abuse", {})}

    def act(self, intended_s: float) -> None:
        abuse = self.abuse()
        key = f"abuser-{self.rng.randrange(int(abuse['keys']))}"
        for _ in range(int(abuse["burst"])):
            self.call(intended_s, str(abuse["endpoint"]), str(abuse["method"]), str(abuse["path"]),
                      client_key=key, expected="ratelimit")


class KeyRotator(Abuser):
    kind = "key_rotator"

    def act(self, intended_s: float) -> None:
        abuse = self.abuse()
        for _ in range(int(abuse["burst"])):
            fresh = f"rotated-{self.rng.getrandbits(64):016x}"  # never issued: not a client of its own
            self.call(intended_s, str(abuse["endpoint"]), str(abuse["method"]), str(abuse["path"]),
                      raw_api_key=fresh, expected="ratelimit")
