"""MetricsCollector: per-metric latency statistics in bounded memory, threshold alerts, exports.

Values are milliseconds. `get_stats` comes from a LogHistogram (1% relative error on percentiles;
count, min, max and avg are exact). An alert fires for a recorded value iff it is strictly greater
than its metric's threshold: exactly one `Alert` per breaching sample, matching it (property 30).
Alert callbacks and listeners that raise are logged and never break `record`.

The seed's forms work too: `MetricsCollector({"settlementFinality": 5000}, lambda metric, value,
threshold: ...)` (thresholds keyed as the seed and the config files key them, a three-argument alert
callback), `record_settlement_finality(ms, tx_id)`, `summary.settlement_finality` and a free-standing
`Timer()` with `elapsed()` in ms.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.config_schema import THRESHOLD_METRICS
from reference_impl.errors import ApiUsageError, ConfigurationError
from reference_impl.histogram import InvalidSampleError, LogHistogram

log = logging.getLogger(__name__)

SETTLEMENT_FINALITY = "settlement.finality"
CHANNEL_LATENCY = "channel.latency"
X402_HANDSHAKE = "x402.handshake"
AGENT_DECISION = "agent.decision"
CONTRACT_EXECUTION = "contract.execution"
# The seed's performance targets (p95, ms); config monitoring.thresholds overrides them.
DEFAULT_THRESHOLDS = {
    SETTLEMENT_FINALITY: 5000.0, CHANNEL_LATENCY: 100.0, X402_HANDSHAKE: 500.0,
    AGENT_DECISION: 1000.0, CONTRACT_EXECUTION: 3000.0,
}
SUMMARY_QUANTILES = (0.5, 0.95, 0.99)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Statistics of one metric in ms: count/min/max/avg exact, percentiles within the histogram bound."""

    count: int
    min: float
    max: float
    avg: float
    p50: float
    p95: float
    p99: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Alert:
    """A recorded value above its threshold; `time` is wall-clock seconds from the collector's clock."""

    metric: str
    value: float
    threshold: float
    time: float
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetSummary:
    """One tracked metric against its threshold; the target is met when p95 <= threshold."""

    metric: str
    threshold_ms: float
    stats: MetricStats | None
    meets_target: bool | None  # None when there are no samples

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "threshold_ms": self.threshold_ms,
                "stats": self.stats.to_dict() if self.stats else None, "meets_target": self.meets_target}


class PerformanceSummary(dict[str, TargetSummary]):
    """`get_performance_summary()`: keyed by metric name, also readable as the seed reads it,
    `summary["settlementFinality"]` or `summary.settlement_finality`."""

    def __missing__(self, key: str) -> TargetSummary:
        metric = THRESHOLD_METRICS.get(key)
        if metric is None or metric not in self:
            raise KeyError(key)
        return self[metric]

    def __getattr__(self, name: str) -> TargetSummary:
        metric = name.replace("_", ".", 1)
        if metric in THRESHOLD_METRICS.values() and metric in self:
            return self[metric]
        raise AttributeError(f"no tracked metric {name!r} in this summary (keys: {', '.join(self)})")


Tags = Mapping[str, str]
AlertCallback = Callable[[Alert], None]
SeedAlertCallback = Callable[[str, float, float], None]
Listener = Callable[[str, float, Mapping[str, str]], None]
CALLBACK_FORMS = "an alert callback takes one Alert, or the seed's three arguments (metric, value, threshold)"
COLLECTOR_FORMS = ("write MetricsCollector(clock=..., thresholds={'settlement.finality': 5000}, "
                   "alert_callback=...) or the seed's MetricsCollector({'settlementFinality': 5000}, "
                   "lambda metric, value, threshold: ...)")


def _accepts(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*range(count))
        return True
    except TypeError:
        return False


def as_alert_callback(callback: Any) -> AlertCallback:
    """`callback` when it takes one `Alert`, else an adapter for the seed's (metric, value, threshold)."""
    if not callable(callback):
        raise ApiUsageError(f"{CALLBACK_FORMS}; got {type(callback).__name__}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # some builtins have none: call them the Python way
        return callback
    if _accepts(signature, 1):
        return callback
    if _accepts(signature, 3):
        return lambda alert: callback(alert.metric, alert.value, alert.threshold)
    raise ApiUsageError(f"{CALLBACK_FORMS}; {getattr(callback, '__name__', callback)!r} takes neither")


def _threshold_name(key: Any) -> str:
    """The metric a thresholds key names: a metric name, or a seed key (`settlementFinality`)."""
    if isinstance(key, str) and key in THRESHOLD_METRICS:
        return THRESHOLD_METRICS[key]
    if isinstance(key, str) and "." not in key:
        near = difflib.get_close_matches(key, [*THRESHOLD_METRICS, *THRESHOLD_METRICS.values()], 1, 0.8)
        if near:
            raise ConfigurationError(
                f"thresholds key {key!r} is not a tracked metric; did you mean {near[0]!r}?"
            )
    return _check_name(key)


def _tags(tags: Any, id_tag: str) -> Mapping[str, str] | None:
    """Tags of a specialised recorder: a mapping, or the seed's id string (tagged `id_tag`)."""
    if tags is None or isinstance(tags, Mapping):
        return tags
    if isinstance(tags, str):
        return {id_tag: tags}
    raise ApiUsageError(f"tags must be a mapping or an id string ({id_tag}), got {type(tags).__name__}")


class MetricsCollector:
    """Records named latency samples; thresholds (ms) raise alerts through callbacks."""

    def __init__(self, clock: Clock | Mapping[str, float] = SYSTEM_CLOCK,
                 thresholds: Mapping[str, float] | AlertCallback | SeedAlertCallback | None = None,
                 alert_callback: AlertCallback | SeedAlertCallback | None = None,
                 relative_error: float = 0.01, alert_history: int = 1000) -> None:
        if isinstance(clock, Mapping):  # the seed's MetricsCollector(thresholds, alertCallback)
            if (thresholds is not None and not callable(thresholds)) or alert_callback is not None:
                raise ApiUsageError(f"thresholds first, then more than an alert callback: {COLLECTOR_FORMS}")
            alert_callback, thresholds, clock = thresholds, clock, SYSTEM_CLOCK
        if not callable(getattr(clock, "now", None)):
            raise ApiUsageError(f"clock must be a Clock, got {type(clock).__name__}: {COLLECTOR_FORMS}")
        if thresholds is not None and not isinstance(thresholds, Mapping):
            raise ApiUsageError(
                f"thresholds must be a mapping, got {type(thresholds).__name__}: {COLLECTOR_FORMS}"
            )
        self.clock = clock
        self.relative_error = relative_error
        self._thresholds: dict[str, float] = {}
        for name, ms in (DEFAULT_THRESHOLDS if thresholds is None else thresholds).items():
            self._thresholds[_threshold_name(name)] = _check_threshold(name, ms)
        self._histograms: dict[str, LogHistogram] = {}
        self._alert_callbacks: list[AlertCallback] = []
        if alert_callback is not None:
            self._alert_callbacks.append(as_alert_callback(alert_callback))
        self._listeners: list[Listener] = []
        self.alerts: deque[Alert] = deque(maxlen=alert_history)
        self.alert_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        LogHistogram(relative_error)  # validates relative_error now rather than at the first record

    # -- configuration ------------------------------------------------------------------------
    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self._thresholds)

    def set_threshold(self, name: str, threshold_ms: float | None) -> None:
        """Set (or with None remove) the alert threshold of `name`, in ms."""
        _check_name(name)
        with self._lock:
            if threshold_ms is None:
                self._thresholds.pop(name, None)
            else:
                self._thresholds[name] = _check_threshold(name, threshold_ms)

    def on_alert(self, callback: AlertCallback | SeedAlertCallback) -> None:
        """Call `callback(alert)` (or a seed-style `callback(metric, value, threshold)`) for every alert."""
        self._alert_callbacks.append(as_alert_callback(callback))

    def add_listener(self, listener: Listener) -> None:
        """`listener(name, value_ms, tags)` is called after every recorded sample."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # -- recording ----------------------------------------------------------------------------
    def record(self, name: str, value_ms: float, tags: Mapping[str, str] | None = None) -> Alert | None:
        """Record one sample; returns the Alert it raised, if any. Bad input raises and records nothing.

        Fast path: a name that already has a histogram was validated when it got it, a plain finite
        float needs no further checks, and the tags are copied only when there are some.
        """
        if type(name) is not str or name not in self._histograms:
            _check_name(name)
        if type(value_ms) is not float or not 0.0 <= value_ms < math.inf:
            value_ms = _check_value(name, value_ms)
        tag_map = dict(tags) if tags else None  # the copy listeners and the alert share
        alert = None
        with self._lock:
            hist = self._histograms.get(name)
            if hist is None:
                hist = self._histograms[name] = LogHistogram(self.relative_error)
            hist.record(value_ms)
            threshold = self._thresholds.get(name)
            if threshold is not None and self._should_alert(name, value_ms, threshold):
                if tag_map is None:
                    tag_map = {}
                alert = Alert(name, value_ms, threshold, self.clock.time(), tag_map)
                self.alerts.append(alert)
                self.alert_counts[name] = self.alert_counts.get(name, 0) + 1
        if self._listeners:
            if tag_map is None:
                tag_map = {}
            for listener in list(self._listeners):
                _safe_call(listener, name, value_ms, tag_map)
        if alert is not None:
            for callback in list(self._alert_callbacks):
                _safe_call(callback, alert)
        return alert

    def _should_alert(self, name: str, value_ms: float, threshold_ms: float) -> bool:
        """The alert rule: strictly above the threshold."""
        return value_ms > threshold_ms

    # Specialised recorders take tags or the seed's id: record_settlement_finality(3200, tx_id).
    def record_settlement_finality(self, ms: float, tags: Tags | str | None = None) -> Alert | None:
        return self.record(SETTLEMENT_FINALITY, ms, _tags(tags, "tx_id"))

    def record_channel_latency(self, ms: float, tags: Tags | str | None = None) -> Alert | None:
        return self.record(CHANNEL_LATENCY, ms, _tags(tags, "channel_id"))

    def record_x402_handshake(self, ms: float, tags: Tags | str | None = None) -> Alert | None:
        return self.record(X402_HANDSHAKE, ms, _tags(tags, "request_id"))

    def record_agent_decision(self, ms: float, tags: Tags | str | None = None) -> Alert | None:
        return self.record(AGENT_DECISION, ms, _tags(tags, "agent_id"))

    def record_contract_execution(self, ms: float, tags: Tags | str | None = None) -> Alert | None:
        return self.record(CONTRACT_EXECUTION, ms, _tags(tags, "contract_id"))

    def timer(self, name: str, tags: Mapping[str, str] | None = None) -> Timer:
        return Timer(self, name, tags)

    def timed(self, name: str, tags: Mapping[str, str] | None = None) -> Callable[[F], F]:
        return timed(name, self, tags)

    # -- reading ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._histograms)

    def histogram(self, name: str) -> LogHistogram | None:
        """A copy of the metric's histogram (for merging across processes), or None."""
        with self._lock:
            hist = self._histograms.get(name)
            return LogHistogram.from_dict(hist.to_dict()) if hist is not None else None

    def get_stats(self, name: str) -> MetricStats | None:
        """Statistics of `name`, or None when it has no samples."""
        with self._lock:
            hist = self._histograms.get(name)
            if hist is None or hist.count == 0:
                return None
            p50, p95, p99 = (hist.quantile(q) for q in SUMMARY_QUANTILES)
            return MetricStats(hist.count, hist.min, hist.max, hist.mean, p50, p95, p99)

    def get_performance_summary(self) -> PerformanceSummary:
        """Every metric with a threshold: stats, threshold and whether p95 meets it."""
        out = PerformanceSummary()
        for name, threshold in sorted(self.thresholds.items()):
            stats = self.get_stats(name)
            out[name] = TargetSummary(name, threshold, stats, None if stats is None else stats.p95 <= threshold)
        return out

    def reset(self) -> None:
        """Drop every sample and alert (thresholds, callbacks and listeners stay)."""
        with self._lock:
            self._histograms.clear()
            self.alerts.clear()
            self.alert_counts.clear()

    # -- export -------------------------------------------------------------------------------
    def export_json(self, include_histograms: bool = False) -> str:
        """JSON: per-metric stats (and histograms if asked), thresholds, alert counts, the summary."""
        metrics: dict[str, Any] = {}
        for name in self.names():
            stats = self.get_stats(name)
            entry: dict[str, Any] = {"stats": stats.to_dict() if stats else None}
            hist = self.histogram(name)
            if include_histograms and hist is not None:
                entry["histogram"] = hist.to_dict()
            metrics[name] = entry
        with self._lock:
            counts = dict(self.alert_counts)
        return json.dumps({
            "relative_error": self.relative_error, "metrics": metrics, "thresholds": self.thresholds,
            "alert_counts": counts,
            "performance": {n: s.to_dict() for n, s in self.get_performance_summary().items()},
        }, sort_keys=True)

    def export_prometheus(self, namespace: str = "srh") -> str:
        """Prometheus text format: a summary per metric (`<ns>_<metric>_ms`), thresholds and alert counters."""
        lines: list[str] = []
        for name in self.names():
            hist = self.histogram(name)
            if hist is None:
                continue
            metric = f"{namespace}_{_prom_name(name)}_ms"
            lines += [f"# HELP {metric} {name} in milliseconds (quantiles within {self.relative_error:.0%})",
                      f"# TYPE {metric} summary"]
            lines += [f'{metric}{{quantile="{q}"}} {_num(hist.quantile(q))}' for q in SUMMARY_QUANTILES]
            lines += [f"{metric}_sum {_num(hist.total)}", f"{metric}_count {hist.count}"]
        thresholds = self.thresholds
        if thresholds:
            lines += [f"# HELP {namespace}_threshold_ms alert threshold per metric in milliseconds",
                      f"# TYPE {namespace}_threshold_ms gauge"]
            lines += [f'{namespace}_threshold_ms{{metric="{_label(n)}"}} {_num(v)}' for n, v in sorted(thresholds.items())]
        with self._lock:
            counts = dict(self.alert_counts)
        lines += [f"# HELP {namespace}_alerts_total alerts raised per metric",
                  f"# TYPE {namespace}_alerts_total counter"]
        lines += [f'{namespace}_alerts_total{{metric="{_label(n)}"}} {c}' for n, c in sorted(counts.items())]
        return "\n".join(lines) + "\n"


class Timer:
    """A stopwatch in ms that can record what it measured.

    `Timer(collector, name, tags)` times a block (`with` or `async with`) on the collector's clock and
    records it on exit; `Timer()` (the seed's form, optionally `clock=`) starts at once, and
    `elapsed()` gives the milliseconds so far: `metrics.record_settlement_finality(timer.elapsed(), tx_id)`.
    """

    def __init__(self, collector: MetricsCollector | None = None, name: str | None = None,
                 tags: Mapping[str, str] | None = None, *, clock: Clock | None = None) -> None:
        if isinstance(collector, str) or (collector is None) != (name is None):
            raise ApiUsageError("write Timer(collector, name) (or collector.timer(name)) to record a metric, "
                                "or Timer() for a stopwatch")
        self.collector = collector
        self.name = None if name is None else _check_name(name)
        self.tags = dict(tags or {})
        self.clock = collector.clock if collector is not None else clock or SYSTEM_CLOCK
        self.elapsed_ms: float | None = None
        self._start = self.clock.now()

    def elapsed(self) -> float:
        """Milliseconds since the start (the final figure once a `with` block has ended)."""
        if self.elapsed_ms is not None:
            return self.elapsed_ms
        return max(0.0, (self.clock.now() - self._start) * 1000)

    def __enter__(self) -> Timer:
        self._start, self.elapsed_ms = self.clock.now(), None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.elapsed_ms = self.elapsed()
        if self.collector is not None and self.name is not None:
            tags = self.tags if exc_type is None else {**self.tags, "error": exc_type.__name__}
            self.collector.record(self.name, self.elapsed_ms, tags)

    async def __aenter__(self) -> Timer:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def timed(name: str, collector: MetricsCollector, tags: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Decorator recording each call's duration (sync or async functions) as metric `name`."""
    _check_name(name)

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with Timer(collector, name, tags):
                    return await fn(*args, **kwargs)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Timer(collector, name, tags):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]

    return decorate


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(f"metric name must match {_NAME.pattern}, got {name!r}")
    return name


def _check_value(name: str, value_ms: Any) -> float:
    if isinstance(value_ms, bool) or not isinstance(value_ms, int | float) or not math.isfinite(value_ms) \
            or value_ms < 0:
        raise InvalidSampleError(f"{name}: value_ms must be a finite number >= 0, got {value_ms!r}")
    return float(value_ms)


def _check_threshold(name: str, ms: Any) -> float:
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms) or ms < 0:
        raise ConfigurationError(f"threshold of {name!r} must be a finite number of ms >= 0, got {ms!r}")
    return float(ms)


def _prom_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def _safe_call(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("metrics callback %r failed", fn)
