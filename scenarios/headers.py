"""What a target announces in its response headers: the recorded metric value and its rate limit.

Pure functions (no Locust import), so the load client and the tests share them.
"""

from __future__ import annotations

import math


def server_timing_ms(headers: dict[str, str], metric: str) -> float:
    """The `dur` of `metric` (dots as dashes) in a `Server-Timing` header; -1.0 when absent or malformed."""
    value = next((v for k, v in headers.items() if k.lower() == "server-timing"), "") if metric else ""
    wanted = metric.replace(".", "-")
    for entry in value.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        if name != wanted:
            continue
        for param in params:
            key, _, dur = param.partition("=")
            if key.strip().lower() == "dur":
                try:
                    ms = float(dur.strip().strip('"'))
                except ValueError:
                    return -1.0
                return ms if math.isfinite(ms) and ms >= 0 else -1.0
    return -1.0


def announced_limit(headers: dict[str, str]) -> tuple[int, float]:
    """(limit, window s) a response announces: `X-RateLimit-Limit`, and `RateLimit-Policy`'s first policy
    (`50;w=60` or `"name";q=50;w=60`, IETF draft-ietf-httpapi-ratelimit-headers); -1 where absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    limit, window = _int(lowered.get("x-ratelimit-limit", "")), -1.0
    policy = lowered.get("ratelimit-policy", "").split(",")[0]
    first, *params = (part.strip() for part in policy.split(";"))
    quota = _int(first)
    for param in params:
        key, _, value = param.partition("=")
        if key.strip() == "q":
            quota = _int(value)
        elif key.strip() == "w" and _int(value) > 0:
            window = float(_int(value))
    return (limit if limit > 0 else quota), window


def ratelimit_values(headers: dict[str, str]) -> tuple[int, float, float]:
    """(X-RateLimit-Remaining, X-RateLimit-Reset s, Retry-After s) as announced; -1 where absent or not a
    non-negative number of seconds (a Retry-After HTTP date counts as absent)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    reset, retry = _int(lowered.get("x-ratelimit-reset", "")), _int(lowered.get("retry-after", ""))
    return _int(lowered.get("x-ratelimit-remaining", "")), float(reset), float(retry)


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 12 else -1
