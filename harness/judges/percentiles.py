"""Percentile truth: the quantiles the target reports in `GET /metrics` against the values it sent in
`Server-Timing`, within the error bound its histogram states.

The target's export (read once at the end of the run, kept as `metrics.prom`, handed to the judges as
`JudgeContext.metrics_text`, parsed with prometheus_client)
holds a summary per metric whose HELP names the metric and the bound (`settlement.finality in milliseconds
(quantiles within 1%)`). Every value the target records is the one it sends in `Server-Timing` on that
response (`server_ms` of the client records), so the exact quantile of those values is known. A reported
q-quantile must lie within the bound of the exact one (numpy-linear: between the order statistics around
rank q*(n-1)); when the target counted `m` values more than the clients saw (answers lost on the way), the
bracket widens by `m` ranks on each side. A target that counted fewer values than it sent, or a quantile
outside the bracket, is a finding; a metric with fewer than `min_samples` values is not judged.
"""

from __future__ import annotations

import math
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.outputs import ENDPOINT_METRICS

NAME = "percentile truth: the target's reported percentiles agree with its Server-Timing values within the stated bound"
METRICS_FILE = "metrics.prom"
_HELP = re.compile(r"^(?P<name>[A-Za-z0-9_.]+) in milliseconds \(quantiles within (?P<pct>[0-9.]+)%\)")
MAX_LOST_SHARE = 0.05  # more values counted than seen: beyond this share the comparison says too little


def reported_summaries(text: str) -> dict[str, dict[str, Any]]:
    """metric name -> {"bound": relative error, "count": n, "quantiles": {q: value}} from Prometheus text."""
    out: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        match = _HELP.match(family.documentation or "")
        if family.type != "summary" or not match:
            continue
        entry: dict[str, Any] = {"bound": float(match["pct"]) / 100.0, "count": 0, "quantiles": {}}
        for sample in family.samples:
            if sample.name.endswith("_count"):
                entry["count"] = int(sample.value)
            elif "quantile" in sample.labels:
                entry["quantiles"][float(sample.labels["quantile"])] = float(sample.value)
        out[match["name"]] = entry
    return out


def bracket(values: list[float], q: float, slack: int, bound: float) -> tuple[float, float]:
    """The interval a q-quantile within `bound` of the sorted `values` may take, `slack` ranks either side."""
    h = (len(values) - 1) * q
    lo = max(0, math.floor(h) - slack)
    hi = min(len(values) - 1, math.ceil(h) + slack)
    return values[lo] * (1 - bound), values[hi] * (1 + bound)


def compare(metric: str, reported: dict[str, Any], values: list[float]) -> tuple[list[str], list[dict[str, Any]]]:
    """(problems, per-quantile rows) for one metric."""
    values = sorted(values)
    extra = reported["count"] - len(values)
    problems: list[str] = []
    if extra < 0:
        problems.append(f"{metric}: the target counts {reported['count']} values but sent {len(values)} in Server-Timing")
    rows = []
    for q, value in sorted(reported["quantiles"].items()):
        lo, hi = bracket(values, q, max(0, extra), reported["bound"])
        ok = lo - 1e-9 <= value <= hi + 1e-9
        rows.append({"metric": metric, "quantile": q, "reported_ms": value, "allowed_ms": [round(lo, 3), round(hi, 3)],
                     "within_bound": ok})
        if not ok:
            problems.append(f"{metric} q{q:g} reported {value:g} ms, Server-Timing values allow "
                            f"{lo:.3f}-{hi:.3f} ms (bound {reported['bound']:.0%})")
    return problems, rows


def judge_percentiles(ctx: JudgeContext) -> Check:
    if not ctx.metrics_text:
        return Check("percentiles", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "the target's GET /metrics text was not kept for this run", {})
    summaries = reported_summaries(ctx.metrics_text)
    rec = ctx.frame(["endpoint", "server_ms"])
    rec = rec[rec["server_ms"] >= 0]
    problems: list[str] = []
    evidence: list[object] = []
    judged: list[str] = []
    thin: list[str] = []
    for endpoint, metric in ENDPOINT_METRICS.items():
        values = [float(v) for v in rec.loc[rec["endpoint"] == endpoint, "server_ms"]]
        reported = summaries.get(metric)
        if reported is None or len(values) < ctx.params.min_samples:
            if values:
                thin.append(metric)
            continue
        if reported["count"] - len(values) > MAX_LOST_SHARE * reported["count"]:
            thin.append(metric)
            continue
        found, rows = compare(metric, reported, values)
        problems += found
        evidence += [r for r in rows if not r["within_bound"]] or rows[:1]
        judged.append(metric)
    figures = {"metrics_reported": len(summaries), "metrics_judged": len(judged), "not_judged": thin}
    if problems:
        return Check("percentiles", "invariant", NAME, VERDICT_FAIL, "; ".join(problems[:5]), figures, evidence[:20])
    if not judged:
        return Check("percentiles", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no metric had both a reported summary and enough Server-Timing values", figures)
    return Check("percentiles", "invariant", NAME, VERDICT_PASS,
                 f"{len(judged)} metrics ({', '.join(judged)}): every reported quantile within its stated bound of "
                 "the Server-Timing values", figures, evidence[:20])
