"""Capacity knee: scan a ramp phase window by window for the first arrival rate a target cannot hold.

Enabled by the profile's `judging.capacity_phase` (the name of a non-steady ramp phase). The phase
is cut into `window_s` windows. In each window every target metric gets the p95 of its 2xx samples
(sent in the window; service time, or time from intended with `targets_from_intended`) and the
share of its well-behaved requests that got a 5xx or no answer. A metric *breaks* a window when it
has at least `min_window_samples` samples and its p95 exceeds the threshold or its failure share
exceeds `capacity_max_error_rate`. A window also breaks (pseudo-metric `send-lag`) when the p95 of
its arrivals' send lag (sent - intended) exceeds `MAX_SEND_LAG_S`: the client pool fell behind, so
the service was no longer offered the ramp's rate. A window *holds* when every metric has enough
samples and none breaks; otherwise, without a break, it is *thin*.

The knee is the first window of the first *sustained* break: more than
`max_consecutive_breaching_windows` breaking windows in a row (thin windows skipped; the targets'
own rule), or a break still running at the ramp's last window. Isolated breaking windows before it
are reported (`transient_breaks_s`, and in the reason), never hidden. Verdict: pass when a knee was
found, or when the ramp's last window holds ("no knee up to X req/s"); inconclusive otherwise (the
top of the ramp, or the whole phase, had too few samples to tell).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.judges.context import (
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    WELL_BEHAVED_KINDS,
    Check,
    JudgeContext,
    Phase,
)
from harness.judges.targets import METRIC_ENDPOINTS, percentiles

CHECK_ID = "capacity"
SEND_LAG = "send-lag"  # pseudo-metric: arrivals leaving late means the client pool fell behind
MAX_SEND_LAG_S = 1.0  # p95 of (sent - intended) over a window's arrivals; above it the window breaks
HOLD, BREAK, THIN = "hold", "break", "thin"


def window_table(ctx: JudgeContext, phase: Phase) -> list[dict[str, Any]]:
    """One row per `window_s` window of `phase`: offered/achieved rates and each metric's p95, failures, state."""
    prm = ctx.params
    column = "latency_from_intended_ms" if prm.targets_from_intended else "latency_ms"
    rec = ctx.frame(["sent_s", "intended_s", "latency_ms", "status", "endpoint", "user_kind", column])
    done_s = rec["sent_s"] + rec["latency_ms"] / 1000.0
    answered = (rec["status"] > 0) & (rec["status"] < 500)
    rows = []
    for start, end in _windows(phase.start_s, phase.end_s, prm.window_s):
        width = end - start
        in_win = (rec["sent_s"] >= start) & (rec["sent_s"] < end)
        intended = (rec["intended_s"] >= start) & (rec["intended_s"] < end)
        offered = int(intended.sum())
        lag = (rec["sent_s"] - rec["intended_s"])[intended].to_numpy()
        lag_p95 = percentiles(lag)["p95"] if lag.size else 0.0
        achieved = int((answered & (done_s >= start) & (done_s < end)).sum())
        row: dict[str, Any] = {
            "start_s": round(start, 3), "end_s": round(end, 3),
            "offered_rps": round(offered / width, 2), "achieved_rps": round(achieved / width, 2),
            "send_lag_p95_s": round(float(lag_p95), 3), "samples": {}, "p95_ms": {}, "error_rate": {}, "broken": [],
        }
        if lag.size >= prm.min_window_samples and lag_p95 > MAX_SEND_LAG_S:
            row["broken"].append({"metric": SEND_LAG, "severity": round(lag_p95 / MAX_SEND_LAG_S, 3),
                                  "reason": f"arrivals sent late: p95 lag {lag_p95:.1f} s > {MAX_SEND_LAG_S:g} s "
                                            "(client pool or load generator saturated)"})
        thin = False
        for metric, threshold in ctx.thresholds_ms.items():
            rec_m = rec[in_win & (rec["endpoint"] == METRIC_ENDPOINTS.get(metric, metric))]
            ok = rec_m[(rec_m["status"] >= 200) & (rec_m["status"] < 300)]
            p95 = percentiles(ok[column].to_numpy())["p95"] if len(ok) else float("nan")
            behaved = rec_m[rec_m["user_kind"].isin(WELL_BEHAVED_KINDS) | (rec_m["user_kind"] == "")]
            failed = int(((behaved["status"] == 0) | (behaved["status"] >= 500)).sum())
            err = failed / len(behaved) if len(behaved) else 0.0
            row["samples"][metric] = len(ok)
            row["p95_ms"][metric] = "n/a" if np.isnan(p95) else round(float(p95), 1)
            row["error_rate"][metric] = round(err, 4)
            reasons = []
            if len(ok) >= prm.min_window_samples and p95 > threshold:
                reasons.append((p95 / threshold, f"{metric} p95 {p95:.0f} ms > {threshold:g} ms"))
            if len(behaved) >= prm.min_window_samples and err > prm.capacity_max_error_rate:
                reasons.append((1.0 + err, f"{metric} failures {err:.0%} > {prm.capacity_max_error_rate:.0%}"))
            if reasons:
                row["broken"].append({"metric": metric, "severity": round(max(r[0] for r in reasons), 3),
                                      "reason": "; ".join(r[1] for r in reasons)})
            elif len(ok) < prm.min_window_samples:
                thin = True
        row["broken"].sort(key=lambda b: -b["severity"])
        row["state"] = BREAK if row["broken"] else THIN if thin else HOLD
        rows.append(row)
    return rows


def judge_capacity(ctx: JudgeContext) -> Check:
    """The capacity check over `ctx.params.capacity_phase` (see the module docstring for the rules)."""
    prm = ctx.params
    name = f"capacity knee over ramp phase '{prm.capacity_phase}'"
    phase = next((p for p in ctx.phases if p.name == prm.capacity_phase), None)
    if phase is None:
        return Check(CHECK_ID, "capacity", name, VERDICT_INCONCLUSIVE,
                     f"no phase named '{prm.capacity_phase}' in this run", {"phase": prm.capacity_phase})
    rows = window_table(ctx, phase)
    knee_i = knee_index(rows, prm.max_consecutive_breaching_windows)
    before = rows if knee_i is None else rows[:knee_i]
    transient = [r["start_s"] for r in before if r["state"] == BREAK]
    last_ok = next((r for r in reversed(before) if r["state"] == HOLD), None)
    knee = rows[knee_i] if knee_i is not None else None
    figures: dict[str, Any] = {
        "phase": phase.name, "window_s": prm.window_s, "windows": len(rows),
        "windows_thin": sum(r["state"] == THIN for r in rows),
        "knee_found": knee is not None,
        "max_offered_rps": max((r["offered_rps"] for r in rows), default=0.0),
        "last_ok_start_s": last_ok["start_s"] if last_ok else "n/a",
        "last_ok_offered_rps": last_ok["offered_rps"] if last_ok else "n/a",
        "last_ok_achieved_rps": last_ok["achieved_rps"] if last_ok else "n/a",
        "knee_start_s": knee["start_s"] if knee else "n/a",
        "knee_offered_rps": knee["offered_rps"] if knee else "n/a",
        "knee_achieved_rps": knee["achieved_rps"] if knee else "n/a",
        "first_broken_metric": knee["broken"][0]["metric"] if knee else "n/a",
        "broken_metrics": [b["metric"] for b in knee["broken"]] if knee else [],
        "transient_breaks_s": transient,
    }
    evidence = [_row_text(r) for r in rows]
    blips = (f"; isolated breaking window(s) before it, not sustained: {', '.join(f'{t:g} s' for t in transient)}"
             if transient else "")
    if knee is not None:
        held = (f"last window holding every target: {last_ok['start_s']:g}-{last_ok['end_s']:g} s at "
                f"{last_ok['offered_rps']:g} req/s offered, {last_ok['achieved_rps']:g} achieved"
                if last_ok else "no earlier window held every target (capacity below the ramp's start)")
        reason = (f"knee at {knee['start_s']:g}-{knee['end_s']:g} s, {knee['offered_rps']:g} req/s offered "
                  f"({knee['achieved_rps']:g} achieved): {knee['broken'][0]['reason']}; {held}{blips}")
        return Check(CHECK_ID, "capacity", name, VERDICT_PASS, reason, figures, evidence)
    if not rows or rows[-1]["state"] != HOLD:
        thin = figures["windows_thin"]
        return Check(CHECK_ID, "capacity", name, VERDICT_INCONCLUSIVE,
                     f"no target broke, but {thin} of {len(rows)} windows (including the last) had fewer than "
                     f"{prm.min_window_samples} samples of some metric: the ramp's top is not measured",
                     figures, evidence)
    top = rows[-1]
    return Check(CHECK_ID, "capacity", name, VERDICT_PASS,
                 f"no knee up to {top['offered_rps']:g} req/s offered ({top['achieved_rps']:g} achieved): every "
                 f"target held to the top of the ramp{blips}", figures, evidence)


def knee_index(rows: list[dict[str, Any]], allowed: int) -> int | None:
    """First window of the first run of more than `allowed` breaking windows (thin ones skipped).

    A run still open at the ramp's last judged window counts too: the rate only rises from there.
    """
    judged = [i for i, r in enumerate(rows) if r["state"] != THIN]
    run_start, run_len = None, 0
    for n, i in enumerate(judged):
        if rows[i]["state"] != BREAK:
            run_start, run_len = None, 0
            continue
        run_start = i if run_start is None else run_start
        run_len += 1
        if run_len > allowed or n == len(judged) - 1:
            return run_start
    return None


def _windows(start: float, end: float, width: float) -> list[tuple[float, float]]:
    count = max(1, int(np.ceil((end - start) / width - 1e-9)))
    edges = [start + width * i for i in range(count)] + [end]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _row_text(row: dict[str, Any]) -> dict[str, Any]:
    """A compact evidence row: rates, state, per-metric p95 (and failures when any) and what broke."""
    keys = ("start_s", "end_s", "offered_rps", "achieved_rps", "send_lag_p95_s", "state", "p95_ms", "samples")
    out = {k: row[k] for k in keys}
    errors = {m: e for m, e in row["error_rate"].items() if e > 0}
    if errors:
        out["error_rate"] = errors
    if row["broken"]:
        out["broken"] = [b["reason"] for b in row["broken"]]
    return out
