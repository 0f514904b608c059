"""RateLimiter: per-key token-bucket or exact sliding-window limits, in virtual or real time.

Guarantees (property 34, tests/property/test_p34_rate_limiting.py):
- token-bucket: capacity `max_requests`, refilled continuously at `max_requests / window` per second,
  so any interval [t1, t2] admits at most `max_requests + rate * (t2 - t1)` requests per key;
- sliding-window: exact; a timestamp deque per key, so any window of length `window` (half-open,
  [s, s + window)) admits at most `max_requests` requests per key;
- both admit every request of a client whose requests are spaced at least `window / max_requests` apart.
Idle keys (no request for `idle_ttl` >= `window`, when their state is back to full anyway) are
dropped, so memory stays bounded by the number of recently active keys (and by `max_keys`).
The middleware lives in `reference_impl.rate_limit_middleware`; `RateLimiter.middleware` wraps an app
with one limiter in one line. The seed's forms work too: a config mapping (`{"maxRequests": 100,
"windowMs": 60000}`) and `check_limit(request)` for a Starlette request or ASGI scope.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ConfigurationError
from reference_impl.request_keys import KeyFunc, default_key, request_key
from reference_impl.seed_forms import SeedKeys, coerce_config

ALGORITHMS = ("token-bucket", "sliding-window")


@dataclass(frozen=True, slots=True)
class RateLimiterConfig:
    """`max_requests` per `window` seconds, per key; `idle_ttl` seconds before an idle key is dropped."""

    max_requests: int
    window: float
    algorithm: str = "sliding-window"
    idle_ttl: float = 600.0
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        if isinstance(self.max_requests, bool) or not isinstance(self.max_requests, int) or self.max_requests < 1:
            raise ConfigurationError(f"max_requests must be an integer >= 1, got {self.max_requests!r}")
        if not _positive(self.window):
            raise ConfigurationError(f"window must be a finite number of seconds > 0, got {self.window!r}")
        if self.algorithm not in ALGORITHMS:
            raise ConfigurationError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if not _positive(self.idle_ttl) or self.idle_ttl < self.window:
            raise ConfigurationError(f"idle_ttl must be >= window ({self.window}), got {self.idle_ttl!r}")
        if isinstance(self.max_keys, bool) or not isinstance(self.max_keys, int) or self.max_keys < 1:
            raise ConfigurationError(f"max_keys must be an integer >= 1, got {self.max_keys!r}")

    @property
    def rate(self) -> float:
        """Token-bucket refill rate in requests per second."""
        return self.max_requests / self.window


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


SEED_KEYS = SeedKeys(
    owner="RateLimiter",
    example="{'maxRequests': 100, 'windowMs': 60000, 'algorithm': 'sliding-window'}",
    plain={"maxRequests": "max_requests", "algorithm": "algorithm", "maxKeys": "max_keys"},
    durations_ms={"windowMs": "window", "idleTtlMs": "idle_ttl"},
)
"""The seed's keys (durations in ms, as the seed and the config files' `security.rateLimit` write them)."""

PRESETS: Mapping[str, RateLimiterConfig] = {
    "STRICT": RateLimiterConfig(10, 60.0),
    "STANDARD": RateLimiterConfig(100, 60.0),
    "RELAXED": RateLimiterConfig(1000, 60.0),
    "PAYMENT": RateLimiterConfig(50, 60.0),
    "AUTH": RateLimiterConfig(5, 60.0),
}


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """One decision. `reset_after`: seconds until the key is back to its full limit;
    `retry_after`: seconds until the next request would be admitted (0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float


@dataclass(slots=True)
class _Window:
    stamps: deque[float] = field(default_factory=deque)


class RateLimiter:
    """Per-key limiter; `check_limit(key)` consumes one request's allowance when it is admitted.

    `key_func(scope)` names the client of a request passed to `check_limit` or seen by `middleware`
    (default: the client address; pass `request_keys.IssuedKeys` to honour issued API keys).
    """

    def __init__(self, config: RateLimiterConfig | Mapping[str, Any], clock: Clock = SYSTEM_CLOCK, *,
                 key_func: KeyFunc = default_key) -> None:
        self.config = coerce_config(config, RateLimiterConfig, SEED_KEYS)
        self.clock = clock
        self.key_func = key_func
        self._states: OrderedDict[str, tuple[float, _Bucket | _Window]] = OrderedDict()
        self._lock = threading.Lock()

    def check_limit(self, key: Any) -> RateLimitResult:
        """Admit or reject one request for `key` (a client key, or a Starlette request / ASGI scope,
        keyed by `key_func`) at the clock's current time."""
        key = request_key(key, self.key_func)
        with self._lock:
            now = self.clock.now()
            entry = self._states.pop(key, None)
            self._evict(now, keep=self.config.max_keys - 1)
            state = entry[1] if entry is not None else self._new_state(now)
            if isinstance(state, _Bucket):
                result = self._take_token(state, now)
            else:
                result = self._take_slot(state, now)
            self._states[key] = (now, state)
            return result

    def _new_state(self, now: float) -> _Bucket | _Window:
        if self.config.algorithm == "token-bucket":
            return _Bucket(tokens=float(self.config.max_requests), last=now)
        return _Window()

    def _take_token(self, b: _Bucket, now: float) -> RateLimitResult:
        cap, rate = self.config.max_requests, self.config.rate
        b.tokens = min(float(cap), b.tokens + max(0.0, now - b.last) * rate)
        b.last = now
        allowed = b.tokens >= 1.0
        if allowed:
            b.tokens -= 1.0
        retry = 0.0 if allowed else (1.0 - b.tokens) / rate
        return RateLimitResult(allowed, cap, int(b.tokens), (cap - b.tokens) / rate, retry)

    def _take_slot(self, w: _Window, now: float) -> RateLimitResult:
        cap, window = self.config.max_requests, self.config.window
        stamps = w.stamps
        while stamps and now - stamps[0] >= window:
            stamps.popleft()
        allowed = len(stamps) < cap
        if allowed:
            stamps.append(now)
        retry = 0.0 if allowed else max(0.0, stamps[0] + window - now)
        reset = max(0.0, stamps[-1] + window - now) if stamps else 0.0
        return RateLimitResult(allowed, cap, cap - len(stamps), reset, retry)

    def _evict(self, now: float, keep: int) -> None:
        """Drop idle keys, then least recently used ones until at most `keep` remain."""
        ttl = self.config.idle_ttl
        while self._states:
            key, (seen, _state) = next(iter(self._states.items()))
            if now - seen < ttl and len(self._states) <= keep:
                break
            del self._states[key]

    def reset(self, key: str | None = None) -> None:
        """Forget one key's state (or every key's)."""
        with self._lock:
            if key is None:
                self._states.clear()
            else:
                self._states.pop(key, None)

    def active_keys(self) -> int:
        """Number of keys currently holding state (after dropping idle ones)."""
        with self._lock:
            self._evict(self.clock.now(), keep=self.config.max_keys)
            return len(self._states)

    def middleware(self, app: Any, path: str = "/", *, key_func: KeyFunc | None = None) -> Any:
        """`app` with requests under `path` limited by this limiter (429 + Retry-After when over).

        The seed's `app.use('/api/payment', limiter.middleware())` in one line either way:
        `app = limiter.middleware(app, "/api/payment")` for any ASGI app, or, for Starlette,
        `app.add_middleware(limiter.middleware, path="/api/payment")`.
        """
        from reference_impl.rate_limit_middleware import RateLimitMiddleware

        manager = RateLimiterManager(clock=self.clock)
        manager.add(path, self, [path])
        return RateLimitMiddleware(app, manager, key_func=key_func or self.key_func)


class RateLimiterManager:
    """Named limiters (one per endpoint) plus path-prefix routing and an optional default limiter."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, default: RateLimiterConfig | None = None) -> None:
        self.clock = clock
        self._limiters: dict[str, RateLimiter] = {}
        self._prefixes: list[tuple[str, str]] = []
        self.default_endpoint = "default" if default is not None else None
        if default is not None:
            self.add("default", default)

    def add(self, endpoint: str, config: RateLimiterConfig | Mapping[str, Any] | RateLimiter,
            prefixes: Iterable[str] = ()) -> RateLimiter:
        """Register `endpoint` with its own limiter (built from `config`, or the given one); requests
        under any of `prefixes` map to it."""
        if not endpoint or endpoint in self._limiters:
            raise ConfigurationError(f"endpoint name must be new and non-empty, got {endpoint!r}")
        new_prefixes = [(p, endpoint) for p in prefixes]
        for prefix, _ in new_prefixes:
            if not prefix.startswith("/"):
                raise ConfigurationError(f"path prefix must start with '/', got {prefix!r}")
        limiter = config if isinstance(config, RateLimiter) else RateLimiter(config, clock=self.clock)
        self._limiters[endpoint] = limiter
        self._prefixes = sorted(self._prefixes + new_prefixes, key=lambda item: -len(item[0]))
        return limiter

    def get(self, endpoint: str) -> RateLimiter:
        try:
            return self._limiters[endpoint]
        except KeyError:
            raise ConfigurationError(f"no rate limiter for endpoint {endpoint!r}; known: "
                                     f"{', '.join(sorted(self._limiters))}") from None

    def resolve(self, path: str) -> str | None:
        """The endpoint whose longest prefix matches `path`, else the default endpoint (or None)."""
        for prefix, endpoint in self._prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return endpoint
        return self.default_endpoint

    def check_limit(self, endpoint: str, key: str) -> RateLimitResult:
        return self.get(endpoint).check_limit(key)

    def endpoints(self) -> dict[str, RateLimiterConfig]:
        return {name: limiter.config for name, limiter in self._limiters.items()}

    @classmethod
    def from_security_config(cls, security: Any, routes: Mapping[str, Iterable[str]],
                             clock: Clock = SYSTEM_CLOCK) -> RateLimiterManager:
        """Build from `ConfigManager.get_security()`: `routes` maps endpoint names to path prefixes.

        Each endpoint uses its configured preset or rule (`security.rateLimit.endpoints`), else the
        section's default limit; the `default` endpoint (if configured) covers unmatched paths.
        """
        from reference_impl.config_manager import rate_limiter_config

        has_default = "default" in security.rate_limit.endpoints
        manager = cls(clock=clock, default=rate_limiter_config(security, "default") if has_default else None)
        for endpoint, prefixes in routes.items():
            if endpoint != "default":
                manager.add(endpoint, rate_limiter_config(security, endpoint), prefixes)
        return manager


def __getattr__(name: str) -> Any:
    """`RateLimitMiddleware` is importable from here too (it lives in `rate_limit_middleware`)."""
    if name == "RateLimitMiddleware":
        from reference_impl.rate_limit_middleware import RateLimitMiddleware

        return RateLimitMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
