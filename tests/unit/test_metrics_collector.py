"""MetricsCollector: stats, thresholds, summary, exports, Timer/timed, listeners, bad input."""

from __future__ import annotations

import asyncio
import json
import random
import threading

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reference_impl.clock import ManualClock
from reference_impl.errors import ConfigurationError
from reference_impl.histogram import InvalidSampleError, LogHistogram
from reference_impl.metrics_collector import DEFAULT_THRESHOLDS, Alert, MetricsCollector, Timer, timed


def collector(**kw: object) -> MetricsCollector:
    return MetricsCollector(clock=ManualClock(), **kw)  # type: ignore[arg-type]


def test_stats_exact_moments_and_percentiles_within_one_percent() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(1 / 40) for _ in range(5000)]
    m = collector()
    for v in values:
        m.record("channel.latency", v)
    stats = m.get_stats("channel.latency")
    assert stats is not None
    assert (stats.count, stats.min, stats.max) == (5000, min(values), max(values))
    assert stats.avg == pytest.approx(sum(values) / len(values))
    for p, got in ((50, stats.p50), (95, stats.p95), (99, stats.p99)):
        assert got == pytest.approx(float(np.percentile(values, p)), rel=0.01)
    assert m.get_stats("never.recorded") is None


def test_default_thresholds_and_specialised_recorders() -> None:
    fired: list[Alert] = []
    m = collector(alert_callback=fired.append)
    assert m.thresholds == DEFAULT_THRESHOLDS
    m.record_settlement_finality(5000)
    m.record_channel_latency(100.5, {"channel": "c1"})
    m.record_x402_handshake(499)
    m.record_agent_decision(1000.01)
    m.record_contract_execution(3001)
    assert [(a.metric, a.value, a.threshold) for a in fired] == [
        ("channel.latency", 100.5, 100.0), ("agent.decision", 1000.01, 1000.0),
        ("contract.execution", 3001.0, 3000.0)]
    assert fired[0].tags == {"channel": "c1"} and fired[0].time == ManualClock().time()
    assert m.names() == sorted(DEFAULT_THRESHOLDS)
    assert list(m.alerts) == fired


def test_thresholds_can_be_changed_and_are_validated() -> None:
    m = collector(thresholds={"x402.handshake": 500})
    m.set_threshold("custom.op", 10)
    assert m.record("custom.op", 11) is not None
    m.set_threshold("custom.op", None)
    assert m.record("custom.op", 11) is None
    for bad in (-1, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ConfigurationError):
            m.set_threshold("x402.handshake", bad)  # type: ignore[arg-type]
    assert m.thresholds == {"x402.handshake": 500.0}
    with pytest.raises(ConfigurationError):
        MetricsCollector(thresholds={"a": -5})


@pytest.mark.parametrize(("name", "value"), [
    ("channel.latency", -1), ("channel.latency", float("nan")), ("channel.latency", float("inf")),
    ("channel.latency", "12"), ("channel.latency", None), ("", 1.0), ("bad name\n", 1.0), (None, 1.0),
])
def test_bad_samples_raise_and_record_nothing(name: object, value: object) -> None:
    fired: list[Alert] = []
    m = collector(alert_callback=fired.append)
    m.record("channel.latency", 50)
    with pytest.raises((InvalidSampleError, ConfigurationError)):
        m.record(name, value)  # type: ignore[arg-type]
    stats = m.get_stats("channel.latency")
    assert stats is not None and stats.count == 1 and fired == [] and m.names() == ["channel.latency"]


def test_performance_summary_meets_target_at_p95() -> None:
    m = collector()
    for _ in range(96):
        m.record_channel_latency(50)
    for _ in range(4):
        m.record_channel_latency(150)  # p95 still 50 ms
    for _ in range(10):
        m.record_x402_handshake(900)
    summary = m.get_performance_summary()
    assert set(summary) == set(DEFAULT_THRESHOLDS)
    assert summary["channel.latency"].meets_target is True
    assert summary["x402.handshake"].meets_target is False
    assert summary["settlement.finality"].meets_target is None and summary["settlement.finality"].stats is None
    assert summary["channel.latency"].to_dict()["threshold_ms"] == 100.0


def test_export_json_with_mergeable_histograms() -> None:
    m = collector()
    for v in (10, 20, 30, 400):
        m.record_x402_handshake(v)
    data = json.loads(m.export_json(include_histograms=True))
    assert data["metrics"]["x402.handshake"]["stats"]["count"] == 4
    assert data["alert_counts"] == {} and data["thresholds"]["x402.handshake"] == 500.0
    hist = LogHistogram.from_dict(data["metrics"]["x402.handshake"]["histogram"])
    assert hist.count == 4 and hist.max == 400
    assert "histogram" not in json.loads(m.export_json())["metrics"]["x402.handshake"]
    assert data["performance"]["x402.handshake"]["meets_target"] is True


def test_export_prometheus_parses_as_summaries() -> None:
    m = collector()
    for v in range(1, 101):
        m.record_channel_latency(float(v))
    families = {f.name: f for f in text_string_to_metric_families(m.export_prometheus())}
    summary = families["srh_channel_latency_ms"]
    assert summary.type == "summary"
    samples = {(s.name, s.labels.get("quantile")): s.value for s in summary.samples}
    assert samples[("srh_channel_latency_ms_count", None)] == 100
    assert samples[("srh_channel_latency_ms_sum", None)] == 5050
    assert samples[("srh_channel_latency_ms", "0.95")] == pytest.approx(np.percentile(range(1, 101), 95), rel=0.01)
    alerts = {s.labels["metric"]: s.value for s in families["srh_alerts"].samples}
    assert alerts == {}  # no value above 100 ms yet
    thresholds = {s.labels["metric"]: s.value for s in families["srh_threshold_ms"].samples}
    assert thresholds == DEFAULT_THRESHOLDS
    m.record_channel_latency(250)
    families = {f.name: f for f in text_string_to_metric_families(m.export_prometheus())}
    assert {s.labels["metric"]: s.value for s in families["srh_alerts"].samples} == {"channel.latency": 1}


def test_timer_sync_async_and_decorator_use_the_clock() -> None:
    clock = ManualClock()
    m = MetricsCollector(clock=clock, thresholds={})
    with Timer(m, "agent.decision", {"kind": "sync"}) as t:
        clock.advance(0.25)
    assert t.elapsed_ms == pytest.approx(250)
    with pytest.raises(ValueError), m.timer("agent.decision"):
        clock.advance(0.1)
        raise ValueError("boom")

    @m.timed("contract.execution")
    def work(x: int) -> int:
        clock.advance(0.5)
        return x * 2

    @timed("contract.execution", m)
    async def awork(x: int) -> int:
        await clock.sleep_async(1.5)
        return x + 1

    async def with_async_timer() -> None:
        async with m.timer("x402.handshake"):
            await clock.sleep_async(0.03)

    assert work(4) == 8 and work.__name__ == "work"
    assert asyncio.run(awork(1)) == 2 and awork.__name__ == "awork"
    asyncio.run(with_async_timer())
    decision, contract, x402 = (m.get_stats(n) for n in ("agent.decision", "contract.execution", "x402.handshake"))
    assert decision is not None and (decision.count, decision.max) == (2, 250.0)
    assert decision.min == pytest.approx(100)
    assert contract is not None and (contract.min, contract.max) == (500.0, 1500.0)
    assert x402 is not None and x402.max == pytest.approx(30)


def test_timer_tags_failures_with_the_error_type() -> None:
    seen: list[tuple[str, float, dict[str, str]]] = []
    m = MetricsCollector(clock=ManualClock(), thresholds={})
    m.add_listener(lambda n, v, t: seen.append((n, v, dict(t))))
    with pytest.raises(KeyError), m.timer("agent.decision", {"route": "r"}):
        raise KeyError("x")
    assert seen == [("agent.decision", 0.0, {"route": "r", "error": "KeyError"})]


def test_listeners_failures_are_isolated_and_removable() -> None:
    seen: list[str] = []

    def broken(name: str, value: float, tags: object) -> None:
        raise RuntimeError("listener down")

    def good(name: str, value: float, tags: object) -> None:
        seen.append(name)

    m = collector()
    m.add_listener(broken)
    m.add_listener(good)
    m.record("a.b", 1)
    m.remove_listener(good)
    m.record("a.b", 2)
    assert seen == ["a.b"]
    stats = m.get_stats("a.b")
    assert stats is not None and stats.count == 2


def test_alert_history_is_bounded_and_reset_clears_samples() -> None:
    m = collector(thresholds={"x": 1}, alert_history=3)
    for v in range(2, 12):
        m.record("x", v)
    assert [a.value for a in m.alerts] == [9.0, 10.0, 11.0] and m.alert_counts == {"x": 10}
    m.reset()
    assert m.get_stats("x") is None and not m.alerts and m.alert_counts == {} and m.thresholds == {"x": 1.0}


def test_concurrent_recording_loses_nothing() -> None:
    m = collector(thresholds={"x": 50})

    def worker() -> None:
        for v in range(100):
            m.record("x", v)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    stats = m.get_stats("x")
    assert stats is not None and stats.count == 400 and m.alert_counts == {"x": 4 * 49}
