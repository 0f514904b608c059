"""P30: alerts fire iff a recorded value exceeds its threshold (end-to-end evidence).

The service reports the value it recorded for a target metric in a `Server-Timing` header, which
the load client keeps as `RequestRecord.server_ms`. A metric whose records carry such values is
judged on them: alerts are compared with what the service recorded, so client-side queueing
outside the service's measured span cannot fake a missed alert. A metric without any server value
(evidence from before the header existed) falls back to the client-latency rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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
from harness.outputs import Event

NAME = "P30 performance alerting: alert iff a value exceeds its threshold"
MAX_EVIDENCE = 20
VALUE_MATCH_MS = 0.01  # an alert's value_ms equals its sample's server_ms within this


@dataclass
class _Tally:
    samples: int = 0
    server_timed: int = 0
    untimed: int = 0
    breaching: int = 0  # server-side breaching samples
    alerted: int = 0
    client_breaches: int = 0
    client_only: int = 0  # client latency above the threshold, server value not
    unobserved_alerts: int = 0  # valid alerts whose request the client never saw answered
    breaching_windows: int = 0  # client-latency fallback
    alerted_windows: int = 0
    missed: list[dict[str, object]] = field(default_factory=list)
    false_alerts: list[dict[str, object]] = field(default_factory=list)
    inconsistent: list[dict[str, object]] = field(default_factory=list)


def judge_alerting(ctx: JudgeContext) -> Check:
    prm = ctx.params
    answered = ctx.records[ctx.records["status"] != 0]
    alerts = [a for a in ctx.events_of("alert") if "metric" in a.data]
    tally = _Tally()
    for metric, threshold in ctx.thresholds_ms.items():
        endpoint = METRIC_ENDPOINTS.get(metric, metric)
        ep = answered[answered["endpoint"] == endpoint]
        ok = ep[ep["status"] // 100 == 2]  # the service records successes only
        server = pd.to_numeric(ok["server_ms"], errors="coerce").fillna(-1.0).to_numpy()
        metric_alerts = [a for a in alerts if a.data.get("metric") == metric]
        if (server >= 0).any():
            lost = ctx.records[(ctx.records["endpoint"] == endpoint) & (ctx.records["status"] == 0)]
            _judge_server(metric, threshold, ok, server, metric_alerts, lost, prm, tally)
        else:
            _judge_client(metric, threshold, ep, ok, metric_alerts, prm, tally)
    for alert in alerts:
        if alert.data.get("metric") not in ctx.thresholds_ms:
            tally.false_alerts.append({"metric": alert.data.get("metric"), "t": round(alert.t, 3),
                                       "problem": "alert for a metric without a configured threshold"})
    return _verdict(tally, len(alerts), prm)


def _judge_server(metric: str, threshold: float, ok: pd.DataFrame, server: np.ndarray, alerts: list[Event],
                  lost: pd.DataFrame, prm: JudgingParams, tally: _Tally) -> None:
    """Server rule: each sample whose recorded value breaches has its own alert, and vice versa."""
    timed = server >= 0
    lat = ok["latency_ms"].to_numpy()
    done = completion_s(ok).to_numpy()
    tally.samples += int(timed.sum())
    tally.server_timed += int(timed.sum())
    tally.untimed += int((~timed).sum())
    client_over = lat > threshold
    tally.client_breaches += int(client_over.sum())
    tally.client_only += int((client_over & timed & (server <= threshold)).sum())
    for i in np.flatnonzero(timed & (server > lat + prm.alert_match_tolerance_ms)):
        tally.inconsistent.append({"metric": metric, "t": round(float(done[i]), 3), "server_ms": float(server[i]),
                                   "latency_ms": round(float(lat[i]), 3),
                                   "problem": "server value exceeds the client-observed latency"})
    breach = np.flatnonzero(timed & (server > threshold))
    tally.breaching += int(breach.size)
    slack = prm.alert_latency_max_s + prm.clock_skew_s
    unmatched = set(breach.tolist())
    for alert in sorted(alerts, key=lambda a: a.t):
        problem, value = _alert_value_problem(alert.data, threshold)
        if not problem:
            near = [i for i in unmatched if abs(server[i] - value) <= VALUE_MATCH_MS and abs(done[i] - alert.t) <= slack]
            if near:
                unmatched.discard(min(near, key=lambda i: abs(done[i] - alert.t)))
                tally.alerted += 1
                continue
            if _in_flight(lost, alert.t, prm.clock_skew_s):
                tally.unobserved_alerts += 1
                continue
            problem = (f"no sample with server_ms {value:g} ms (+-{VALUE_MATCH_MS:g}) completed within "
                       f"{slack:g} s of the alert")
        tally.false_alerts.append({"metric": metric, "t": round(alert.t, 3),
                                   "value_ms": alert.data.get("value_ms"), "problem": problem})
    for i in sorted(unmatched, key=lambda i: done[i]):
        tally.missed.append({"metric": metric, "breach_s": round(float(done[i]), 3), "server_ms": float(server[i]),
                             "threshold_ms": threshold})


def _judge_client(metric: str, threshold: float, ep: pd.DataFrame, ok: pd.DataFrame, alerts: list[Event],
                  prm: JudgingParams, tally: _Tally) -> None:
    """Fallback for records without server values: windows with a client-side breach need an alert."""
    done = completion_s(ok).to_numpy()
    lat = ok["latency_ms"].to_numpy()
    tally.samples += int(len(ep))
    over = lat > threshold
    tally.client_breaches += int(over.sum())
    first_by_window: dict[int, float] = {}
    for t in sorted(done[over].tolist()):
        first_by_window.setdefault(int(np.floor(t / prm.window_s)), t)
    alert_times = np.array(sorted(a.t for a in alerts))
    for w, t_first in sorted(first_by_window.items()):
        tally.breaching_windows += 1
        lo, hi = t_first - prm.clock_skew_s, t_first + prm.alert_latency_max_s
        if alert_times.size and np.any((alert_times >= lo) & (alert_times <= hi)):
            tally.alerted_windows += 1
        else:
            tally.missed.append({"metric": metric, "window_start_s": w * prm.window_s,
                                 "first_breach_s": round(t_first, 3), "threshold_ms": threshold})
    ep_done, ep_lat = completion_s(ep).to_numpy(), ep["latency_ms"].to_numpy()
    for alert in alerts:
        problem, value = _alert_value_problem(alert.data, threshold)
        if not problem:
            lo, hi = alert.t - prm.alert_latency_max_s - prm.clock_skew_s, alert.t + prm.clock_skew_s
            near = (ep_done >= lo) & (ep_done <= hi)
            if not np.any(near & (ep_lat >= value - prm.alert_match_tolerance_ms)):
                problem = f"no client sample >= {value:g} ms completed in [{lo:.1f}, {hi:.1f}] s"
        if problem:
            tally.false_alerts.append({"metric": metric, "t": round(alert.t, 3),
                                       "value_ms": alert.data.get("value_ms"), "problem": problem})


def _alert_value_problem(data: dict[str, Any], threshold: float) -> tuple[str, float]:
    """Why an alert's own fields are wrong ("" when fine), and its value."""
    try:
        value = float(data["value_ms"])
        alert_threshold = float(data.get("threshold_ms", threshold))
    except (KeyError, TypeError, ValueError):
        return "alert without a numeric value_ms", float("nan")
    if value <= alert_threshold:
        return f"value {value:g} ms does not exceed the alert's threshold {alert_threshold:g} ms", value
    if abs(alert_threshold - threshold) > 1e-6:
        return f"alert threshold {alert_threshold:g} ms differs from the configured {threshold:g} ms", value
    if value <= threshold:
        return f"value {value:g} ms does not exceed the configured threshold {threshold:g} ms", value
    return "", value


def _in_flight(lost: pd.DataFrame, t: float, skew_s: float) -> bool:
    """Whether a request the client never saw answered was in flight at `t` (its value went unseen)."""
    if lost.empty:
        return False
    sent = lost["sent_s"].to_numpy()
    return bool(np.any((sent - skew_s <= t) & (t <= completion_s(lost).to_numpy() + skew_s)))


def _verdict(tally: _Tally, n_alerts: int, prm: JudgingParams) -> Check:
    figures = {"samples": tally.samples, "server_timed_samples": tally.server_timed,
               "untimed_samples": tally.untimed, "alerts": n_alerts, "breaching_samples": tally.breaching,
               "alerted_samples": tally.alerted, "client_breaches": tally.client_breaches,
               "client_only_breaches": tally.client_only, "unobserved_alerts": tally.unobserved_alerts,
               "breaching_windows": tally.breaching_windows, "alerted_windows": tally.alerted_windows,
               "missed_alerts": len(tally.missed), "false_alerts": len(tally.false_alerts),
               "inconsistent_samples": len(tally.inconsistent)}
    evidence = (tally.missed + tally.false_alerts + tally.inconsistent)[:MAX_EVIDENCE]
    parts = []
    if tally.missed:
        m = tally.missed[0]
        first = m.get("breach_s", m.get("first_breach_s"))
        parts.append(f"{len(tally.missed)} breaching sample(s)/window(s) without a matching alert within "
                     f"{prm.alert_latency_max_s:g} s (first: {m['metric']} breached at {first} s)")
    if tally.false_alerts:
        f = tally.false_alerts[0]
        parts.append(f"{len(tally.false_alerts)} alert(s) without a matching sample (first: {f['metric']} at "
                     f"{f['t']} s: {f['problem']})")
    if tally.inconsistent:
        s = tally.inconsistent[0]
        parts.append(f"{len(tally.inconsistent)} sample(s) whose server value exceeds the client-observed "
                     f"latency (first: {s['metric']} at {s['t']} s: {s['server_ms']} > {s['latency_ms']} ms)")
    if parts:
        return Check("P30", "property", NAME, VERDICT_FAIL, "; ".join(parts), figures, evidence)
    if tally.samples < prm.min_samples:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"only {tally.samples} samples (need {prm.min_samples})", figures)
    if tally.breaching == 0 and tally.breaching_windows == 0:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no recorded value exceeded a threshold, so alert firing was never exercised "
                     f"({n_alerts} alerts, none false; {tally.client_only} client-only breaches)", figures)
    return Check("P30", "property", NAME, VERDICT_PASS,
                 f"all {tally.breaching} server-side breaching samples (and {tally.breaching_windows} "
                 f"client-rule windows) alerted within {prm.alert_latency_max_s:g} s; all {n_alerts} alerts "
                 f"match a breaching sample; {tally.client_only} client-only breaches (server value within "
                 "threshold) correctly did not alert", figures)
