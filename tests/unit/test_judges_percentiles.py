"""Percentile truth: the target's exported quantiles against its Server-Timing values, within the stated
bound; a collector that truncates samples (the `metrics-percentile-skewed` fault's part) fails it."""

from __future__ import annotations

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS
from harness.judges.percentiles import bracket, judge_percentiles, reported_summaries
from reference_impl.metrics_collector import MetricsCollector
from reference_impl.service.faults import TruncatingMetricsCollector
from tests.fixtures.synthetic import make_evidence, write_metrics_export


def test_a_truthful_export_passes_and_names_the_metrics_it_judged(tmp_path):
    evidence = make_evidence(seed=3)
    write_metrics_export(evidence, tmp_path)
    check = judge_percentiles(evidence.context(run_dir=tmp_path))
    assert check.verdict == VERDICT_PASS and check.figures["metrics_judged"] >= 5


def test_truncated_samples_skew_the_percentiles_beyond_the_bound(tmp_path):
    evidence = make_evidence(seed=3)
    write_metrics_export(evidence, tmp_path, TruncatingMetricsCollector)
    check = judge_percentiles(evidence.context(run_dir=tmp_path))
    assert check.verdict == VERDICT_FAIL and "channel.latency" in check.reason
    assert any(row["metric"] == "channel.latency" and not row["within_bound"] for row in check.evidence)


def test_a_target_that_counts_fewer_values_than_it_sent_fails_and_no_export_is_inconclusive(tmp_path):
    evidence = make_evidence(seed=3)
    assert judge_percentiles(evidence.context(run_dir=tmp_path)).verdict == VERDICT_INCONCLUSIVE
    text = write_metrics_export(evidence, tmp_path).read_text()
    count_line = next(line for line in text.splitlines() if line.startswith("srh_channel_latency_ms_count"))
    evidence.metrics_text = text.replace(count_line, "srh_channel_latency_ms_count 3")
    check = judge_percentiles(evidence.context(run_dir=tmp_path))
    assert check.verdict == VERDICT_FAIL and "counts 3 values" in check.reason


def test_the_bracket_widens_by_the_values_the_clients_never_saw():
    values = [float(v) for v in range(1, 101)]
    assert bracket(values, 0.5, 0, 0.01) == (50 * 0.99, 51 * 1.01)
    assert bracket(values, 0.5, 2, 0.01) == (48 * 0.99, 53 * 1.01)
    collector = MetricsCollector()
    for v in values:
        collector.record("channel.latency", v)
    summary = reported_summaries(collector.export_prometheus())["channel.latency"]
    assert summary["bound"] == 0.01 and summary["count"] == 100 and set(summary["quantiles"]) == {0.5, 0.95, 0.99}
