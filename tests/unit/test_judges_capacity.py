"""Capacity knee over a ramp: the right window, no knee, thin data, early breaks, and wiring into judge()."""

from __future__ import annotations

import random

import pytest

from harness.judges import judge
from harness.judges.capacity import judge_capacity, window_table
from harness.judges.context import VERDICT_INCONCLUSIVE, VERDICT_PASS, JudgeContext
from harness.outputs import RequestRecord
from harness.report.html import key_figures

THRESHOLDS = {"channel.latency": 100.0, "settlement.finality": 5000.0}
RAMP = {"name": "ramp", "start_s": 30.0, "end_s": 130.0, "steady": False}
WARMUP = {"name": "warmup", "start_s": 0.0, "end_s": 30.0, "steady": True}


def ramp_records(
    rng: random.Random,
    *,
    slow_channel: set[int] = frozenset(),
    slow_settlement: set[int] = frozenset(),
    failing_settlement: set[int] = frozenset(),
    per_window: int = 10,
    step: int = 4,
) -> list[RequestRecord]:
    """Warm-up (3 windows) then 10 ramp windows of 10 s; window w has `per_window + step*w` samples per metric.

    In a slow window 40 % of the metric's samples blow its threshold; in a failing one 20 % of the
    settlements get a 504.
    """
    out = []
    for w in range(-3, 10):
        n = per_window + step * max(w, 0)
        for i in range(n):
            t = 30.0 + w * 10.0 + i * 10.0 / n
            slow = i % 5 < 2
            ch = 150.0 + rng.random() if w in slow_channel and slow else 20.0 + 5 * rng.random()
            out.append(RequestRecord(t, t, "channel", "POST", "/channels/c/update", 200, ch, ch,
                                     user_kind="channel_updater"))
            st = 7000.0 if w in slow_settlement and slow else 1200.0 + 300 * rng.random()
            status = 504 if w in failing_settlement and i % 5 == 0 else 200
            out.append(RequestRecord(t, t, "settlement", "POST", "/settlements", status, st, st,
                                     user_kind="settler"))
    return out


def ctx_for(records: list[RequestRecord], **params: object) -> JudgeContext:
    return JudgeContext.build(records, phases=[WARMUP, RAMP], thresholds_ms=THRESHOLDS,
                              params={"window_s": 10.0, "capacity_phase": "ramp", **params})


def test_knee_is_the_first_breaking_window_with_the_last_holding_one_before_it() -> None:
    check = judge_capacity(ctx_for(ramp_records(random.Random(1), slow_channel={6, 7, 8, 9})))
    fig = check.figures
    assert check.verdict == VERDICT_PASS and check.kind == "capacity" and check.id == "capacity"
    assert fig["knee_found"] is True
    assert fig["knee_start_s"] == 90.0 and fig["last_ok_start_s"] == 80.0
    assert fig["first_broken_metric"] == "channel.latency" and fig["broken_metrics"] == ["channel.latency"]
    # 2 metrics x (10 + 4w) samples per 10 s window
    assert fig["last_ok_offered_rps"] == pytest.approx(2 * (10 + 4 * 5) / 10)
    assert fig["knee_offered_rps"] == pytest.approx(2 * (10 + 4 * 6) / 10)
    assert "knee at 90-100 s" in check.reason and "channel.latency p95" in check.reason
    states = [row["state"] for row in check.evidence]
    assert states == ["hold"] * 6 + ["break"] * 4
    assert "knee at 6.8 req/s" in key_figures(check.to_dict())


def test_no_knee_passes_and_names_the_top_rate() -> None:
    check = judge_capacity(ctx_for(ramp_records(random.Random(2))))
    assert check.verdict == VERDICT_PASS and check.figures["knee_found"] is False
    top = 2 * (10 + 4 * 9) / 10
    assert check.figures["last_ok_offered_rps"] == pytest.approx(top)
    assert check.reason.startswith(f"no knee up to {top:g} req/s")
    assert key_figures(check.to_dict()) == f"no knee up to {top:g} req/s offered"


def test_thin_windows_are_inconclusive_not_pass() -> None:
    thin = judge_capacity(ctx_for(ramp_records(random.Random(3), per_window=3, step=0)))
    assert thin.verdict == VERDICT_INCONCLUSIVE and thin.figures["windows_thin"] == 10
    # thick at the bottom but thin at the top: the ramp's maximum is not measured either
    rows = [r for r in ramp_records(random.Random(3)) if r.sent_s < 120.0 or r.sent_s % 10 < 0.3]
    top_thin = judge_capacity(ctx_for(rows))
    assert top_thin.verdict == VERDICT_INCONCLUSIVE and "ramp's top is not measured" in top_thin.reason


def test_an_early_break_is_reported_at_its_window_not_at_a_later_one() -> None:
    rec = ramp_records(random.Random(4), slow_channel={1, 2}, slow_settlement={7, 8, 9})
    check = judge_capacity(ctx_for(rec))
    assert check.figures["knee_start_s"] == 40.0 and check.figures["first_broken_metric"] == "channel.latency"
    assert check.figures["last_ok_start_s"] == 30.0
    # a break in the very first window: found, but nothing held before it
    first = judge_capacity(ctx_for(ramp_records(random.Random(4), slow_settlement={0, 1})))
    assert first.figures["knee_start_s"] == 30.0 and first.figures["last_ok_start_s"] == "n/a"
    assert "capacity below the ramp's start" in first.reason


def test_failures_break_a_window_even_when_the_answered_p95_holds() -> None:
    check = judge_capacity(ctx_for(ramp_records(random.Random(5), failing_settlement={5, 6})))
    assert check.figures["knee_start_s"] == 80.0 and check.figures["first_broken_metric"] == "settlement.finality"
    assert "failures 20% > 5%" in check.reason
    tolerant = judge_capacity(ctx_for(ramp_records(random.Random(5), failing_settlement={5, 6}),
                                      capacity_max_error_rate=0.25))
    assert tolerant.figures["knee_found"] is False


def test_window_table_rates_and_the_metric_ranking() -> None:
    ctx = ctx_for(ramp_records(random.Random(6), slow_channel={2}, slow_settlement={2}))
    rows = window_table(ctx, ctx.phases[1])
    assert [r["offered_rps"] for r in rows] == [pytest.approx(2 * (10 + 4 * w) / 10) for w in range(10)]
    # channel 150 ms / 100 ms = 1.5 beats settlement 7000 / 5000 = 1.4
    assert [b["metric"] for b in rows[2]["broken"]] == ["channel.latency", "settlement.finality"]


def test_judge_runs_capacity_only_when_asked_and_the_ramp_never_fails_targets() -> None:
    rec = ramp_records(random.Random(7), slow_channel=set(range(3, 10)))
    checks = {c.id: c for c in judge(ctx_for(rec, enabled=["target.", "capacity"]))}
    assert checks["capacity"].figures["knee_start_s"] == 60.0
    assert checks["target.channel.latency"].verdict == VERDICT_PASS  # judged on the warm-up only
    plain = JudgeContext.build(rec, phases=[WARMUP, RAMP], thresholds_ms=THRESHOLDS, params={"enabled": ["target."]})
    assert "capacity" not in {c.id for c in judge(plain)}
    off = judge(ctx_for(rec, enabled=["target."]))
    assert "capacity" not in {c.id for c in off}


def test_a_missing_phase_is_inconclusive() -> None:
    check = judge_capacity(ctx_for(ramp_records(random.Random(8)), capacity_phase="climb"))
    assert check.verdict == VERDICT_INCONCLUSIVE and "no phase named 'climb'" in check.reason


def test_arrivals_sent_late_break_the_window_even_when_service_time_holds() -> None:
    rec = ramp_records(random.Random(9))
    for r in rec:  # from 100 s on the client pool is behind: sends leave 3 s after their intended time
        if r.intended_s >= 100.0:
            r.sent_s = r.intended_s + 3.0
    check = judge_capacity(ctx_for(rec))
    assert check.figures["knee_start_s"] == 100.0 and check.figures["first_broken_metric"] == "send-lag"
    assert "p95 lag 3.0 s > 1 s" in check.reason


def test_an_isolated_breaking_window_is_reported_but_the_knee_is_the_sustained_break() -> None:
    rec = ramp_records(random.Random(10), slow_channel={1, 6, 7, 8, 9})
    check = judge_capacity(ctx_for(rec))
    assert check.figures["knee_start_s"] == 90.0 and check.figures["last_ok_start_s"] == 80.0
    assert check.figures["transient_breaks_s"] == [40.0] and "not sustained: 40 s" in check.reason
    strict = judge_capacity(ctx_for(rec, max_consecutive_breaching_windows=0))
    assert strict.figures["knee_start_s"] == 40.0 and strict.figures["transient_breaks_s"] == []
    # a blip with no knee is still named, and one breaking window at the ramp's top is a knee
    blip = judge_capacity(ctx_for(ramp_records(random.Random(10), slow_channel={3})))
    assert blip.figures["knee_found"] is False and "not sustained: 60 s" in blip.reason
    top = judge_capacity(ctx_for(ramp_records(random.Random(10), slow_settlement={9})))
    assert top.figures["knee_start_s"] == 120.0 and top.figures["first_broken_metric"] == "settlement.finality"
