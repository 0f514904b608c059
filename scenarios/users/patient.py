"""429-honouring clients: each arrival spends its own key's limit, then waits out the 429 as told.

A `Patient` sends the abuse endpoint's requests (the run-config's `abuse` entry, as the abusers do)
under an issued key of its own (`patient-<index>`, used by no other client) one after another until
one is refused with 429 (at most the endpoint's limit plus a few, so a looser limit than announced
ends the burst without a 429). The burst's records carry `expected="ratelimit"`. It then sleeps the
429's `Retry-After` (whole seconds; an absent, unparsable or longer than `MAX_WAIT_S` value ends
the arrival) and sends once more, recorded with `expected="after_retry_after"`: that request must be
admitted (P34). Its requests never overlap, so P34 can hold each `X-RateLimit-Remaining` against
what this one client was admitted.
"""

from __future__ import annotations

import gevent

from scenarios.users.abuser import DEFAULT_ABUSE
from scenarios.users.base import PacedUser

MAX_WAIT_S = 30.0
BURST_MARGIN = 3  # requests beyond the announced limit before the burst gives up
MAX_BURST = 200


class Patient(PacedUser):
    kind = "patient"

    def act(self, intended_s: float) -> None:
        abuse = {**DEFAULT_ABUSE, **self.ctx.config.get("abuse", {})}
        endpoint, method, path = str(abuse["endpoint"]), str(abuse["method"]), str(abuse["path"])
        key = f"patient-{self.index}"
        limit = int(self.ctx.rate_limits.get(endpoint, {}).get("limit", MAX_BURST))
        for _ in range(min(MAX_BURST, limit + BURST_MARGIN)):
            status, _, headers = self.call(intended_s, endpoint, method, path, client_key=key, expected="ratelimit")
            if status == 429:
                break
        else:
            return
        wait = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
        if not wait.isdigit() or int(wait) > MAX_WAIT_S:
            return
        gevent.sleep(int(wait))
        self.call(intended_s, endpoint, method, path, client_key=key, expected="after_retry_after")
