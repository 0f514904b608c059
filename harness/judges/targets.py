"""Performance targets: exact p95 per metric from raw client samples, steady state only, windowed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.outputs import ENDPOINT_METRICS

METRIC_ENDPOINTS = {metric: endpoint for endpoint, metric in ENDPOINT_METRICS.items()}


def percentiles(values: np.ndarray | Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (numpy linear interpolation) in the unit of `values`; empty -> NaN."""
    arr = np.asarray(values, dtype="float64")
    if arr.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def ok_samples(ctx: JudgeContext, endpoint: str) -> pd.DataFrame:
    """2xx records of one endpoint (send time, status and both latencies)."""
    rec = ctx.frame(["sent_s", "status", "latency_ms", "latency_from_intended_ms"], endpoint=[endpoint])
    return rec[(rec["status"] >= 200) & (rec["status"] < 300)]


def steady_samples(ctx: JudgeContext, endpoint: str) -> pd.DataFrame:
    """2xx samples of `endpoint` sent in a steady phase, outside every fault window plus its RTO allowance."""
    rec = ok_samples(ctx, endpoint)
    sent = rec["sent_s"].to_numpy()
    keep = np.zeros(len(rec), dtype=bool)
    for phase in ctx.steady_phases():
        keep |= (sent >= phase.start_s) & (sent < phase.end_s)
    for fault in ctx.faults:
        keep &= ~((sent >= fault.at_s) & (sent < fault.end_s + ctx.params.rto_s))
    return rec[keep]


def longest_run(flags: Sequence[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def judge_target(ctx: JudgeContext, metric: str) -> Check:
    """One target check: pooled, per-phase and windowed p95 against the metric's threshold."""
    prm = ctx.params
    threshold = float(ctx.thresholds_ms[metric])
    column = "latency_from_intended_ms" if prm.targets_from_intended else "latency_ms"
    samples = steady_samples(ctx, METRIC_ENDPOINTS.get(metric, metric))
    lat = samples[column].to_numpy()
    pct = percentiles(lat)
    windows, phase_p95 = [], {}
    breach_runs = []
    for phase in ctx.steady_phases():
        in_phase = samples[(samples["sent_s"] >= phase.start_s) & (samples["sent_s"] < phase.end_s)]
        if len(in_phase) >= prm.min_samples:
            phase_p95[phase.name] = round(percentiles(in_phase[column].to_numpy())["p95"], 3)
        flags = []
        edges = _window_edges(phase.start_s, phase.end_s, prm.window_s)
        idx = np.searchsorted(edges, in_phase["sent_s"].to_numpy(), side="right") - 1
        order = np.argsort(idx, kind="stable")  # each window's samples contiguous, in their own order
        values, bounds = in_phase[column].to_numpy()[order], np.searchsorted(idx[order], np.arange(len(edges)))
        for i in range(len(edges) - 1):
            win = values[bounds[i]:bounds[i + 1]]
            judged = win.size >= prm.min_window_samples
            p95 = percentiles(win)["p95"] if win.size else float("nan")
            breach = bool(judged and p95 > threshold)
            windows.append({"start_s": round(float(edges[i]), 3), "end_s": round(float(edges[i + 1]), 3),
                            "samples": int(win.size), "p95_ms": _num(p95), "breach": breach})
            if judged:
                flags.append(breach)
        breach_runs.append(longest_run(flags))
    longest = max(breach_runs, default=0)
    figures: dict[str, Any] = {
        "metric": metric, "threshold_ms": threshold, "samples": int(lat.size),
        "p50_ms": _num(pct["p50"]), "p95_ms": _num(pct["p95"]), "p99_ms": _num(pct["p99"]),
        "p95_from_intended_ms": _num(percentiles(samples["latency_from_intended_ms"].to_numpy())["p95"]),
        "phase_p95_ms": phase_p95, "windows": windows, "longest_breach_run": longest,
        "latency_basis": column,
    }
    name = f"{metric} p95 < {threshold:g} ms"
    cid = f"target.{metric}"
    if lat.size < prm.min_samples:
        return Check(cid, "target", name, VERDICT_INCONCLUSIVE,
                     f"only {lat.size} steady-state samples (need {prm.min_samples})", figures)
    over_phases = {k: v for k, v in phase_p95.items() if v > threshold}
    problems = []
    if pct["p95"] > threshold:
        problems.append(f"p95 {pct['p95']:.1f} ms > {threshold:g} ms over {lat.size} samples")
    if over_phases:
        problems.append("phase p95 over target: " + ", ".join(f"{k} {v:.1f} ms" for k, v in over_phases.items()))
    if longest > prm.max_consecutive_breaching_windows:
        problems.append(f"sustained breach: {longest} consecutive {prm.window_s:g} s windows over target "
                        f"(allowed {prm.max_consecutive_breaching_windows})")
    evidence = [w for w in windows if w["breach"]][:20]
    if problems:
        return Check(cid, "target", name, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    return Check(cid, "target", name, VERDICT_PASS,
                 f"p95 {pct['p95']:.1f} ms <= {threshold:g} ms over {lat.size} samples; "
                 f"longest breaching run {longest} window(s)", figures, evidence)


def judge_targets(ctx: JudgeContext) -> list[Check]:
    return [judge_target(ctx, m) for m in ctx.thresholds_ms if ctx.params.is_enabled(f"target.{m}")]


def _window_edges(start: float, end: float, width: float) -> np.ndarray:
    count = max(1, int(np.ceil((end - start) / width - 1e-9)))
    edges = start + width * np.arange(count + 1)
    edges[-1] = end
    return edges


def _num(value: float) -> float | str:
    """JSON-safe: NaN becomes the string "n/a"."""
    return "n/a" if np.isnan(value) else round(float(value), 3)
