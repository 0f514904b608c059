"""Compare runs side by side (nightly trend): verdicts per check, target p95 trend, p95 regressions.

A regression is a target whose p95 in a run exceeds the baseline's p95 by more than `tolerance_pct`
percent (the baseline is `--baseline` or else the first run). Both runs must have measured it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from harness.outputs import SUMMARY_FILE
from harness.report.charts import DPI, VERDICT_COLORS, WIDTH_IN
from harness.report.data import ReportError, read_json, target_rows
from reference_impl.redaction import redact_text

COMPARE_FILE = "compare.html"
VERDICT_LEVEL = {"pass": 0, "inconclusive": 1, "fail": 2}


@dataclass(frozen=True, slots=True)
class RunSummary:
    label: str
    path: Path
    summary: dict[str, Any]

    @property
    def verdicts(self) -> dict[str, str]:
        return {str(c.get("id")): str(c.get("verdict")) for c in self.summary.get("checks") or []}

    @property
    def p95(self) -> dict[str, float | None]:
        return {r["metric"]: r["p95"] for r in target_rows(list(self.summary.get("checks") or []))}

    @property
    def thresholds(self) -> dict[str, float | None]:
        return {r["metric"]: r["threshold_ms"] for r in target_rows(list(self.summary.get("checks") or []))}


@dataclass
class Comparison:
    runs: list[RunSummary]
    baseline: RunSummary
    tolerance_pct: float
    regressions: list[dict[str, Any]] = field(default_factory=list)
    verdict_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def check_ids(self) -> list[str]:
        ids: dict[str, None] = {}
        for run in [self.baseline, *self.runs]:
            ids.update(dict.fromkeys(run.verdicts))
        return list(ids)

    @property
    def metrics(self) -> list[str]:
        names: dict[str, None] = {}
        for run in [self.baseline, *self.runs]:
            names.update(dict.fromkeys(run.p95))
        return list(names)


def load_summary(run_dir: Path | str) -> RunSummary:
    path = Path(run_dir)
    summary = read_json(path / SUMMARY_FILE)
    if not summary:
        raise ReportError(f"{path} has no {SUMMARY_FILE}")
    return RunSummary(str(summary.get("run_id") or path.name), path, summary)


def compare_runs(run_dirs: list[Path | str], baseline: Path | str | None = None,
                 tolerance_pct: float = 10.0) -> Comparison:
    """Load the runs and flag p95 regressions and verdict changes against the baseline."""
    if not run_dirs:
        raise ReportError("compare needs at least one run folder")
    if not (tolerance_pct >= 0 and np.isfinite(tolerance_pct)):
        raise ReportError(f"tolerance must be a non-negative percentage, got {tolerance_pct}")
    runs = [load_summary(d) for d in run_dirs]
    base = load_summary(baseline) if baseline is not None else runs[0]
    result = Comparison(runs, base, tolerance_pct)
    for run in runs:
        if run.path.resolve() == base.path.resolve():
            continue
        for metric, p95 in run.p95.items():
            ref = base.p95.get(metric)
            if p95 is not None and ref is not None and ref > 0 and p95 > ref * (1 + tolerance_pct / 100.0):
                result.regressions.append({"run": run.label, "metric": metric, "baseline_p95_ms": round(ref, 3),
                                           "p95_ms": round(p95, 3), "change_pct": round(100.0 * (p95 / ref - 1), 1)})
        for cid, verdict in run.verdicts.items():
            before = base.verdicts.get(cid)
            if before is not None and VERDICT_LEVEL.get(verdict, 1) > VERDICT_LEVEL.get(before, 1):
                result.verdict_changes.append({"run": run.label, "check": cid, "baseline": before, "now": verdict})
    return result


def chart_p95_trend(cmp: Comparison) -> Figure:
    """p95 per metric per run, as % of its threshold, baseline dashed."""
    fig = Figure(figsize=(WIDTH_IN, 4.2), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    labels = [r.label for r in cmp.runs]
    x = np.arange(len(cmp.runs))
    for i, metric in enumerate(cmp.metrics):
        color = f"C{i}"
        thr = next((r.thresholds.get(metric) for r in [cmp.baseline, *cmp.runs] if r.thresholds.get(metric)), None)
        scale = 100.0 / thr if thr else 1.0
        ys = [r.p95.get(metric) for r in cmp.runs]
        ax.plot(x, [np.nan if y is None else y * scale for y in ys], "o-", color=color, label=metric)
        ref = cmp.baseline.p95.get(metric)
        if ref is not None:
            ax.axhline(ref * scale * (1 + cmp.tolerance_pct / 100), color=color, ls=":", lw=0.8)
    ax.axhline(100.0, color="#d62728", ls="-.", lw=1.2, label="target (100%)")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("p95 as % of the target")
    ax.set_xlabel(f"run (dotted: baseline p95 + {cmp.tolerance_pct:g}% tolerance)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title(f"Target p95 trend (baseline: {cmp.baseline.label})")
    return fig


def chart_verdicts(cmp: Comparison) -> Figure:
    """A check x run grid coloured by verdict."""
    ids = cmp.check_ids
    fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.28 * max(1, len(ids))), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    for col, run in enumerate(cmp.runs):
        for row, cid in enumerate(ids):
            verdict = run.verdicts.get(cid, "")
            ax.add_patch(_rect(col, row, VERDICT_COLORS.get(verdict, "#ffffff")))
            ax.text(col + 0.5, row + 0.5, verdict or "-", ha="center", va="center", fontsize=7, color="#ffffff"
                    if verdict else "#999999")
    ax.set_xlim(0, len(cmp.runs))
    ax.set_ylim(len(ids), 0)
    ax.set_xticks(np.arange(len(cmp.runs)) + 0.5, [r.label for r in cmp.runs], rotation=20, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(ids)) + 0.5, ids, fontsize=7)
    ax.set_title("Verdict per check and run")
    return fig


def _rect(col: int, row: int, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((col + 0.03, row + 0.05), 0.94, 0.9, color=color)


def write_comparison(cmp: Comparison, out_dir: Path | str) -> Path:
    """Write compare.html (charts embedded) and its PNGs into `out_dir`; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, fn in (("compare_p95_trend", chart_p95_trend), ("compare_verdicts", chart_verdicts)):
        path = out / f"{name}.png"
        fn(cmp).savefig(path, dpi=DPI)
        images[name] = base64.b64encode(path.read_bytes()).decode("ascii")
    page = _html(cmp, images)
    (out / COMPARE_FILE).write_text(page)
    return out / COMPARE_FILE


def _e(value: Any) -> str:
    return html.escape(redact_text(str(value)))


def _html(cmp: Comparison, images: dict[str, str]) -> str:
    head = "".join(f"<th>{_e(r.label)}</th>" for r in cmp.runs)
    verdict_rows = "".join(
        f"<tr><td>{_e(cid)}</td>" + "".join(f"<td class=\"{_e(r.verdicts.get(cid, ''))}\">{_e(r.verdicts.get(cid, '-'))}"
                                            "</td>" for r in cmp.runs) + "</tr>" for cid in cmp.check_ids)
    p95_rows = "".join(
        f"<tr><td>{_e(m)}</td><td>{_e(cmp.baseline.p95.get(m, '-'))}</td>"
        + "".join(f"<td>{_e('-' if (v := r.p95.get(m)) is None else round(v, 1))}</td>" for r in cmp.runs) + "</tr>"
        for m in cmp.metrics)
    if cmp.regressions:
        flag = ("<p id=\"regression\" class=\"fail\"><b>REGRESSION</b>: " + "; ".join(
            f"{_e(g['run'])}: {_e(g['metric'])} p95 {_e(g['p95_ms'])} ms vs baseline {_e(g['baseline_p95_ms'])} ms "
            f"(+{_e(g['change_pct'])}%)" for g in cmp.regressions) + "</p>")
    else:
        flag = f"<p id=\"regression\" class=\"pass\">no p95 regression beyond {cmp.tolerance_pct:g}%</p>"
    changes = "".join(f"<li>{_e(c['run'])}: {_e(c['check'])} {_e(c['baseline'])} &rarr; {_e(c['now'])}</li>"
                      for c in cmp.verdict_changes) or "<li>none</li>"
    imgs = "".join(f"<figure><img alt=\"{_e(n)}\" src=\"data:image/png;base64,{d}\"><figcaption>{_e(n)}.png"
                   "</figcaption></figure>" for n, d in images.items())
    css = ("body{font-family:system-ui,sans-serif;max-width:1180px;margin:24px auto;color:#222}table{border-collapse:"
           "collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px}.pass{color:#1a7f1a}.fail{color:#c62828}"
           ".inconclusive{color:#777}img{max-width:100%}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>harness compare</title>"
            f"<style>{css}</style></head><body><h1>Run comparison</h1><p>baseline: {_e(cmp.baseline.label)}; "
            f"tolerance {cmp.tolerance_pct:g}%</p>{flag}<h2>Verdicts that got worse</h2><ul>{changes}</ul>"
            f"<h2>Verdict per check</h2><table><tr><th>check</th>{head}</tr>{verdict_rows}</table>"
            f"<h2>Target p95 (ms)</h2><table><tr><th>metric</th><th>baseline</th>{head}</tr>{p95_rows}</table>"
            f"{imgs}</body></html>\n")
