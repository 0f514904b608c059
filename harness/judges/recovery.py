"""Recovery-time objective: after each fault window, how long until every target holds again.

"Again" needs a baseline: a target whose p95 already misses its threshold in the steady phases
before the first fault (with enough samples) fails on its own (`target.<metric>`) and is not waited
for; the recovery check names it under `not_judged`. Without such a baseline every target counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.judges.context import (
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    Check,
    FaultWindow,
    JudgeContext,
)
from harness.judges.targets import METRIC_ENDPOINTS, steady_samples

STEPS_PER_WINDOW = 5


@dataclass(frozen=True)
class _Columns:
    """The records sent after a fault, up to the last window its recovery scan can reach, sorted by send
    time, as arrays, so each window is a searchsorted slice."""

    sent: np.ndarray
    endpoint: np.ndarray
    ok: np.ndarray
    latency: np.ndarray
    expected_ok: np.ndarray

    @classmethod
    def of(cls, ctx: JudgeContext) -> _Columns:
        prm = ctx.params
        reach = prm.rto_s + prm.window_s + 2 * prm.window_s / STEPS_PER_WINDOW
        rec = ctx.frame(["sent_s", "endpoint", "status", "latency_ms", "expected", "user_kind"],
                        during=[(f.end_s, f.end_s + reach) for f in ctx.faults])
        rec = rec.sort_values("sent_s", kind="stable")
        expected_ok = rec["expected"].isin(["", "ok"]) & ~rec["user_kind"].isin(["fuzzer", "tamperer", "abuser"])
        return cls(rec["sent_s"].to_numpy(), rec["endpoint"].to_numpy(dtype=object),
                   (rec["status"] // 100 == 2).to_numpy(), rec["latency_ms"].to_numpy(), expected_ok.to_numpy())


def baseline_exclusions(ctx: JudgeContext) -> dict[str, str]:
    """Metrics whose target already fails before the first fault, each with the reason."""
    first = min((f.at_s for f in ctx.faults), default=float("inf"))
    out = {}
    for metric, threshold in ctx.thresholds_ms.items():
        samples = steady_samples(ctx, METRIC_ENDPOINTS.get(metric, metric))
        latency = samples.loc[samples["sent_s"] < first, "latency_ms"].to_numpy()
        if latency.size >= ctx.params.min_samples and (p95 := float(np.percentile(latency, 95))) > threshold:
            out[metric] = (f"p95 {p95:.1f} ms > {threshold:g} ms already before the first fault "
                           f"(target.{metric} fails on its own)")
    return out


def _window_state(ctx: JudgeContext, cols: _Columns, start: float, end: float,
                  thresholds: dict[str, float]) -> tuple[bool, bool, dict[str, float]]:
    """(has_data, healthy, p95 per judged metric) for requests sent in [start, end)."""
    lo, hi = np.searchsorted(cols.sent, [start, end], side="left")
    endpoint, ok, latency = cols.endpoint[lo:hi], cols.ok[lo:hi], cols.latency[lo:hi]
    p95s: dict[str, float] = {}
    healthy = True
    for metric, threshold in thresholds.items():
        values = latency[(endpoint == METRIC_ENDPOINTS.get(metric, metric)) & ok]
        if values.size >= ctx.params.min_window_samples:
            p95s[metric] = float(np.percentile(values, 95))
            healthy &= p95s[metric] <= threshold
    expected_ok = cols.expected_ok[lo:hi]
    if expected_ok.any():
        healthy &= float(ok[expected_ok].mean()) >= ctx.params.fallback_success_min
    return bool(p95s), bool(healthy), p95s


def judge_recovery(ctx: JudgeContext, index: int, fault: FaultWindow, cols: _Columns | None = None,
                   excluded: dict[str, str] | None = None) -> Check:
    prm = ctx.params
    cols = cols or _Columns.of(ctx)
    excluded = baseline_exclusions(ctx) if excluded is None else excluded
    thresholds = {m: t for m, t in ctx.thresholds_ms.items() if m not in excluded}
    cid = f"recovery.{index}"
    name = f"recovery after {fault.label} within {prm.rto_s:g} s"
    later = [f.at_s for f in ctx.faults if f.at_s >= fault.end_s and f is not fault]
    horizon = min([ctx.duration_s, *later])
    step = prm.window_s / STEPS_PER_WINDOW
    figures: dict[str, object] = {"fault": fault.label, "fault_end_s": fault.end_s, "rto_s": prm.rto_s,
                                  "recovery_s": "n/a", "not_judged": excluded}
    judged_until = fault.end_s
    max_steps = int(np.ceil(prm.rto_s / step)) + 1
    for k in range(max_steps):
        start = fault.end_s + k * step
        if start + prm.window_s > horizon + 1e-9:
            break
        has_data, healthy, p95s = _window_state(ctx, cols, start, start + prm.window_s, thresholds)
        if not has_data:
            continue
        judged_until = start
        if healthy:
            figures.update(recovery_s=round(start - fault.end_s, 3), recovered_window_p95_ms=p95s)
            return Check(cid, "recovery", name, VERDICT_PASS,
                         f"targets held again {start - fault.end_s:.1f} s after {fault.label} ended "
                         f"(RTO {prm.rto_s:g} s)", figures)
    figures["judged_until_s"] = round(judged_until, 3)
    if judged_until - fault.end_s >= prm.rto_s - step - 1e-9:
        return Check(cid, "recovery", name, VERDICT_FAIL,
                     f"targets did not hold within {prm.rto_s:g} s after {fault.label} ended "
                     f"at {fault.end_s:g} s", figures)
    return Check(cid, "recovery", name, VERDICT_INCONCLUSIVE,
                 f"too little data after {fault.label} ended at {fault.end_s:g} s to judge recovery "
                 f"(run or next fault leaves {max(0.0, horizon - fault.end_s):.1f} s)", figures)


def judge_recoveries(ctx: JudgeContext) -> list[Check]:
    cols, excluded = _Columns.of(ctx), baseline_exclusions(ctx)
    return [judge_recovery(ctx, i, f, cols, excluded) for i, f in enumerate(ctx.faults)
            if ctx.params.is_enabled(f"recovery.{i}")]
