"""`harness run`: the composition root of one run. Worlds, target, load, faults, evidence, verdict.

Order: the run's accounts (derived from the seed, or borrowed from a running `harness up` with `--worlds`),
the worlds (offline network or real Horizons behind the fault proxies, `harness/run/worlds.py`), the target
(reference service, `--target-cmd`, or `--target URL`, `harness/run/target.py`), then Locust
(`harness/run/load.py`). Load, fault schedule, target polling and progress share one time axis whose zero
is `run_start_epoch`. Every exit path (success, error, Ctrl-C) resets the faults and checks them empty,
stops every child the run started (never a borrowed world), and writes whatever evidence exists plus
summary.json, junit.xml and manifest.json.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.cadence import derive_profile, environment_cadence
from harness.errors import HarnessConfigurationError, HarnessError
from harness.judges.percentiles import METRICS_FILE
from harness.outputs import EVENTS_FILE, Event, write_events
from harness.profiles import Profile, has_x402_v2, load_profile
from harness.run import evidence, world_evidence
from harness.run.accounts import PrivateFiles, borrowed_private_files, derive_accounts, write_private_files
from harness.run.arrival_drain import ArrivalDrain
from harness.run.assets import RunAssets, run_assets
from harness.run.cpu import CpuSampler
from harness.run.load import (
    Corpus,
    Distribution,
    Load,
    account_sizes,
    announce_start,
    check_accounts_fit,
    start_locust,
)
from harness.run.poller import ServicePoller
from harness.run.progress import ProgressReporter
from harness.run.supervisor import Supervisor
from harness.run.target import URL, TargetSpec, start_target
from harness.run.worlds import CLOSE_KEY, HORIZON, HorizonOptions, Worlds, read_env_file, start_worlds
from reference_impl.clock import SYSTEM_CLOCK

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNS_DIR = REPO_ROOT / "reports" / "runs"
START_AHEAD_S = 1.0  # t = 0 is announced this far ahead so every user sees it in time
LOCUST_GRACE_S = 45.0  # beyond the profile's end + drain, the supervisor kills Locust
WORKER_EXIT_S = 15.0  # after the master's exit, each worker gets this long to write its final counts and exit


@dataclass
class RunOptions:
    profile: str
    out: Path | None = None
    seed: int | None = None
    env: str | None = None
    fault_in_service: str | None = None
    progress_interval_s: float = 5.0
    target: TargetSpec = field(default_factory=TargetSpec)
    worlds_file: Path | None = None
    horizon: HorizonOptions | None = None
    scenarios: tuple[Path, ...] = ()
    distribution: Distribution = field(default_factory=Distribution)  # Locust workers (default: one process)

    @property
    def workers(self) -> int:
        return self.distribution.workers

    def __post_init__(self) -> None:
        if self.fault_in_service and self.target.kind != "reference":
            raise HarnessConfigurationError("--fault-in-service starts the reference service; with --target-cmd "
                                            "pass it in the command (python -m reference_impl.service --from-env "
                                            "--fault-in-service NAME)")
        if self.worlds_file is not None and self.horizon is not None:
            raise HarnessConfigurationError("--horizon chooses the worlds' Horizons: give it to `harness up`, "
                                            "not with --worlds")
        if self.worlds_file is not None and self.target.kind == "reference":
            raise HarnessConfigurationError("--worlds loads a target you started: give --target URL "
                                            "(or --target-cmd)")


@dataclass
class RunState:
    """What a run has gathered so far; `evidence.finish` turns it into the run folder."""

    options: RunOptions
    profile: Profile
    seed: int
    env: str
    run_id: str
    out_dir: Path
    started_at: str
    run_start_epoch: float = 0.0
    harness_events: list[Event] = field(default_factory=list)
    fault_events: list[Event] = field(default_factory=list)
    service_events: list[Event] = field(default_factory=list)
    ledger_records: int = 0  # ledger history records the run collected into its folder
    access_log: list[dict[str, Any]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # evidence the run could not obtain -> why
    sources: dict[str, str] = field(default_factory=dict)  # evidence -> where it came from
    target_info: dict[str, Any] = field(default_factory=dict)
    worlds_info: dict[str, Any] = field(default_factory=dict)
    load_started: bool = False
    error: str = ""
    admin_token: str = ""
    accounts_public: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    cpu: dict[str, Any] = field(default_factory=dict)  # per-process CPU over the load (harness/run/cpu.py)
    assets: dict[str, str] = field(default_factory=dict)  # what the run pays in (harness/run/assets.py)

    @property
    def load_dir(self) -> Path:
        return self.out_dir / "load"

    def now_run_s(self) -> float:
        return time.time() - self.run_start_epoch if self.run_start_epoch else 0.0

    def note(self, kind: str, **data: Any) -> None:
        self.harness_events.append(Event(round(self.now_run_s(), 6), "harness", kind, data))


def run(options: RunOptions) -> int:
    """Run a profile end to end; returns the exit code (harness/outputs.py)."""
    profile = load_profile(options.profile)
    seed = profile.seed if options.seed is None else options.seed
    env = options.env or profile.env
    profile = derive_profile(profile, environment_cadence(env))  # the environment's cadence (harness/cadence.py)
    _announce_cadence(profile)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{profile.name}-{stamp}"
    out_dir = Path(options.out) if options.out else DEFAULT_RUNS_DIR / run_id
    evidence.prepare_out_dir(out_dir)  # a reused --out must not mix an older run's files into this one
    state = RunState(options, profile, seed, env, run_id, out_dir, datetime.now(UTC).isoformat())
    supervisor = Supervisor(out_dir / "logs",
                            on_start=lambda c: state.note("process.start", name=c.name, pid=c.pid))
    scratch = Path(tempfile.mkdtemp(prefix="harness-run-scratch-"))
    private: list[PrivateFiles] = []
    previous = _install_signal_handlers()
    try:
        _play(state, supervisor, scratch, private)
    except KeyboardInterrupt:
        state.error = "interrupted (Ctrl-C / SIGTERM): partial evidence only"
    except HarnessError as exc:
        state.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure still yields a report and exit 4
        state.error = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        state.note("process.stop", exit_codes=supervisor.stop_all())
        _restore_signal_handlers(previous)
        for files in private:
            files.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"harness run: collecting and judging into {out_dir}", file=sys.stderr, flush=True)
    return evidence.finish(state)


def _announce_cadence(profile: Profile) -> None:
    cadence = profile.cadence
    assert cadence is not None
    lines = [f"harness run: {profile.name} under {cadence.env}: a ledger close every {cadence.ledger_close_s:g} s, "
             f"breaker timeout {cadence.breaker_timeout_s:g} s, {profile.duration_s:g} s of load"]
    lines += [f"  derived: {change}" for change in cadence.changes]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _accounts(state: RunState, worlds_env: dict[str, str] | None) -> PrivateFiles:
    """The run's account files: borrowed from `harness up`'s worlds, or derived from the seed and written privately."""
    if worlds_env is not None:
        files = borrowed_private_files(worlds_env)
        check_accounts_fit(state.profile, files.load_accounts)
    else:
        files = write_private_files(derive_accounts(state.seed, account_sizes(state.profile)))
    state.admin_token = files.admin_token
    state.secrets = files.secrets()
    state.accounts_public = files.public_summary()
    return files


def _worlds(state: RunState, supervisor: Supervisor, files: PrivateFiles, worlds_env: dict[str, str] | None,
            assets: RunAssets) -> Worlds:
    options = state.options
    if worlds_env is not None:
        worlds = Worlds.from_env(worlds_env)
        _check_borrowed(worlds, worlds_env, state.profile, assets)
        state.worlds_info = {"kind": worlds.kind, "from": str(options.worlds_file), "started_by": "harness up"}
        return worlds
    worlds = start_worlds(supervisor, files, state.profile.ledger_close_s, options.horizon, has_x402_v2(state.profile))
    if worlds.kind == HORIZON:
        from harness.run.horizon_history import fund_run_accounts

        assert options.horizon is not None
        friendbot = options.horizon.friendbot or options.horizon.primary.rstrip("/") + "/friendbot"
        funded = fund_run_accounts(worlds.ledger_url, friendbot, worlds.passphrase, files, state.seed)
        state.note("accounts.funded", count=funded, friendbot=friendbot)
    state.worlds_info = {"kind": worlds.kind, "started_by": "harness run", "horizon_upstream": worlds.ledger_url
                         if worlds.kind == HORIZON else "offline network"}
    return worlds


def _check_borrowed(worlds: Worlds, worlds_env: dict[str, str], profile: Profile, assets: RunAssets) -> None:
    """Borrowed offline worlds must close ledgers at the cadence this run judges, and the target configured from
    them must pay in the run's assets (`harness up --env ... --profile ...` writes both)."""
    close = worlds_env.get(CLOSE_KEY)
    if worlds.kind != HORIZON and close is not None and float(close) != profile.ledger_close_s:
        raise HarnessConfigurationError(f"the worlds close a ledger every {close} s, this run judges "
                                        f"{profile.ledger_close_s:g} s closes: start `harness up` with the run's --env")
    written = {k: worlds_env[k] for k in assets.service_environ() if k in worlds_env}
    if written and written != assets.service_environ():
        raise HarnessConfigurationError(f"the worlds file configures the target to pay in {written}, this run pays in "
                                        f"{assets.service_environ()}: start `harness up` with the run's --profile/--env")


def _play(state: RunState, supervisor: Supervisor, scratch: Path, private: list[PrivateFiles]) -> None:
    from harness.faults.client import FaultController
    from harness.faults.schedule import FaultSchedule

    options, profile = state.options, state.profile
    worlds_env = read_env_file(options.worlds_file) if options.worlds_file is not None else None
    files = _accounts(state, worlds_env)
    private.append(files)
    schedule = FaultSchedule.parse([_schedule_entry(i, f) for i, f in enumerate(profile.faults)])
    corpus = Corpus(profile, state.seed, state.out_dir)
    assets = run_assets(state.env, profile.asset)
    state.assets = assets.to_dict()
    worlds = _worlds(state, supervisor, files, worlds_env, assets)
    wired = options.target.kind != URL or worlds_env is not None
    if not wired:
        message = ("warning: --target without --worlds: the target's Horizon traffic crosses the fault proxies only "
                   "if it was configured with them; otherwise the fault checks come out 'not observable'")
        print(message, file=sys.stderr, flush=True)
        state.note("note", message=message)
    target = start_target(options.target, supervisor, worlds, files, env_name=state.env, assets=assets,
                          fault=options.fault_in_service, log_dir=state.out_dir / "logs")
    state.target_info = {"kind": target.kind, "url": target.url, "command": options.target.command}
    state.note("target.ready", target=target.kind, url=target.url)
    settings = {
        "run_id": state.run_id, "seed": state.seed, "ledger_url": worlds.ledger_url, "profile": profile.to_dict(),
        "accounts_file": str(files.load_accounts), "out_dir": str(state.load_dir),
        "corpus_file": str(path) if (path := corpus.ready()) else None,
        "rate_limits": evidence.known_rate_limits(state), "max_lag_s": 10.0, "asset": assets.payment,
        "faults": [{"at_s": f.at_s, "end_s": f.end_s, "label": f.label} for f in profile.faults],
    }
    load = start_locust(supervisor, scratch, target.url, settings, options.scenarios, options.distribution)
    state.run_start_epoch = time.time() + START_AHEAD_S
    run_start_mono = SYSTEM_CLOCK.now() + START_AHEAD_S
    announce_start(load.start_file, state.run_start_epoch)
    state.load_started = True
    controller = FaultController(url=worlds.toxiproxy_url, clock=SYSTEM_CLOCK, run_start=run_start_mono,
                                 on_event=state.fault_events.append)
    stop = threading.Event()
    cpu = CpuSampler(lambda: _processes(supervisor), state.now_run_s)
    cpu.start()
    drain = world_evidence.arrival_drain_for(worlds, scratch / "arrivals")  # the proxies' logs, page by page
    poller = ServicePoller(target.url, state.admin_token, lambda t: t - state.run_start_epoch, state.now_run_s)
    progress = ProgressReporter(profile.phases, state.load_dir, state.now_run_s,
                                lambda: _active_labels(state.fault_events), options.progress_interval_s)
    schedule_errors: list[str] = []

    def play_faults() -> None:
        try:
            while not stop.is_set() and state.now_run_s() < 0:
                stop.wait(min(0.05, -state.now_run_s()))
            if not stop.is_set():
                schedule.run(controller, SYSTEM_CLOCK, stop)
        except HarnessError as exc:
            schedule_errors.append(f"fault schedule: {exc}")

    fault_thread = threading.Thread(target=play_faults, name="fault-schedule", daemon=True)
    poller.start()
    progress.start()
    fault_thread.start()
    try:
        drain.start(pre_run_until=state.run_start_epoch)  # what a borrowed world's rings lost before t = 0 is no loss
        _wait_for_load(state, supervisor, load)
    finally:
        drain.stop()  # no background read from here on; `_observe` reads the remainder once the load is stopped
        _record_phases(state, state.now_run_s())
        for child in (load.master, *load.workers):  # on Ctrl-C they still run: no client request may postdate
            supervisor.stop(child)                  # the evidence read below
        stop.set()
        fault_thread.join(timeout=30.0)
        _final_fault_cleanup(state, controller)
        controller.close()
        progress.stop()
        poller.stop()
        cpu.stop()
        state.cpu = cpu.summary()
        state.service_events = poller.snapshot()
        if poller.metrics_text:  # the target's own percentiles, judged against Server-Timing (harness/judges/percentiles.py)
            (state.out_dir / METRICS_FILE).write_text(poller.metrics_text)
        _observe(state, poller, worlds, wired, drain)
    if schedule_errors:
        raise HarnessError("; ".join(schedule_errors))


def _processes(supervisor: Supervisor) -> dict[str, tuple[int, bool]]:
    """What the CPU sampler watches: every running child with its descendants, and the harness alone."""
    return {**{c.name: (c.pid, True) for c in list(supervisor.children) if c.running()}, "harness": (os.getpid(), False)}


def _wait_for_load(state: RunState, supervisor: Supervisor, load: Load) -> None:
    """Wait for Locust to finish the profile; a worker that dies while the master runs ends the run (exit 4)."""
    deadline = time.monotonic() + state.profile.duration_s + START_AHEAD_S + LOCUST_GRACE_S
    code = None
    while time.monotonic() < deadline:
        code = supervisor.wait(load.master, min(0.5, max(0.0, deadline - time.monotonic())))
        dead = load.dead_worker(state.now_run_s() >= state.profile.duration_s) if code is None else None
        if dead is not None:
            state.note("load.worker_lost", name=dead.name, pid=dead.pid, exit_code=dead.process.returncode)
            raise HarnessError(f"Locust worker {dead.name} (pid {dead.pid}) exited with code "
                               f"{dead.process.returncode} {state.now_run_s():.1f}s into the run: its share of the "
                               "load is lost; see logs/" + dead.log_path.name)
        if code is not None:
            break
    if code is None:
        state.note("note", message=f"locust still running {state.profile.duration_s + LOCUST_GRACE_S:.0f}s after "
                                   "the start; killed")
    elif code != 0:
        raise HarnessError(f"locust exited with code {code}; see logs/locust.log")
    for worker in load.workers:  # the master told them to quit; they write their final counts first
        supervisor.wait(worker, WORKER_EXIT_S)


def _observe(state: RunState, poller: ServicePoller, worlds: Worlds, wired: bool, drain: ArrivalDrain) -> None:
    """Read the worlds' evidence and note what the run could and could not observe."""
    accounts = state.accounts_public
    history_accounts = [*accounts.get("settlement_pool", []), accounts.get("escrow", ""), accounts.get("pay_to", "")]
    found = world_evidence.collect(worlds, wired, [a for a in history_accounts if a],
                                   (state.run_start_epoch, time.time()), state.out_dir, drain)
    state.ledger_records, state.access_log = found.history_records, found.arrivals
    missing, sources = poller.observability()
    state.unavailable = {**missing, **found.unavailable}
    state.sources = {**sources, **found.sources}


def _schedule_entry(index: int, spec: Any) -> dict[str, Any]:
    return {"at": spec.at_s, "duration": spec.duration_s, "proxy": spec.proxy, "toxic": spec.toxic,
            "stream": spec.stream, "attributes": dict(spec.attributes), "toxicity": spec.toxicity,
            "name": spec.name or f"{spec.toxic}_{spec.stream}_{index}"}


def _record_phases(state: RunState, until_s: float) -> None:
    """Phase start/end events of the schedule, as far as the run got."""
    for phase, start, end in state.profile.phase_bounds():
        if start <= until_s:
            state.harness_events.append(Event(start, "harness", "phase.start", {"phase": phase.name, "shape": phase.shape}))
        if end <= until_s:
            state.harness_events.append(Event(end, "harness", "phase.end", {"phase": phase.name}))


def _final_fault_cleanup(state: RunState, controller: Any) -> None:
    """Reset every fault and check that none is left; recorded as a `fault.cleanup` event."""
    try:
        controller.reset()
        left = controller.active()
        state.note("fault.cleanup", ok=not left, remaining=[f"{a.proxy}/{a.toxic}" for a in left])
        if left:
            state.error = state.error or f"faults left after reset: {len(left)}"
    except HarnessError as exc:
        state.note("fault.cleanup", ok=False, error=str(exc))
        state.error = state.error or f"fault cleanup failed: {exc}"


def _active_labels(events: list[Event]) -> list[str]:
    active: dict[str, str] = {}
    for ev in list(events):
        name = str(ev.data.get("name", ""))
        if ev.kind == "fault.applied":
            active[name] = f"{ev.data.get('proxy')}/{ev.data.get('toxic')}"
        elif ev.kind == "fault.removed":
            active.pop(name, None)
    return sorted(active.values())


def _install_signal_handlers() -> dict[int, Any]:
    """SIGTERM behaves like Ctrl-C: unwinds through every `finally`, so children are stopped."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, interrupt)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def write_run_events(state: RunState) -> list[Event]:
    """All events of the run on one axis, sorted, written to events.jsonl."""
    events = sorted([*state.harness_events, *state.fault_events, *state.service_events], key=lambda e: e.t)
    write_events(state.out_dir / EVENTS_FILE, events)
    return events

