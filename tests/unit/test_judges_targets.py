"""Targets: exact windowed p95 with the sustained-breach rule; recovery time against the RTO."""

from __future__ import annotations

import random

import pytest

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, JudgeContext
from harness.judges.recovery import judge_recoveries
from harness.judges.targets import judge_target, longest_run, percentiles
from harness.outputs import RequestRecord

STEADY = [{"name": "steady", "start_s": 0.0, "end_s": 100.0, "steady": True}]


def channel_records(slow_windows: set[int], rng: random.Random, per_window: int = 20) -> list[RequestRecord]:
    """Channel samples around 20 ms; in `slow_windows` (10 s each) 40% of the samples take 150 ms."""
    out = []
    for w in range(10):
        for i in range(per_window):
            t = w * 10 + i * 10 / per_window
            lat = 150.0 + rng.random() if w in slow_windows and i % 5 < 2 else 20.0 + rng.random() * 5
            out.append(RequestRecord(t, t, "channel", "POST", "/c", 200, lat, lat + 1))
    return out


def ctx_for(records: list[RequestRecord], **params: object) -> JudgeContext:
    return JudgeContext.build(records, phases=STEADY, params={"window_s": 10.0, **params})


def test_percentiles_are_exact() -> None:
    pct = percentiles(list(range(1, 101)))
    assert pct["p50"] == pytest.approx(50.5) and pct["p95"] == pytest.approx(95.05)
    assert longest_run([True, False, True, True, False]) == 2


def test_one_breaching_window_is_tolerated_two_in_a_row_are_not() -> None:
    rng = random.Random(1)
    one = judge_target(ctx_for(channel_records({4}, rng)), "channel.latency")
    assert one.verdict == VERDICT_PASS and one.figures["longest_breach_run"] == 1
    assert sum(w["breach"] for w in one.figures["windows"]) == 1
    two = judge_target(ctx_for(channel_records({4, 5}, rng)), "channel.latency")
    assert two.verdict == VERDICT_FAIL and "sustained breach: 2 consecutive" in two.reason
    strict = judge_target(ctx_for(channel_records({4}, rng), max_consecutive_breaching_windows=0), "channel.latency")
    assert strict.verdict == VERDICT_FAIL


def test_pooled_p95_over_threshold_fails() -> None:
    rng = random.Random(2)
    check = judge_target(ctx_for(channel_records({0, 2, 4, 6, 8}, rng)), "channel.latency")
    assert check.verdict == VERDICT_FAIL and check.figures["p95_ms"] > 100
    assert check.figures["p50_ms"] < check.figures["p95_ms"] <= check.figures["p99_ms"]


def test_thin_data_is_inconclusive_and_errors_are_not_samples() -> None:
    rng = random.Random(3)
    records = channel_records(set(), rng, per_window=2)
    assert judge_target(ctx_for(records), "channel.latency").verdict == VERDICT_INCONCLUSIVE
    failed = [RequestRecord(r.intended_s, r.sent_s, r.endpoint, r.method, r.path, 500, 1.0, 1.0)
              for r in channel_records(set(), rng)]
    assert judge_target(ctx_for(failed), "channel.latency").figures["samples"] == 0


def test_fault_windows_are_excluded_from_targets() -> None:
    rng = random.Random(4)
    records = channel_records({4, 5}, rng)
    fault = {"at_s": 40.0, "end_s": 60.0, "proxy": "horizon-primary", "toxic": "latency"}
    ctx = JudgeContext.build(records, phases=STEADY, faults=[fault], params={"window_s": 10.0, "rto_s": 5.0})
    check = judge_target(ctx, "channel.latency")
    assert check.verdict == VERDICT_PASS and check.figures["samples"] == 150  # [40, 65) excluded


def test_recovery_time_against_rto() -> None:
    rng = random.Random(5)
    fault = {"at_s": 20.0, "end_s": 30.0, "proxy": "horizon-primary", "toxic": "latency"}
    quick = JudgeContext.build(channel_records({2}, rng), phases=STEADY, faults=[fault],
                               params={"window_s": 10.0, "rto_s": 20.0}, duration_s=100.0)
    assert judge_recoveries(quick)[0].verdict == VERDICT_PASS
    slow = JudgeContext.build(channel_records({2, 3, 4, 5}, rng), phases=STEADY, faults=[fault],
                              params={"window_s": 10.0, "rto_s": 20.0}, duration_s=100.0)
    check = judge_recoveries(slow)[0]
    assert check.verdict == VERDICT_FAIL and "did not hold within 20 s" in check.reason
    short = JudgeContext.build(channel_records({2}, rng), phases=STEADY, faults=[fault],
                               params={"window_s": 10.0, "rto_s": 20.0}, duration_s=35.0)
    assert judge_recoveries(short)[0].verdict == VERDICT_INCONCLUSIVE


def escrow_records(latency_ms: float, start: float = 0.0, end: float = 100.0) -> list[RequestRecord]:
    return [RequestRecord(t, t, "escrow", "POST", "/contracts/escrow", 200, latency_ms, latency_ms)
            for t in (start + i * 0.5 for i in range(int((end - start) * 2)))]


def test_recovery_waits_only_for_targets_that_held_before_the_first_fault() -> None:
    """A target that misses its threshold in the clean steady phase already (contract.execution at a 5 s
    cadence) fails as target.<metric>; recoveries are judged on the targets that held."""
    rng = random.Random(6)
    fault = {"at_s": 20.0, "end_s": 30.0, "proxy": "horizon-primary", "toxic": "down"}
    thresholds = {"channel.latency": 100.0, "contract.execution": 3000.0}

    def recovery(records: list[RequestRecord]):
        ctx = JudgeContext.build(records, phases=STEADY, faults=[fault], thresholds_ms=thresholds,
                                 params={"window_s": 10.0, "rto_s": 20.0}, duration_s=100.0)
        return judge_recoveries(ctx)[0]

    slow_everywhere = escrow_records(4500.0)
    quick = recovery(channel_records({2}, rng) + slow_everywhere)
    assert quick.verdict == VERDICT_PASS and list(quick.figures["not_judged"]) == ["contract.execution"]
    slow = recovery(channel_records({2, 3, 4, 5}, rng) + slow_everywhere)  # channel still judged
    assert slow.verdict == VERDICT_FAIL
    held_before = escrow_records(1000.0, 0.0, 20.0) + escrow_records(4500.0, 20.0, 100.0)
    broken_after = recovery(channel_records({2}, rng) + held_before)  # held before: it must hold again
    assert broken_after.verdict == VERDICT_FAIL and broken_after.figures["not_judged"] == {}
