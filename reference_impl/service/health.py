"""What GET /health says about the service, from its Horizon breakers (contract: docs/service.md).

- `status` "ok": every breaker is closed; "degraded": some breaker is not closed (settlements may
  fail over, wait for a trial call, or be refused).
- `ready` true: the service can take a settlement now, i.e. at least one breaker is not open; false
  when every breaker is open (settlements are answered 503 + Retry-After at once).
"""

from __future__ import annotations

from collections.abc import Mapping

HealthSummary = tuple[str, bool]


def health_summary(breakers: Mapping[str, str]) -> HealthSummary:
    """(status, ready) for breaker states by name (`closed`, `open`, `half_open`)."""
    states = [str(s).lower() for s in breakers.values()]
    status = "ok" if all(s == "closed" for s in states) else "degraded"
    return status, not states or any(s != "open" for s in states)
