"""Turn a played run into its folder: raw evidence files, judges' verdicts, summary, JUnit, manifest.

Called on every exit path of `harness run` (also after a failure or Ctrl-C, with whatever evidence
exists): a harness error still yields summary.json (verdict "error", exit 4) and junit.xml.
`prepare_out_dir` makes sure the folder holds only this run's files, so the secret scan, which runs
after the last artifact is written (`finish`), covers exactly this run.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.judges.context import Check
from harness.judges.observability import observability_table
from harness.ledger_table import write_history
from harness.outputs import (
    LEDGER_APPLIED_FILE,
    LEDGER_HISTORY_FILE,
    MANIFEST_FILE,
    REQUESTS_PARQUET,
    SUMMARY_FILE,
    SUMMARY_SCHEMA_VERSION,
)
from harness.profiles import has_x402_v2
from harness.records_store import RecordStore, write_parquet
from harness.run import cpu as cpu_module
from harness.run.collect import (
    ACCESS_LOG_FILE,
    CollectionError,
    LoadCheck,
    actual_faults,
    check_worker_records,
    record_parts,
)
from harness.run.expectations import CONFIG_DIR, judging_params, resolve_rate_limits, thresholds_ms
from harness.run.ingest import ingest_parts, remove_parts
from harness.run.junit import write_junit
from harness.run.manifest import build_manifest
from harness.run.runbooks import runbook_ref
from harness.run.verdict import decide
from reference_impl.redaction import redact_text
from scenarios.arrivals import build_schedules
from scenarios.recording import ALLOCATION_FILE

if TYPE_CHECKING:
    from harness.judges.context import JudgeContext
    from harness.run.lifecycle import RunState


def known_rate_limits(state: RunState) -> dict[str, dict[str, Any]]:
    """The limits known before the load (profile, config): the load client spreads well-behaved keys under them."""
    return resolve_rate_limits(state.profile.rate_limits, state.env)[0]


def prepare_out_dir(path: Path) -> None:
    """Make `path` a folder holding only this run's files: created when missing; a previous run folder
    (its manifest.json names a run_id) is emptied, so none of its files is taken for this run's (nor
    scanned, judged or reported as such); any other non-empty folder is refused with HarnessError."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True)
        return
    if not path.is_dir():
        raise HarnessError(f"--out {path} exists and is not a folder")
    entries = list(path.iterdir())
    if not entries:
        return
    try:
        previous = json.loads((path / MANIFEST_FILE).read_text()).get("run_id")
    except (OSError, ValueError, AttributeError):
        previous = None
    if not previous:
        raise HarnessError(f"--out {path} is not empty and is not a previous run folder (no {MANIFEST_FILE} with "
                           "a run_id): refusing to mix this run's artifacts with other files; choose an empty folder")
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def finish(state: RunState) -> int:
    """Write every output file of the run folder and return the exit code."""
    out = state.out_dir
    from harness.run.lifecycle import write_run_events

    events = write_run_events(state)
    end_s = max(state.profile.duration_s, state.now_run_s()) if state.run_start_epoch else 0.0
    faults = actual_faults(state.fault_events, end_s)
    load = check_load(state)
    try:
        parts = record_parts(state.load_dir)
        ingest_parts(parts, out / REQUESTS_PARQUET, faults)
        remove_parts(parts, out / REQUESTS_PARQUET, load.records)  # one copy of the records: requests.parquet
    except CollectionError as exc:
        state.error = state.error or str(exc)
        write_parquet(out / REQUESTS_PARQUET, [])
    records = RecordStore([out / REQUESTS_PARQUET])
    if not (out / LEDGER_APPLIED_FILE).is_file():  # the run ended before its history was read
        write_history([], out / LEDGER_HISTORY_FILE, out / LEDGER_APPLIED_FILE)
    access = [{**a, "t": float(a["t"]) - state.run_start_epoch} for a in state.access_log if "t" in a]
    _write_jsonl(out / ACCESS_LOG_FILE, access)
    counters = load.counters
    phases = [{"name": p.name, "start_s": s, "end_s": e, "steady": p.steady} for p, s, e in state.profile.phase_bounds()]
    fault_rows = [{"at_s": round(f.start_s, 3), "end_s": round(f.end_s, 3), "proxy": f.proxy, "toxic": f.toxic,
                   "stream": f.stream, "attributes": f.attributes or {}, "toxicity": f.toxicity} for f in faults]
    manifest = build_manifest(
        run_id=state.run_id, profile=state.profile, seed=state.seed, env=state.env,
        env_config=CONFIG_DIR / f"{state.env}.json",
        options={"fault_in_service": state.options.fault_in_service, "seed": state.seed, "env": state.env,
                 "target": state.options.target.kind,
                 "target_cmd": redact_text(state.options.target.command or "") or None,
                 "worlds_file": str(state.options.worlds_file) if state.options.worlds_file else None,
                 "horizon": state.options.horizon.primary if state.options.horizon else None,
                 "scenarios": [str(p) for p in state.options.scenarios]},
        accounts=state.accounts_public, started_at=state.started_at,
    )
    manifest["run_start_epoch"] = state.run_start_epoch  # t = 0 of the run (unix s): converts ledger times
    manifest["load"] = load_manifest(state, load)

    checks: list[Check] = []
    reconciliation: dict[str, int] = {}
    ctx: JudgeContext | None = None
    limits: dict[str, Any] = {}
    if state.load_started and records.num_rows:
        try:
            checks, reconciliation, ctx, limits = _judge(state, records, events, phases, fault_rows)
        except HarnessError as exc:
            state.error = state.error or f"judging failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - a judge bug must not lose the run's evidence
            traceback.print_exc(file=sys.stderr)
            state.error = state.error or f"judging crashed: {type(exc).__name__}: {exc}"
    elif not state.error:
        state.error = "no request was recorded"
    if state.error:  # the run did not finish: what lags behind the load (ledger inclusion, feeds) is cut short
        checks = [unfinished(c) for c in checks]
    if state.cpu:
        state.cpu["finding"] = cpu_finding(state.cpu, checks)  # over the capacity knee, once judged
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, default=str))
    final_ctx = replace(ctx, run_dir=out) if ctx is not None else None
    base = {
        "schema_version": SUMMARY_SCHEMA_VERSION, "run_id": state.run_id, "profile": state.profile.name,
        "env": state.env, "seed": state.seed, "started_at": state.started_at, "duration_s": round(end_s, 3),
        "phases": phases, "faults": fault_rows, "reconciliation": reconciliation,
        "load": {"requests": records.num_rows, "arrivals": counters, "workers": load.workers,
                 "cpu": {k: v for k, v in state.cpu.items() if k != "samples"}},
        "fault_in_service": state.options.fault_in_service,
        "target": {k: redact_text(v) if isinstance(v, str) else v for k, v in state.target_info.items()},
        "worlds": state.worlds_info, "rate_limits": limits,
        "cadence": state.profile.cadence.to_dict() if state.profile.cadence else None, "assets": state.assets,
        "observability": observability_table(final_ctx) if final_ctx is not None else {},
    }
    summary = _write_verdict(state, base, checks, end_s)
    if final_ctx is not None and final_ctx.params.is_enabled("P31"):
        # The secret scan runs after the last artifact (summary, junit, report, charts, logs/target.log) is
        # written, over every file of this run; its result then rewrites the verdict files with the same
        # schema-2 fields. The rewrite adds only the scan's findings (file names, kinds, counts: never a
        # secret), so nothing unscanned can leak.
        checks = [_final_p31(final_ctx, state) if c.id == "P31" else c for c in checks]
        summary = _write_verdict(state, base, checks, end_s, reuse_charts=True)
    _print_scorecard(summary)
    return int(summary["exit_code"])


def check_load(state: RunState) -> LoadCheck:
    """Whether the load processes' records make an exact merge; one that is not (a worker that did not finish,
    shares that do not add up to the schedule) makes the run fail to finish (exit 4), its records still judged."""
    workers = state.options.workers
    schedule = ({kind: len(times) for kind, times in
                 build_schedules(state.profile.phases, state.profile.mix, state.seed).items()} if workers else None)
    load = check_worker_records(state.load_dir, workers, schedule)
    if load.problems and state.load_started:
        state.error = state.error or "load evidence incomplete: " + "; ".join(load.problems)
    return load


def cpu_finding(cpu: dict[str, Any], checks: list[Check]) -> dict[str, Any]:
    """Which process limited the load: over the capacity knee's windows (a stress run), else the whole run."""
    knee = next((c.figures for c in checks if c.id == "capacity" and c.figures.get("knee_found")), None)
    if knee is None:
        return {"over": "the whole run", "text": cpu_module.finding(cpu)}
    start, width = float(knee["knee_start_s"]), float(knee.get("window_s", 10))
    at = cpu_module.window(cpu.get("samples", []), start - width, start + width)
    return {"over": f"the knee, {start - width:g}-{start + width:g} s", "processes": at,
            "text": cpu_module.finding(cpu, at)}


def load_manifest(state: RunState, load: LoadCheck) -> dict[str, Any]:
    """How the load was generated: processes, each one's sends and records, and the allocation of users."""
    allocation = state.load_dir / ALLOCATION_FILE
    return {"workers": state.options.workers, "per_process": load.workers,
            "records": load.records, "sent": sum(w.get("sent", 0) for w in load.workers.values()),
            "allocation": json.loads(allocation.read_text()) if allocation.is_file() else None,
            "problems": load.problems, "cpu": state.cpu}


def _write_verdict(state: RunState, base: dict[str, Any], checks: list[Check], end_s: float,
                   reuse_charts: bool = False) -> dict[str, Any]:
    """summary.json, junit.xml and the report for `checks`; returns the summary."""
    verdict = decide(checks, state.error)
    summary = {**base, "verdict": verdict.verdict, "exit_code": verdict.exit_code, "reason": verdict.reason,
               "checks": [c.to_dict() for c in checks]}
    (state.out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str))
    write_junit(state.out_dir / "junit.xml", state.profile.name, checks, end_s, state.error)
    _render_report(state.out_dir, reuse_charts)
    return summary


def _final_p31(ctx: JudgeContext, state: RunState) -> Check:
    """P31 with the secret scan of the complete run folder (`ctx.run_dir`), settled against the evidence
    contract and cut short like every other check when the run did not finish."""
    from harness.judges.failure_logging import judge_failure_logging
    from harness.judges.observability import settle

    check = settle(judge_failure_logging(ctx), ctx)
    return unfinished(check) if state.error else check


def unfinished(check: Check) -> Check:
    """A check judged on the evidence of a run that did not finish: it may show a failure that the cut
    alone made (a payment served just before Ctrl-C, not yet on the ledger), so it is inconclusive."""
    if check.verdict != "fail":
        return check
    figures = {**check.figures, "partial_verdict": check.verdict, "partial_reason": check.reason}
    return replace(check, verdict="inconclusive", figures=figures,
                   reason=f"the run did not finish (partial evidence); on what was collected: {check.reason}")


def _judge(
    state: RunState, records: RecordStore, events: list[Any], phases: list[dict[str, Any]],
    faults: list[dict[str, Any]],
) -> tuple[list[Check], dict[str, int], JudgeContext, dict[str, Any]]:
    """Every check and the context they were judged on; P31's secret scan waits for the complete run folder
    (the context has no run_dir: `finish` judges P31 again once every artifact is written)."""
    from harness.judges import judge
    from harness.judges.context import JudgeContext
    from harness.judges.nothing_lost import reconcile
    from harness.judges.observability import (
        CLIENT_RECORDS,
        RATE_LIMITS,
        RUN_FOLDER,
        SERVER_TIMING,
        server_timing_counts,
    )
    from harness.judges.percentiles import METRICS_FILE

    announced = records.select(["endpoint", "ratelimit_limit", "ratelimit_window_s"])
    limits, limit_origin = resolve_rate_limits(state.profile.rate_limits, state.env, announced)
    del announced
    sources = {**state.sources, CLIENT_RECORDS: f"{REQUESTS_PARQUET} ({records.num_rows} client-side records)",
               RUN_FOLDER: f"{state.out_dir.name}/ (every file)"}
    if limits:
        sources[RATE_LIMITS] = limit_origin
    ok, timed = server_timing_counts(records)
    sources[SERVER_TIMING] = f"Server-Timing on {timed} of {ok} successful target-metric responses"
    ctx = JudgeContext.build(
        records, events=events, ledger_history=state.out_dir / LEDGER_APPLIED_FILE if state.ledger_records else None,
        access_log=state.access_log,
        phases=phases, faults=faults,
        thresholds_ms=thresholds_ms(state.env, state.profile.thresholds_ms, has_x402_v2(state.profile)),
        params=judging_params(state.env, state.profile.judging), run_start_epoch=state.run_start_epoch,
        duration_s=state.profile.duration_s, rate_limits=limits,
        known_secrets=state.secrets, unavailable=state.unavailable, sources=sources,
        metrics_text=metrics.read_text() if (metrics := state.out_dir / METRICS_FILE).is_file() else "",
    )
    checks = judge(ctx)
    rec = reconcile(ctx)
    keys = ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved")
    return checks, {k: int(rec.get(k, 0)) for k in keys}, ctx, limits


def _render_report(out: Path, reuse_charts: bool = False) -> None:
    try:
        from harness.report import render_report
    except ImportError:
        print("warning: harness.report is not available; report.html not written", file=sys.stderr)
        return
    try:
        render_report(out, reuse_charts=reuse_charts)
    except Exception as exc:  # noqa: BLE001 - the verdict stands without the HTML report
        print(f"warning: report rendering failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _print_scorecard(summary: dict[str, Any]) -> None:
    lines = []
    for c in summary["checks"]:
        lines.append(f"{c['verdict'].upper():13} {c['id']:28} {c['reason'][:110]}")
        if c["verdict"] != "pass":
            lines.append(f"{'':13} {'':28} runbook: {runbook_ref(c['id'])}")
    print("\n".join(lines), file=sys.stderr)
    print(f"verdict: {summary['verdict']} (exit {summary['exit_code']}): {summary['reason']}", file=sys.stderr)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, default=str) + "\n")
