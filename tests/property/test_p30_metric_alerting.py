"""Property 30 (performance metric alerting), component level, virtual time.

For any stream of (metric, value, tags) samples and any thresholds: an alert fires iff the value is
strictly above its metric's threshold, exactly once per breaching sample, in order, and each alert
carries its sample's metric, value, threshold, tags and the clock time of the recording. The
property is also run against deliberately broken collectors, which it must reject.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from reference_impl.clock import ManualClock
from reference_impl.metrics_collector import Alert, MetricsCollector
from tests.property.mutants_limiter_metrics import AlertAtOrAbove, AlertOncePerMetric, ThresholdTimesTen

CollectorFactory = Callable[..., MetricsCollector]
METRICS = ["settlement.finality", "channel.latency", "x402.handshake", "agent.decision", "untracked.metric"]
FIND_ONLY = settings(phases=[Phase.generate])


class PropertyViolation(AssertionError):
    """The collector broke property 30."""


@st.composite
def streams(draw: st.DrawFn) -> tuple[dict[str, float], list[tuple[str, float, dict[str, str], float]]]:
    thresholds = draw(
        st.dictionaries(st.sampled_from(METRICS[:4]), st.floats(0, 10_000, allow_nan=False), min_size=1)
    )
    boundary = sorted(set(thresholds.values()))
    value = st.one_of(
        st.floats(0, 100_000, allow_nan=False),
        st.sampled_from(boundary),
        st.sampled_from(boundary).map(lambda t: t * 5),
    )
    sample = st.tuples(
        st.sampled_from(METRICS),
        value,
        st.dictionaries(st.sampled_from(["agent", "route"]), st.text("abc", max_size=3), max_size=2),
        st.floats(0, 10, allow_nan=False),
    )
    return thresholds, draw(st.lists(sample, max_size=60))


def check_alerting(factory: CollectorFactory) -> Callable[[], None]:
    @given(case=streams())
    def prop(case: tuple[dict[str, float], list[tuple[str, float, dict[str, str], float]]]) -> None:
        thresholds, stream = case
        clock = ManualClock()
        fired: list[Alert] = []
        collector = factory(clock=clock, thresholds=thresholds, alert_callback=fired.append)
        expected: list[Alert] = []
        for metric, value, tags, gap in stream:
            clock.advance(gap)
            returned = collector.record(metric, value, tags)
            threshold = thresholds.get(metric)
            alert = None
            if threshold is not None and value > threshold:
                alert = Alert(metric, value, threshold, clock.time(), tags)
                expected.append(alert)
            if returned != alert:
                raise PropertyViolation(f"record({metric}, {value}) returned {returned}, expected {alert}")
        if fired != expected:
            raise PropertyViolation(f"alerts {fired} != breaching samples {expected}")
        counts = {m: sum(1 for a in expected if a.metric == m) for m in {a.metric for a in expected}}
        if collector.alert_counts != counts:
            raise PropertyViolation(f"alert counts {collector.alert_counts} != {counts}")

    return prop


def test_alert_fires_iff_value_exceeds_threshold() -> None:
    check_alerting(MetricsCollector)()


@pytest.mark.parametrize("mutant", [AlertAtOrAbove, ThresholdTimesTen, AlertOncePerMetric])
def test_alerting_property_catches_mutant(mutant: CollectorFactory) -> None:
    with pytest.raises(PropertyViolation):
        FIND_ONLY(check_alerting(mutant))()


def test_failing_alert_callback_does_not_break_recording_or_other_callbacks() -> None:
    seen: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("sink down")

    collector = MetricsCollector(
        clock=ManualClock(), thresholds={"x402.handshake": 500}, alert_callback=broken
    )
    collector.on_alert(seen.append)
    alert = collector.record_x402_handshake(501)
    assert alert is not None and seen == [alert]
    stats = collector.get_stats("x402.handshake")
    assert stats is not None and stats.count == 1
