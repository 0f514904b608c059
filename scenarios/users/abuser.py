"""Abusive clients: each arrival is a burst of requests under one client key, far above its limit.

The target is the run-config's `abuse` entry (default: x402 challenges, `GET /resources/...`, which
only answer 402 and cost the ledger nothing). Records carry `expected="ratelimit"`: the rate-limit
property (P34) checks that admitted requests per key stay within the limit and 429s carry headers.
"""

from __future__ import annotations

from scenarios.users.base import PacedUser

DEFAULT_ABUSE = {"endpoint": "x402-challenge", "method": "GET", "path": "/resources/abuse", "burst": 12, "keys": 2}


class Abuser(PacedUser):
    kind = "abuser"

    def act(self, intended_s: float) -> None:
        abuse = {**DEFAULT_ABUSE, **self.ctx.config.get("abuse", {})}
        key = f"abuser-{self.rng.randrange(int(abuse['keys']))}"
        for _ in range(int(abuse["burst"])):
            self.call(intended_s, str(abuse["endpoint"]), str(abuse["method"]), str(abuse["path"]),
                      client_key=key, expected="ratelimit")
