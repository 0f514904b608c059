"""report.html: one self-contained file (inline CSS, charts as base64 PNG), readable in print.

Every string taken from the run folder is HTML-escaped and passed through secret redaction, and
the finished page is scanned before it is written.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.report.data import ReportError, RunData
from harness.run.runbooks import runbook_url
from reference_impl.redaction import find_secrets, redact_text

VERDICT_CLASS = {"pass": "pass", "fail": "fail", "money-lost": "fail", "error": "fail", "inconclusive": "inc"}
CHART_TITLES = {
    "latency_over_time": "Latency over time per endpoint (p50 / p95 / p99), targets and faults",
    "throughput": "Throughput and error rate by status class",
    "breaker_states": "Circuit-breaker states against the fault schedule",
    "rate_limits": "Rate limiting: admitted vs rejected",
    "error_records": "Error records by severity, with alerts",
    "latency_distribution": "Latency distribution (percentile curve)",
    "targets": "Targets: steady-state p95 against threshold",
    "reconciliation": "Reconciliation: acknowledged / applied / lost / duplicated",
}
MAX_EVIDENCE_ITEMS = 20
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;
vertical-align:top} th{background:#f3f3f3} .verdict{font-weight:bold;text-transform:uppercase;white-space:nowrap}
.pass{color:#1a7f1a} .fail{color:#c62828} .inc{color:#777} .badge{display:inline-block;padding:4px 10px;
border-radius:4px;color:#fff;font-weight:bold} .badge.pass{background:#1a7f1a} .badge.fail{background:#c62828}
.badge.inc{background:#777} figure{margin:18px 0;page-break-inside:avoid} img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#444} details{font-size:12px} pre{white-space:pre-wrap;word-break:break-all;
background:#fafafa;padding:6px} .meta td:first-child{width:180px;font-weight:bold}
@media print{body{margin:0;max-width:none} details{display:none}}
"""


def esc(value: Any) -> str:
    """Redacted, HTML-escaped text of any value."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return html.escape(redact_text(text))


def key_figures(check: Mapping[str, Any]) -> str:
    """The one-line figure shown in the scorecard."""
    fig = check.get("figures") or {}
    if check.get("kind") == "target":
        return f"p95 {fig.get('p95_ms', 'n/a')} ms / {fig.get('threshold_ms', '?')} ms (n={fig.get('samples', 0)})"
    if check.get("kind") == "recovery":
        return f"recovered after {fig.get('recovery_s', 'n/a')} s (RTO {fig.get('rto_s', '?')} s)"
    if check.get("kind") == "capacity":
        if fig.get("knee_found"):
            return (f"knee at {fig.get('knee_offered_rps', '?')} req/s offered ({fig.get('knee_achieved_rps', '?')} "
                    f"achieved, {fig.get('first_broken_metric', '?')} broke); held at "
                    f"{fig.get('last_ok_offered_rps', 'n/a')} req/s")
        if check.get("verdict") != "pass":
            return f"no knee seen; held up to {fig.get('last_ok_offered_rps', 'n/a')} req/s, top of ramp not measured"
        return f"no knee up to {fig.get('last_ok_offered_rps', 'n/a')} req/s offered"
    scalars = [(k, v) for k, v in fig.items() if isinstance(v, int | float | str) and not isinstance(v, bool)]
    return ", ".join(f"{k}={v}" for k, v in scalars[:4])


def observability_cell(check: Mapping[str, Any]) -> str:
    """What the check was judged on, or which evidence was missing (docs/evidence-contract.md)."""
    missing = check.get("not_observable") or {}
    used = check.get("evidence_used") or {}
    if missing:
        return "<span class=\"fail\">not observable: " + esc(", ".join(missing)) + "</span>"
    return esc(", ".join(used)) if used else "n/a"


def runbook_link(check: Mapping[str, Any]) -> str:
    if check.get("verdict") == "pass":
        return ""
    cid = str(check.get("id", ""))
    return f" <a class=\"runbook\" href=\"{esc(runbook_url(cid))}\">runbook</a>"


def scorecard(checks: Iterable[Mapping[str, Any]]) -> str:
    rows = []
    for c in checks:
        verdict = str(c.get("verdict", ""))
        detail = json.dumps({"figures": c.get("figures", {}), "evidence": list(c.get("evidence", []))[:MAX_EVIDENCE_ITEMS],
                             "evidence_used": c.get("evidence_used", {}), "not_observable": c.get("not_observable", {})},
                            indent=1, default=str, sort_keys=True)
        rows.append(
            f"<tr id=\"check-{esc(c.get('id', ''))}\"><td>{esc(c.get('id', ''))}</td><td>{esc(c.get('kind', ''))}</td>"
            f"<td>{esc(c.get('name', ''))}</td><td class=\"verdict {VERDICT_CLASS.get(verdict, 'inc')}\">{esc(verdict)}</td>"
            f"<td>{esc(key_figures(c))}</td><td>{observability_cell(c)}</td><td class=\"reason\">{esc(c.get('reason', ''))}"
            f"{runbook_link(c)}<details><summary>figures and evidence</summary><pre>{esc(detail)}</pre></details></td></tr>")
    if not rows:
        rows.append("<tr><td colspan=\"7\">no checks were judged (summary.json missing or empty)</td></tr>")
    return ("<table class=\"scorecard\"><thead><tr><th>check</th><th>kind</th><th>what</th><th>verdict</th>"
            "<th>figure</th><th>judged on</th><th>reason</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def observability_table(table: Mapping[str, Mapping[str, Any]]) -> str:
    """summary.json "observability": each piece of evidence, where it came from or why it was missing."""
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td class=\"{'pass' if row.get('available') == 'yes' else 'fail'}\">"
        f"{esc(row.get('available', '?'))}</td><td>{esc(row.get('source') or row.get('why') or '')}</td></tr>"
        for name, row in table.items())
    return ("<table class=\"observability\"><thead><tr><th>evidence</th><th>available</th><th>source, or why not"
            "</th></tr></thead><tbody>" + (rows or "<tr><td colspan=\"3\">not recorded for this run</td></tr>")
            + "</tbody></table>")


def faults_table(faults: Iterable[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{esc(f.get('at_s'))}</td><td>{esc(f.get('end_s'))}</td><td>{esc(f.get('proxy', ''))}</td>"
        f"<td>{esc(f.get('toxic', ''))}</td><td>{esc(f.get('stream', ''))}</td><td>{esc(f.get('attributes', {}))}</td>"
        f"<td>{esc(f.get('toxicity', 1.0))}</td></tr>" for f in faults)
    return ("<table><thead><tr><th>from (s)</th><th>to (s)</th><th>proxy</th><th>toxic</th><th>stream</th>"
            "<th>attributes</th><th>toxicity</th></tr></thead><tbody>"
            + (rows or "<tr><td colspan=\"7\">no faults</td></tr>") + "</tbody></table>")


def meta_table(run: RunData) -> str:
    s, m = run.summary, run.manifest
    git = m.get("git") if isinstance(m.get("git"), dict) else {}
    target = t if isinstance(t := s.get("target"), dict) else {}
    items = [("run", s.get("run_id", run.run_dir.name)), ("profile", s.get("profile", "?")), ("env", s.get("env", "?")),
             ("target", f"{target.get('kind', 'reference')} {target.get('command') or target.get('url') or ''}".strip()),
             ("seed", s.get("seed", "?")), ("started at", s.get("started_at", "?")),
             ("duration", f"{run.duration_s:.1f} s"), ("requests", len(run.requests)),
             ("git revision", (git or {}).get("revision", m.get("revision", "?")))]
    return "<table class=\"meta\">" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in items) + "</table>"


def load_section(summary: Mapping[str, Any]) -> str:
    """How the load was generated (each Locust process's sends and records) and each process's CPU share."""
    found_load = summary.get("load")
    load: Mapping[str, Any] = found_load if isinstance(found_load, dict) else {}
    workers = load.get("workers") or {}
    rows = "".join(f"<tr><td>{esc(name)}</td><td>{esc(w.get('sent', 0))}</td><td>{esc(w.get('records', 0))}</td>"
                   f"<td>{esc(w.get('dropped', 0))}</td></tr>" for name, w in workers.items())
    part = ("<table class=\"load\"><thead><tr><th>load process</th><th>arrivals sent</th><th>records</th>"
            "<th>dropped</th></tr></thead><tbody>" + (rows or "<tr><td colspan=\"4\">not recorded</td></tr>")
            + "</tbody></table>")
    cpu = load.get("cpu") or {}
    procs = cpu.get("processes") or {}
    if not procs:
        return part + "<p>CPU per process: not sampled in this run.</p>"
    found = cpu.get("finding") or {}
    verdict = f"over {esc(found.get('over', 'the run'))}: <b>{esc(found.get('text', 'not judged'))}</b>"
    rows = "".join(f"<tr><td>{esc(name)}</td><td>{esc(r.get('mean_share'))}</td><td>{esc(r.get('peak_share'))}</td>"
                   f"<td>{esc(r.get('mean_wait'))}</td><td>{esc(r.get('peak_wait'))}</td><td>{esc(r.get('cpu_s'))}</td>"
                   "</tr>" for name, r in procs.items())
    return (part + f"<p>CPU per process (share of one core, sampled every {esc(cpu.get('interval_s'))} s on "
            f"{esc(cpu.get('cores'))} cores; load average {esc(cpu.get('load_average_start'))} at the start, "
            f"{esc(cpu.get('load_average_end'))} at the end): {verdict}.</p><table class=\"cpu\"><thead><tr>"
            "<th>process</th><th>mean share</th><th>peak share</th><th>mean wait for a CPU</th><th>peak wait</th>"
            "<th>CPU s</th></tr></thead><tbody>" + rows
            + "</tbody></table>")


def chart_figures(charts: Mapping[str, Path]) -> str:
    parts = []
    for name, path in charts.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        title = CHART_TITLES.get(name, name)
        parts.append(f"<figure id=\"chart-{esc(name)}\"><img alt=\"{esc(title)}\" src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{esc(title)} (charts/{esc(path.name)})</figcaption></figure>")
    return "".join(parts)


def render_html(run: RunData, charts: Mapping[str, Path]) -> str:
    verdict = str(run.summary.get("verdict", "no verdict"))
    badge = VERDICT_CLASS.get(verdict, "inc")
    reason = run.summary.get("reason", "summary.json missing: this is a partial report")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>harness report {esc(run.summary.get('run_id', run.run_dir.name))}</title><style>{CSS}</style></head><body>"
        f"<h1>Resilience run report</h1><p><span class=\"badge {badge}\" id=\"verdict\">{esc(verdict)}</span> "
        f"exit code {esc(run.summary.get('exit_code', '?'))}: {esc(reason)}</p>"
        f"{meta_table(run)}<h2 id=\"scorecard\">1. Verdict scorecard</h2>{scorecard(run.checks)}"
        f"<h2 id=\"observability\">Observability</h2><p>What the target and the worlds exposed "
        f"(docs/evidence-contract.md); a check missing a piece is inconclusive, never passed.</p>"
        f"{observability_table(run.summary.get('observability') or {})}"
        f"<h2 id=\"faults\">Fault schedule</h2>{faults_table(run.faults)}"
        f"<h2 id=\"load\">Load generation and CPU</h2>{load_section(run.summary)}"
        f"<h2 id=\"charts\">Charts</h2><p>Time axes are seconds since run start; fault windows are shaded "
        f"(red: horizon-primary, blue: horizon-secondary).</p>{chart_figures(charts)}"
        "</body></html>\n")


def assert_no_secrets(text: str, known_secrets: Iterable[str] = ()) -> None:
    """Raise ReportError (with a count, never the value) when the page text holds a secret."""
    found = find_secrets(_DATA_URI.sub("", text), tuple(known_secrets))
    if found:
        raise ReportError(f"refusing to write a report containing {len(found)} secret-looking string(s)")
