"""Deliberately broken limiters and collectors: the P30/P34 property tests must catch every one.

Each mutant changes one decision of the real class and nothing else, the way a plausible bug would.
"""

from __future__ import annotations

from reference_impl.histogram import LogHistogram
from reference_impl.metrics_collector import MetricsCollector
from reference_impl.rate_limiter import RateLimiter, RateLimitResult, _Bucket, _Window


class DoubleRefillBucket(RateLimiter):
    """Token bucket that refills at twice the configured rate (a rate computed per half-window)."""

    def _take_token(self, b: _Bucket, now: float) -> RateLimitResult:
        cap, rate = self.config.max_requests, 2 * self.config.rate
        b.tokens = min(float(cap), b.tokens + max(0.0, now - b.last) * rate)
        b.last = now
        allowed = b.tokens >= 1.0
        if allowed:
            b.tokens -= 1.0
        return RateLimitResult(allowed, cap, int(b.tokens), 0.0, 0.0)


class UncappedBucket(RateLimiter):
    """Token bucket that forgets to cap refills at capacity, so idle time buys an unbounded burst."""

    def _take_token(self, b: _Bucket, now: float) -> RateLimitResult:
        cap, rate = self.config.max_requests, self.config.rate
        b.tokens = b.tokens + max(0.0, now - b.last) * rate
        b.last = now
        allowed = b.tokens >= 1.0
        if allowed:
            b.tokens -= 1.0
        return RateLimitResult(allowed, cap, int(b.tokens), 0.0, 0.0)


class OffByOneWindow(RateLimiter):
    """Sliding window that admits while `count <= max_requests` (one request too many per window)."""

    def _take_slot(self, w: _Window, now: float) -> RateLimitResult:
        cap, window = self.config.max_requests, self.config.window
        while w.stamps and now - w.stamps[0] >= window:
            w.stamps.popleft()
        allowed = len(w.stamps) <= cap
        if allowed:
            w.stamps.append(now)
        return RateLimitResult(allowed, cap, cap - len(w.stamps), 0.0, 0.0)


class FixedWindow(RateLimiter):
    """'Sliding' window that forgets everything at each multiple of `window` (a fixed window):
    bursts on both sides of a boundary admit up to twice the limit within one window length."""

    def _take_slot(self, w: _Window, now: float) -> RateLimitResult:
        cap, window = self.config.max_requests, self.config.window
        start = (now // window) * window
        while w.stamps and w.stamps[0] < start:
            w.stamps.popleft()
        allowed = len(w.stamps) < cap
        if allowed:
            w.stamps.append(now)
        return RateLimitResult(allowed, cap, cap - len(w.stamps), 0.0, 0.0)


class AlertAtOrAbove(MetricsCollector):
    """Alerts at `value >= threshold` instead of strictly above it."""

    def _should_alert(self, name: str, value_ms: float, threshold_ms: float) -> bool:
        return value_ms >= threshold_ms


class ThresholdTimesTen(MetricsCollector):
    """Compares against ten times the threshold (a seconds/ms-style unit slip)."""

    def _should_alert(self, name: str, value_ms: float, threshold_ms: float) -> bool:
        return value_ms > threshold_ms * 10


class AlertOncePerMetric(MetricsCollector):
    """Deduplicates alerts: only the first breach of each metric alerts."""

    def _should_alert(self, name: str, value_ms: float, threshold_ms: float) -> bool:
        if value_ms <= threshold_ms or name in self.alert_counts:
            return False
        return True


class UpperBoundHistogram(LogHistogram):
    """Reports each bucket's upper bound instead of its midpoint: error up to 2x the stated bound."""

    def _value_of(self, index: int) -> float:
        return float(self._gamma**index)
