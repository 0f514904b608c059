"""The report's charts: matplotlib (Agg, no pyplot state), one function per chart, bucketed data only.

Conventions: time axis = seconds since run start; the same colour for an endpoint, a breaker state,
a status class or a severity in every chart; fault windows shaded and labelled everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global state; savefig renders PNG with Agg

from harness.outputs import ENDPOINT_METRICS
from harness.report import data as rd

ENDPOINT_COLORS = {"x402": "#1f77b4", "x402-v2": "#17becf", "channel": "#ff7f0e", "settlement": "#2ca02c",
                   "decision": "#9467bd", "escrow": "#8c564b"}
STATE_COLORS = {"CLOSED": "#2ca02c", "HALF_OPEN": "#f2c12e", "OPEN": "#d62728"}
STATUS_COLORS = {"2xx": "#2ca02c", "4xx": "#ff7f0e", "429": "#9467bd", "5xx": "#d62728", "no response": "#222222"}
SEVERITY_COLORS = {"LOW": "#7f9fbf", "MEDIUM": "#f2c12e", "HIGH": "#ff7f0e", "CRITICAL": "#d62728"}
FAULT_COLORS = {"horizon-primary": "#d62728", "horizon-secondary": "#1f77b4"}
VERDICT_COLORS = {"pass": "#2ca02c", "fail": "#d62728", "inconclusive": "#999999"}
DPI = 100
WIDTH_IN = 11.0
MAX_CURVES_ENDPOINTS = 8


def endpoint_color(endpoint: str) -> str:
    return ENDPOINT_COLORS.get(endpoint, "#7f7f7f")


def shade_faults(ax: Axes, faults: list[dict[str, Any]], label: bool = True) -> None:
    """Shade each fault window; label it with the proxy, toxic and attributes at the top."""
    for i, fault in enumerate(faults):
        color = FAULT_COLORS.get(str(fault.get("proxy")), "#7f7f7f")
        ax.axvspan(float(fault["at_s"]), float(fault["end_s"]), color=color, alpha=0.12, lw=0)
        if label:
            ax.text(float(fault["at_s"]), 1.0 - 0.09 * (i % 3), " " + fault_label(fault), transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", ha="left", color=color, clip_on=True)


def fault_label(fault: dict[str, Any]) -> str:
    attrs = ",".join(f"{k}={v}" for k, v in sorted((fault.get("attributes") or {}).items()))
    tox = fault.get("toxicity", 1.0)
    return f"{fault.get('proxy')}/{fault.get('toxic')}" + (f"({attrs})" if attrs else "") + (
        f" p={tox:g}" if tox not in (None, 1, 1.0) else "")


def _figure(height: float) -> Figure:
    return Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _thresholds(run: rd.RunData) -> dict[str, float]:
    return {r["metric"]: r["threshold_ms"] for r in rd.target_rows(run.checks) if r["threshold_ms"]}


def chart_latency_over_time(run: rd.RunData) -> Figure:
    """2. p50/p95/p99 per endpoint per time bucket, target line, faults shaded."""
    endpoints = list(run.requests.ok_counts)
    bucket, table = run.latency_bucket_s, run.latency[0]
    fig = _figure(max(2.6, 2.0 * max(1, len(endpoints))))
    axes = fig.subplots(max(1, len(endpoints)), 1, sharex=True, squeeze=False)[:, 0]
    if not endpoints:
        _empty(axes[0], "no successful requests recorded")
        return fig
    thresholds = _thresholds(run)
    grid = np.arange(0.0, run.duration_s + bucket, bucket)
    for ax, ep in zip(axes, endpoints, strict=True):
        rows = table[table["endpoint"] == ep].set_index("t").reindex(grid)  # empty buckets break the lines
        color = endpoint_color(ep)
        x = grid + bucket / 2
        ax.plot(x, rows["p50"], color=color, lw=1.0, ls=":", label="p50")
        ax.plot(x, rows["p95"], color=color, lw=1.8, label="p95")
        ax.plot(x, rows["p99"], color=color, lw=1.0, ls="--", label="p99")
        metric = ENDPOINT_METRICS.get(ep, ep)
        if metric in thresholds:
            ax.axhline(thresholds[metric], color="#d62728", lw=1.0, ls="-.", label=f"target {thresholds[metric]:g} ms")
        shade_faults(ax, run.faults, label=ax is axes[0])
        ax.set_ylabel(f"{ep}\nlatency (ms)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel(f"time since run start (s), {bucket:g} s buckets")
    axes[-1].set_xlim(0, run.duration_s)
    fig.suptitle("Latency over time per endpoint (2xx responses)")
    return fig


def chart_throughput(run: rd.RunData) -> Figure:
    """3. Requests per second by status class and error rate, faults shaded."""
    bucket = rd.bucket_seconds(run.duration_s, len(run.requests))
    table = rd.throughput_over_time(run.requests, bucket)
    fig = _figure(4.0)
    ax = fig.subplots()
    if table.empty:
        _empty(ax, "no requests recorded")
        return fig
    x = table.index.to_numpy(dtype=float) + bucket / 2
    ax.stackplot(x, *[table[c].to_numpy() for c in rd.STATUS_CLASSES], labels=list(rd.STATUS_CLASSES),
                 colors=[STATUS_COLORS[c] for c in rd.STATUS_CLASSES], alpha=0.8)
    total = table.sum(axis=1).replace(0, np.nan)
    errors = (table["5xx"] + table["no response"]) / total * 100
    ax2 = ax.twinx()
    ax2.plot(x, errors.to_numpy(), color="#000000", lw=1.2, label="error rate (5xx + no response)")
    ax2.set_ylabel("error rate (%)")
    ax2.set_ylim(0, max(5.0, float(np.nanmax(errors.to_numpy(), initial=0.0)) * 1.1))
    shade_faults(ax, run.faults)
    ax.set_xlabel(f"time since run start (s), {bucket:g} s buckets")
    ax.set_ylabel("requests per second")
    ax.set_xlim(0, run.duration_s)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper left", fontsize=7, ncol=3)
    ax.set_title("Throughput by status class and error rate")
    return fig


def chart_breakers(run: rd.RunData) -> Figure:
    """4. Circuit-breaker state bands per Horizon endpoint, under one fault row per proxy, same time axis."""
    bands = rd.breaker_intervals(run.events, run.duration_s)
    proxies = sorted({str(f.get("proxy")) for f in run.faults})
    rows: list[tuple[str, Any]] = [(f"faults: {p}", p) for p in proxies] + list(bands.items())
    fig = _figure(1.3 + 0.6 * max(1, len(rows)))
    ax = fig.subplots()
    for y, (_name, row) in enumerate(rows):
        if isinstance(row, str):
            for fault in (f for f in run.faults if str(f.get("proxy")) == row):
                start, end = float(fault["at_s"]), float(fault["end_s"])
                ax.broken_barh([(start, end - start)], (y - 0.3, 0.6), color=FAULT_COLORS.get(row, "#7f7f7f"),
                               alpha=0.45)
                label = fault_label(fault).split("/", 1)[-1]
                ax.text(start, y, " " + label, va="center", fontsize=7, clip_on=True)
            continue
        for state in STATE_COLORS:
            spans = [(lo, hi - lo) for lo, hi, s in row if s == state]
            if spans:
                ax.broken_barh(spans, (y - 0.35, 0.7), color=STATE_COLORS[state], label=state)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_ylim(-0.6, max(1, len(rows)) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(0, run.duration_s)
    ax.set_xlabel("time since run start (s)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="lower right", fontsize=7, ncol=3)
    else:
        ax.text(0.5, 0.2, "no breaker transitions recorded", transform=ax.transAxes, ha="center",
                fontsize=9, color="#666666")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("Circuit-breaker states (CLOSED / HALF_OPEN / OPEN) and fault schedule")
    return fig


def chart_rate_limits(run: rd.RunData) -> Figure:
    """5. Admitted vs rejected (429) per client kind, and per-window admissions of the most limited key."""
    table = rd.rate_limit_table(run.requests)
    fig = _figure(4.0)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.4])
    if table.empty:
        _empty(left, "no requests recorded")
        _empty(right, "")
        return fig
    y = np.arange(len(table))
    left.barh(y, table["admitted"], color=STATUS_COLORS["2xx"], label="admitted")
    left.barh(y, table["rejected"], left=table["admitted"], color=STATUS_COLORS["429"], label="rejected (429)")
    left.set_yticks(y, table.index.astype(str))
    left.set_xlabel("requests")
    left.legend(fontsize=7)
    left.set_title("Admitted vs rejected per client kind")
    limits = run.summary.get("rate_limits") or run.manifest.get("rate_limits") or {}
    most = rd.most_limited(run.requests)
    if most is None:
        _empty(right, "no request was rate limited")
        return fig
    key, endpoint = most
    limit = limits.get(endpoint) or {}
    window = float(limit.get("window_s", rd.bucket_seconds(run.duration_s)))
    counts = rd.key_windows(run.requests, key, endpoint, window)
    x = counts.index + window / 2
    right.bar(x, counts["admitted"].to_numpy(), width=window * 0.9, color=STATUS_COLORS["2xx"], label="admitted")
    right.bar(x, counts["rejected"].to_numpy(), width=window * 0.9, bottom=counts["admitted"].to_numpy(),
              color=STATUS_COLORS["429"], label="rejected (429)")
    if "limit" in limit:
        right.axhline(float(limit["limit"]), color="#d62728", ls="-.", lw=1.2,
                      label=f"limit {limit['limit']} per {window:g} s ({limit.get('algorithm', '')})")
    right.set_xlabel(f"time since run start (s), {window:g} s windows")
    right.set_ylabel("requests per window")
    right.set_title(f"Most rate-limited client key on {endpoint}")
    right.legend(fontsize=7)
    right.grid(True, alpha=0.3)
    return fig


def chart_error_records(run: rd.RunData) -> Figure:
    """6. Error records by severity over time, alert markers per metric."""
    bucket = rd.bucket_seconds(run.duration_s, max_buckets=60)
    table = rd.error_records_over_time(run.events, bucket)
    alerts = rd.alert_times(run.events)
    fig = _figure(4.0)
    ax = fig.subplots()
    if table.empty and alerts.empty:
        _empty(ax, "no error records and no alerts")
        return fig
    bottom = np.zeros(len(table))
    for severity in [s for s in SEVERITY_COLORS if s in table.columns] + [c for c in table.columns
                                                                          if c not in SEVERITY_COLORS]:
        values = table[severity].to_numpy()
        ax.bar(table.index.to_numpy(dtype=float) + bucket / 2, values, width=bucket * 0.9, bottom=bottom,
               color=SEVERITY_COLORS.get(severity, "#7f7f7f"), label=severity)
        bottom += values
    for metric, group in alerts.groupby("metric"):
        endpoint = next((e for e, m in ENDPOINT_METRICS.items() if m == metric), "")
        ax.plot(group["t"], np.full(len(group), -0.04), "v", color=endpoint_color(endpoint), ms=6,
                transform=ax.get_xaxis_transform(), clip_on=False, label=f"alert: {metric}")
    shade_faults(ax, run.faults)
    ax.set_xlim(0, run.duration_s)
    ax.set_xlabel(f"time since run start (s), {bucket:g} s buckets; triangles = alerts")
    ax.set_ylabel("error records per bucket")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.grid(True, alpha=0.3)
    ax.set_title("Error records by severity, with alerts")
    return fig


def chart_latency_distribution(run: rd.RunData) -> Figure:
    """7. HDR-style percentile curve per endpoint (log axes), targets marked."""
    curves = run.latency[1]
    fig = _figure(4.5)
    ax = fig.subplots()
    if not curves:
        _empty(ax, "no successful requests recorded")
        return fig
    x = 1.0 / (1.0 - np.asarray(rd.CURVE_PERCENTILES) / 100.0)
    thresholds = _thresholds(run)
    for ep, values in list(sorted(curves.items()))[:MAX_CURVES_ENDPOINTS]:
        ax.plot(x, np.maximum(values, 1e-3), color=endpoint_color(ep), lw=1.6, label=ep)
        metric = ENDPOINT_METRICS.get(ep, ep)
        if metric in thresholds:
            ax.axhline(thresholds[metric], color=endpoint_color(ep), ls="-.", lw=0.9, alpha=0.8)
    ax.axvline(20.0, color="#555555", lw=0.8, ls=":")
    ax.text(20.0, 0.98, " p95", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 20, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks, ["0%", "50%", "90%", "95%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile (dash-dot lines: p95 targets in the endpoint's colour)")
    ax.set_ylabel("latency (ms)")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Latency distribution per endpoint (2xx)")
    return fig


def chart_targets(run: rd.RunData) -> Figure:
    """8. p95 against its threshold per metric (steady-state windows only), as % of the target."""
    rows = rd.target_rows(run.checks)
    fig = _figure(3.6)
    ax = fig.subplots()
    rows = [r for r in rows if r["threshold_ms"]]
    if not rows:
        _empty(ax, "no target checks in summary.json")
        return fig
    y = np.arange(len(rows))
    for i, row in enumerate(rows):
        color = VERDICT_COLORS.get(row["verdict"], "#999999")
        if row["p95"] is None:
            ax.text(2, i, "  not measured", va="center", fontsize=8, color="#666666")
            continue
        pct = 100.0 * row["p95"] / row["threshold_ms"]
        ax.barh(i, pct, color=color, alpha=0.85)
        for key, marker in (("p50", "|"), ("p99", "x")):
            if row[key] is not None:
                ax.plot(100.0 * row[key] / row["threshold_ms"], i, marker, color="#000000", ms=8)
        right = max(pct, 100.0 * (row["p99"] or 0.0) / row["threshold_ms"])
        ax.text(right + 2, i, f"  p95 {row['p95']:.0f} / {row['threshold_ms']:.0f} ms ({row['verdict']})",
                va="center", fontsize=8)
    ax.axvline(100.0, color="#d62728", ls="-.", lw=1.2, label="target (100%)")
    ax.set_yticks(y, [r["metric"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max([150.0] + [100.0 * (r["p99"] or r["p95"] or 0) / r["threshold_ms"] * 1.35 for r in rows]))
    ax.set_xlabel("latency as % of the p95 target (bar = p95, | = p50, x = p99)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("Targets: steady-state p95 against threshold")
    return fig


def chart_reconciliation(run: rd.RunData) -> Figure:
    """9. Settlements acknowledged / applied / lost / duplicated / unknown resolved."""
    rec = run.summary.get("reconciliation") or {}
    names = ["acknowledged", "applied", "lost", "duplicated", "unknown_resolved"]
    fig = _figure(3.2)
    ax = fig.subplots()
    if not rec:
        _empty(ax, "no reconciliation in summary.json")
        return fig
    values = [int(rec.get(n, 0) or 0) for n in names]
    colors = ["#1f77b4", "#2ca02c", "#d62728", "#d62728", "#7f7f7f"]
    bars = ax.bar(names, values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{value}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("settlements")
    ax.set_title("Reconciliation: client acknowledgements vs ledger history")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


CHARTS: dict[str, Callable[[rd.RunData], Figure]] = {
    "latency_over_time": chart_latency_over_time,
    "throughput": chart_throughput,
    "breaker_states": chart_breakers,
    "rate_limits": chart_rate_limits,
    "error_records": chart_error_records,
    "latency_distribution": chart_latency_distribution,
    "targets": chart_targets,
    "reconciliation": chart_reconciliation,
}


def render_charts(run: rd.RunData, out_dir: Path) -> dict[str, Path]:
    """Write every chart as out_dir/<name>.png; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fn in CHARTS.items():
        fig = fn(run)
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        paths[name] = path
    return paths
