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
from harness.outputs import (
    LEDGER_HISTORY_FILE,
    MANIFEST_FILE,
    REQUESTS_FILE,
    SUMMARY_FILE,
    SUMMARY_SCHEMA_VERSION,
    write_records,
)
from harness.profiles import X402_V2_KINDS
from harness.run.collect import ACCESS_LOG_FILE, CollectionError, actual_faults, load_counters, merge_records
from harness.run.junit import write_junit
from harness.run.manifest import build_manifest
from harness.run.verdict import decide

if TYPE_CHECKING:
    from harness.judges.context import Check, JudgeContext
    from harness.run.lifecycle import RunState

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
V2_HANDSHAKE = "x402.handshake.v2"
THRESHOLD_KEYS = {
    "settlementFinality": "settlement.finality",
    "channelLatency": "channel.latency",
    "x402Handshake": "x402.handshake",
    "agentDecision": "agent.decision",
    "contractExecution": "contract.execution",
}
# The service's limiter name (reference_impl.service.components.RATE_LIMIT_ROUTES) of each endpoint label.
ENDPOINT_LIMITERS = {
    "settlement": "settlements",
    "escrow": "escrow",
    "x402": "resources",
    "x402-v2": "resources",
    "x402-challenge": "resources",
    "channel": "channels",
    "decision": "decisions",
}


def env_config(env: str) -> dict[str, Any]:
    path = CONFIG_DIR / f"{env}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def rate_limit_table(env: str) -> dict[str, dict[str, Any]]:
    """Endpoint label -> {limit, window_s, algorithm}, resolved the way the service resolves its limiters."""
    from reference_impl.rate_limiter import PRESETS
    from reference_impl.service.components import DEFAULT_PRESETS

    section = env_config(env).get("security", {}).get("rateLimit", {})
    if not section.get("enabled", True):
        return {}
    configured = section.get("endpoints", {})
    algorithm = section.get("algorithm", "token-bucket")
    out = {}
    for label, limiter in ENDPOINT_LIMITERS.items():
        preset = PRESETS.get(configured.get(limiter) or DEFAULT_PRESETS.get(limiter, ""))
        if preset is not None:
            out[label] = {"limit": preset.max_requests, "window_s": preset.window, "algorithm": algorithm}
    return out


def thresholds_ms(env: str, overrides: dict[str, float], x402_v2: bool = False) -> dict[str, float]:
    """The env config's thresholds, then the profile's overrides. With x402 v2 traffic, `x402.handshake.v2`
    is the x402 handshake budget on top of one ledger close (the spec serves only settled payments), as
    the service's own alert threshold is (reference_impl/service/components.py)."""
    config = env_config(env)
    raw = config.get("monitoring", {}).get("thresholds", {})
    out = {metric: float(raw[key]) for key, metric in THRESHOLD_KEYS.items() if key in raw}
    if x402_v2 and "x402.handshake" in out:
        out[V2_HANDSHAKE] = out["x402.handshake"] + float(config.get("stellar", {}).get("ledgerCloseMs", 5000))
    out.update(overrides)
    return out


def judging_params(state: RunState) -> dict[str, Any]:
    breaker = env_config(state.env).get("security", {}).get("circuitBreaker", {})
    params: dict[str, Any] = {}
    if "timeoutMs" in breaker:
        params["breaker_timeout_s"] = float(breaker["timeoutMs"]) / 1000.0
    params.update(state.profile.judging)
    return params


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
    records = []
    try:
        records = merge_records(state.load_dir, faults)
    except CollectionError as exc:
        state.error = state.error or str(exc)
    write_records(out / REQUESTS_FILE, records)
    _write_jsonl(out / LEDGER_HISTORY_FILE, state.ledger_history)
    access = [{**a, "t": float(a["t"]) - state.run_start_epoch} for a in state.access_log if "t" in a]
    _write_jsonl(out / ACCESS_LOG_FILE, access)
    counters = load_counters(state.load_dir) if state.load_dir.is_dir() else {}
    phases = [{"name": p.name, "start_s": s, "end_s": e, "steady": p.steady} for p, s, e in state.profile.phase_bounds()]
    fault_rows = [{"at_s": round(f.start_s, 3), "end_s": round(f.end_s, 3), "proxy": f.proxy, "toxic": f.toxic,
                   "stream": f.stream, "attributes": f.attributes or {}, "toxicity": f.toxicity} for f in faults]
    manifest = build_manifest(
        run_id=state.run_id, profile=state.profile, seed=state.seed, env=state.env,
        env_config=CONFIG_DIR / f"{state.env}.json",
        options={"fault_in_service": state.options.fault_in_service, "seed": state.seed, "env": state.env},
        accounts=state.accounts_public, started_at=state.started_at,
    )
    manifest["run_start_epoch"] = state.run_start_epoch  # t = 0 of the run (unix s): converts ledger times
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, default=str))

    checks: list[Check] = []
    reconciliation: dict[str, int] = {}
    ctx: JudgeContext | None = None
    if state.load_started and records:
        try:
            checks, reconciliation, ctx = _judge(state, records, events, phases, fault_rows)
        except HarnessError as exc:
            state.error = state.error or f"judging failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - a judge bug must not lose the run's evidence
            traceback.print_exc(file=sys.stderr)
            state.error = state.error or f"judging crashed: {type(exc).__name__}: {exc}"
    elif not state.error:
        state.error = "no request was recorded"
    base = {
        "schema_version": SUMMARY_SCHEMA_VERSION, "run_id": state.run_id, "profile": state.profile.name,
        "env": state.env, "seed": state.seed, "started_at": state.started_at, "duration_s": round(end_s, 3),
        "phases": phases, "faults": fault_rows, "reconciliation": reconciliation,
        "load": {"requests": len(records), "arrivals": counters}, "fault_in_service": state.options.fault_in_service,
    }
    summary = _write_verdict(state, base, checks, end_s)
    if ctx is not None and ctx.params.is_enabled("P31"):
        # The secret scan runs after the last artifact (summary, junit, report, charts) is written, over
        # every file of this run; its result then rewrites the verdict files. The rewrite adds only the
        # scan's findings (file names, kinds, counts: never a secret), so nothing unscanned can leak.
        checks = [_final_p31(ctx, state) if c.id == "P31" else c for c in checks]
        summary = _write_verdict(state, base, checks, end_s, reuse_charts=True)
    _print_scorecard(summary)
    return int(summary["exit_code"])


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
    """P31 with the secret scan of the complete run folder."""
    from harness.judges.failure_logging import judge_failure_logging

    return judge_failure_logging(replace(ctx, run_dir=state.out_dir))


def _judge(
    state: RunState, records: list[Any], events: list[Any], phases: list[dict[str, Any]], faults: list[dict[str, Any]]
) -> tuple[list[Check], dict[str, int], JudgeContext]:
    """Every check; P31's secret scan waits for the complete run folder (the context has no run_dir)."""
    from harness.judges import judge
    from harness.judges.context import JudgeContext
    from harness.judges.nothing_lost import reconcile

    ctx = JudgeContext.build(
        records, events=events, ledger_history=state.ledger_history, access_log=state.access_log,
        phases=phases, faults=faults,
        thresholds_ms=thresholds_ms(state.env, state.profile.thresholds_ms,
                                    any(state.profile.mix.get(k, 0) > 0 for k in X402_V2_KINDS)),
        params=judging_params(state), run_start_epoch=state.run_start_epoch,
        duration_s=state.profile.duration_s, rate_limits=rate_limit_table(state.env),
        known_secrets=state.secrets,
    )
    checks = judge(ctx)
    rec = reconcile(ctx)
    keys = ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved")
    return checks, {k: int(rec.get(k, 0)) for k in keys}, ctx


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
    lines = [f"{c['verdict'].upper():13} {c['id']:28} {c['reason'][:110]}" for c in summary["checks"]]
    print("\n".join(lines), file=sys.stderr)
    print(f"verdict: {summary['verdict']} (exit {summary['exit_code']}): {summary['reason']}", file=sys.stderr)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, default=str) + "\n")
