"""P30: alerts fire iff a recorded value exceeds its threshold (end-to-end evidence).

The service reports the value it recorded for a target metric in a `Server-Timing` header, which
the load client keeps as `RequestRecord.server_ms`. Alerts are compared with what the service
recorded, so client-side queueing outside the service's measured span cannot fake a missed alert.
A metric whose successful responses carry no server value cannot be judged: it is listed in
`untimed_metrics` and keeps the check from passing ("not observable", docs/evidence-contract.md).
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
    untimed_metrics: list[str] = field(default_factory=list)  # successes, but no Server-Timing value at all
    missed: list[dict[str, object]] = field(default_factory=list)
    false_alerts: list[dict[str, object]] = field(default_factory=list)
    inconsistent: list[dict[str, object]] = field(default_factory=list)


def judge_alerting(ctx: JudgeContext) -> Check:
    prm = ctx.params
    alerts = [a for a in ctx.events_of("alert") if "metric" in a.data]
    tally = _Tally()
    for metric, threshold in ctx.thresholds_ms.items():
        endpoint = METRIC_ENDPOINTS.get(metric, metric)
        ep = ctx.frame(["sent_s", "status", "latency_ms", "server_ms"], endpoint=[endpoint])
        ok = ep[ep["status"] // 100 == 2]  # the service records successes only
        server = pd.to_numeric(ok["server_ms"], errors="coerce").fillna(-1.0).to_numpy()
        metric_alerts = [a for a in alerts if a.data.get("metric") == metric]
        if (server >= 0).any():
            lost = ep[ep["status"] == 0]
            _judge_server(metric, threshold, ok, server, metric_alerts, lost, prm, tally)
        elif len(ok):
            tally.untimed_metrics.append(metric)
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
    for k in sorted(unmatched, key=lambda k: done[k]):
        tally.missed.append({"metric": metric, "breach_s": round(float(done[k]), 3), "server_ms": float(server[k]),
                             "threshold_ms": threshold})


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
               "untimed_metrics": ",".join(tally.untimed_metrics) or "none",
               "missed_alerts": len(tally.missed), "false_alerts": len(tally.false_alerts),
               "inconsistent_samples": len(tally.inconsistent)}
    evidence = (tally.missed + tally.false_alerts + tally.inconsistent)[:MAX_EVIDENCE]
    parts = []
    if tally.missed:
        m = tally.missed[0]
        parts.append(f"{len(tally.missed)} breaching sample(s) without a matching alert within "
                     f"{prm.alert_latency_max_s:g} s (first: {m['metric']} breached at {m['breach_s']} s)")
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
    if tally.untimed_metrics:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"not observable: no Server-Timing value for {', '.join(tally.untimed_metrics)}, so what the "
                     "target recorded (and had to alert on) is unknown", figures)
    if tally.samples < prm.min_samples:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"only {tally.samples} samples (need {prm.min_samples})", figures)
    if tally.breaching == 0:
        return Check("P30", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no recorded value exceeded a threshold, so alert firing was never exercised "
                     f"({n_alerts} alerts, none false; {tally.client_only} client-only breaches)", figures)
    return Check("P30", "property", NAME, VERDICT_PASS,
                 f"all {tally.breaching} server-side breaching samples alerted within {prm.alert_latency_max_s:g} s; "
                 f"all {n_alerts} alerts match a breaching sample; {tally.client_only} client-only breaches "
                 "(server value within threshold) correctly did not alert", figures)
