"""LogHistogram: a bounded-memory, mergeable, log-bucketed histogram with a stated relative error.

Bucket i holds values in (gamma**(i-1), gamma**i] with gamma = (1 + a) / (1 - a), and reports
2 * gamma**i / (gamma + 1) for them, which is within relative error `a` (default 1%) of every value
in the bucket. Percentiles follow numpy.percentile's default (linear interpolation between the two
order statistics around rank q * (n - 1)); each order statistic is estimated within `a`, so the
interpolated percentile is within relative error `a` of numpy's on the same samples (up to float
rounding, ~1e-12), for values in [min_value, max_value]. Zero is counted exactly; values below
`min_value` share the lowest bucket and values above `max_value` the highest (estimates are
clamped into the exact [min, max] seen, which never makes them worse; the 0th and 100th
percentiles are the exact min and max). Memory: at most
`bucket_limit` counters (1,268 for the defaults) however many samples are recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reference_impl.errors import ConfigurationError, ReferenceImplError


class InvalidSampleError(ReferenceImplError, ValueError):
    """A recorded value was negative, NaN, infinite or not a number."""


@dataclass(frozen=True, slots=True)
class _Layout:
    relative_error: float
    min_value: float
    max_value: float


class LogHistogram:
    """Histogram of non-negative values (e.g. latencies in ms); see the module docstring for bounds."""

    def __init__(self, relative_error: float = 0.01, min_value: float = 1e-3, max_value: float = 1e8) -> None:
        if not (isinstance(relative_error, float | int) and 0 < relative_error < 0.5):
            raise ConfigurationError(f"relative_error must be in (0, 0.5), got {relative_error!r}")
        if not (0 < min_value < max_value < math.inf):
            raise ConfigurationError(f"need 0 < min_value < max_value < inf, got {min_value!r}, {max_value!r}")
        self.layout = _Layout(float(relative_error), float(min_value), float(max_value))
        self._gamma = (1 + relative_error) / (1 - relative_error)
        self._log_gamma = math.log(self._gamma)
        self._low = self._index_of(min_value)
        self._high = self._index_of(max_value)
        self._counts: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def relative_error(self) -> float:
        return self.layout.relative_error

    @property
    def bucket_limit(self) -> int:
        """The most counters this histogram can ever hold."""
        return self._high - self._low + 1

    def _index_of(self, value: float) -> int:
        return math.ceil(math.log(value) / self._log_gamma)

    def _value_of(self, index: int) -> float:
        return 2 * self._gamma**index / (self._gamma + 1)

    def record(self, value: float, count: int = 1) -> None:
        """Add `count` occurrences of `value` (>= 0, finite)."""
        if not (type(value) is float and 0.0 <= value < math.inf and type(count) is int and count >= 1):
            _check_sample(value, count)  # the common case (a plain finite float, count 1) skips this
        if value == 0:
            self.zero_count += count
        else:
            index = self._index_of(value)
            if index < self._low:
                index = self._low
            elif index > self._high:
                index = self._high
            counts = self._counts
            counts[index] = counts.get(index, 0) + count
        self.count += count
        self.total += value * count
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def _order_statistics(self, ranks: list[int]) -> list[float]:
        """Estimates of the values at 0-based sorted positions `ranks` (ascending)."""
        out: list[float] = []
        pending = iter(ranks)
        target = next(pending, None)
        seen = self.zero_count
        while target is not None and target < seen:
            out.append(0.0)
            target = next(pending, None)
        for index in sorted(self._counts):
            seen += self._counts[index]
            while target is not None and target < seen:
                out.append(min(self.max, max(self.min, self._value_of(index))))
                target = next(pending, None)
            if target is None:
                break
        return out

    def quantile(self, q: float) -> float:
        """The q-quantile (0 <= q <= 1), numpy-linear style; NaN when empty."""
        if not (isinstance(q, float | int) and 0 <= q <= 1):
            raise ConfigurationError(f"quantile must be in [0, 1], got {q!r}")
        if self.count == 0:
            return math.nan
        h = (self.count - 1) * q
        k = math.floor(h)
        ranks = [k, min(k + 1, self.count - 1)]
        below, above = (self.min if r == 0 else self.max if r == self.count - 1 else v
                        for r, v in zip(ranks, self._order_statistics(ranks), strict=True))
        return below + (h - k) * (above - below)

    def percentile(self, p: float) -> float:
        """The p-th percentile (0 <= p <= 100)."""
        if not (isinstance(p, float | int) and 0 <= p <= 100):
            raise ConfigurationError(f"percentile must be in [0, 100], got {p!r}")
        return self.quantile(p / 100)

    def merge(self, other: LogHistogram) -> None:
        """Add every sample of `other` (same layout required) into this histogram."""
        if not isinstance(other, LogHistogram) or other.layout != self.layout:
            raise ConfigurationError("can only merge histograms with the same relative_error and value range")
        for index, n in other._counts.items():
            self._counts[index] = self._counts.get(index, 0) + n
        self.zero_count += other.zero_count
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; `from_dict` restores an equal histogram (for shipping between processes)."""
        return {
            "relative_error": self.layout.relative_error, "min_value": self.layout.min_value,
            "max_value": self.layout.max_value, "zero_count": self.zero_count, "count": self.count,
            "total": self.total, "min": self.min if self.count else None, "max": self.max if self.count else None,
            "buckets": {str(i): n for i, n in sorted(self._counts.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogHistogram:
        try:
            hist = cls(data["relative_error"], data["min_value"], data["max_value"])
            hist._counts = {int(i): int(n) for i, n in data["buckets"].items()}
            hist.zero_count, hist.count, hist.total = int(data["zero_count"]), int(data["count"]), float(data["total"])
            if hist.count:
                hist.min, hist.max = float(data["min"]), float(data["max"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"not a serialised LogHistogram: {exc}") from None
        if sum(hist._counts.values()) + hist.zero_count != hist.count or any(
                n < 1 or not hist._low <= i <= hist._high for i, n in hist._counts.items()):
            raise ConfigurationError("not a serialised LogHistogram: bucket counts are inconsistent")
        return hist

    def __len__(self) -> int:
        return self.count


def _check_sample(value: Any, count: Any) -> None:
    """Raise `InvalidSampleError` unless `value` is a finite number >= 0 and `count` an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidSampleError(f"histogram values must be finite numbers >= 0, got {value!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidSampleError(f"count must be an integer >= 1, got {count!r}")
