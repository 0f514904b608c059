"""P30: alerts fire iff a recorded value exceeds its threshold (end-to-end evidence)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.judges.context import (
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    Check,
    JudgeContext,
    JudgingParams,
)
from harness.judges.evidence import completion_s
from harness.judges.targets import METRIC_ENDPOINTS

NAME = "P30 performance alerting: alert iff a value exceeds its threshold"
MAX_EVIDENCE = 20


def judge_alerting(ctx: JudgeContext) -> Check:
    prm = ctx.params
    rec = ctx.records[ctx.records["status"] != 0]
    alerts = ctx.events_of("alert")
    missed: list[dict[str, object]] = []
    false_alerts: list[dict[str, object]] = []
    breaching_windows = alerted_windows = samples = 0
    for metric, threshold in ctx.thresholds_ms.items():
        ep = rec[rec["endpoint"] == METRIC_ENDPOINTS.get(metric, metric)]
        done = completion_s(ep).to_numpy()
        lat = ep["latency_ms"].to_numpy()
        samples += int(lat.size)
        alert_times = np.array(sorted(a.t for a in alerts if a.data.get("metric") == metric))
        over = (lat > threshold) & (ep["status"].to_numpy() // 100 == 2)  # the service records successes
        if over.any():
            window_idx = np.floor(done[over] / prm.window_s).astype(int)
            first_by_window: dict[int, float] = {}
            for w, t in sorted(zip(window_idx.tolist(), done[over].tolist(), strict=True), key=lambda p: p[1]):
                first_by_window.setdefault(w, t)
            for w, t_first in sorted(first_by_window.items()):
                breaching_windows += 1
                lo, hi = t_first - prm.clock_skew_s, t_first + prm.alert_latency_max_s
                hit = alert_times.size and np.any((alert_times >= lo) & (alert_times <= hi))
                if hit:
                    alerted_windows += 1
                else:
                    missed.append({"metric": metric, "window_start_s": w * prm.window_s,
                                   "first_breach_s": round(t_first, 3), "threshold_ms": threshold})
        for alert in (a for a in alerts if a.data.get("metric") == metric):
            problem = _alert_problem(alert.t, alert.data, threshold, done, lat, prm)
            if problem:
                false_alerts.append({"metric": metric, "t": round(alert.t, 3),
                                     "value_ms": alert.data.get("value_ms"), "problem": problem})
    for alert in alerts:
        if alert.data.get("metric") not in ctx.thresholds_ms:
            false_alerts.append({"metric": alert.data.get("metric"), "t": round(alert.t, 3),
                                 "problem": "alert for a metric without a configured threshold"})
    figures = {"samples": samples, "alerts": len(alerts), "breaching_windows": breaching_windows,
               "alerted_windows": alerted_windows, "missed_alerts": len(missed),
               "false_alerts": len(false_alerts)}
    evidence = (missed + false_alerts)[:MAX_EVIDENCE]
    if missed or false_alerts:
        parts = []
        if missed:
            m = missed[0]
            parts.append(f"{len(missed)} breaching window(s) without an alert within {prm.alert_latency_max_s:g} s "
                         f"(first: {m['metric']} breached at {m['first_breach_s']} s)")
        if false_alerts:
            f = false_alerts[0]
            parts.append(f"{len(false_alerts)} alert(s) without a matching sample (first: {f['metric']} at "
                         f"{f['t']} s: {f['problem']})")
        return Check("P30", "property", NAME, VERDICT_FAIL, "; ".join(parts), figures, evidence)
    if samples < prm.min_samples:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"only {samples} samples (need {prm.min_samples})", figures)
    if breaching_windows == 0:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no sample exceeded a threshold, so alert firing was never exercised "
                     f"({len(alerts)} alerts, none false)", figures)
    return Check("P30", "property", NAME, VERDICT_PASS,
                 f"all {breaching_windows} breaching windows alerted within {prm.alert_latency_max_s:g} s; "
                 f"all {len(alerts)} alerts match a breaching sample", figures)


def _alert_problem(t: float, data: dict[str, Any], threshold: float, done: np.ndarray, lat: np.ndarray,
                   prm: JudgingParams) -> str:
    """Why an alert is false, or "" when it matches a breaching client sample."""
    try:
        value = float(data["value_ms"])
        alert_threshold = float(data.get("threshold_ms", threshold))
    except (KeyError, TypeError, ValueError):
        return "alert without a numeric value_ms"
    if value <= alert_threshold:
        return f"value {value:g} ms does not exceed the alert's threshold {alert_threshold:g} ms"
    if abs(alert_threshold - threshold) > 1e-6:
        return f"alert threshold {alert_threshold:g} ms differs from the configured {threshold:g} ms"
    lo, hi = t - prm.alert_latency_max_s - prm.clock_skew_s, t + prm.clock_skew_s
    near = (done >= lo) & (done <= hi)
    if not np.any(near & (lat >= value - prm.alert_match_tolerance_ms)):
        return f"no client sample >= {value:g} ms completed in [{lo:.1f}, {hi:.1f}] s"
    return ""
