"""`harness run`: start the stack on free loopback ports, play the profile, collect, stop, judge.

Order: offline ledger (three listeners: 0 behind proxy horizon-primary, 1 behind
horizon-secondary, 2 direct for the harness and the clients' sequence lookups), fault proxy
(child process) with both Horizon proxies, the x402 v2 facilitator when the profile has v2 traffic
(its Soroban RPC through both proxies), service under test pointed at the proxies, then Locust
(child process) with the run-config file. Load, fault schedule, service polling and progress share
one time axis whose zero is `run_start_epoch`. Every exit path (success, error, Ctrl-C) resets the
faults and checks them empty, stops every child, and writes whatever evidence exists plus
summary.json, junit.xml and manifest.json.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError, ProcessStartError
from harness.outputs import EVENTS_FILE, Event, write_events
from harness.profiles import X402_V2_KINDS, Profile, load_profile
from harness.run import evidence
from harness.run.accounts import (
    MAX_ACCOUNTS_PER_ROLE,
    AccountSizes,
    PrivateFiles,
    derive_accounts,
    write_private_files,
)
from harness.run.collect import ServicePoller
from harness.run.progress import ProgressReporter
from harness.run.supervisor import Supervisor
from reference_impl.clock import SYSTEM_CLOCK
from scenarios.arrivals import pool_sizes

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNS_DIR = REPO_ROOT / "reports" / "runs"
LOCUST_READY_TIMEOUT_S = 90.0  # Locust must import, spawn every user and prepare within this
START_AHEAD_S = 1.0  # t = 0 is announced this far ahead so every user sees it in time
LOCUST_GRACE_S = 45.0  # beyond the profile's end + drain, the supervisor kills Locust
CORPUS_SIZE = 3000  # distinct seeded malformed cases (scenarios/corpus.py), a few seconds of Hypothesis


@dataclass
class RunOptions:
    profile: str
    out: Path | None = None
    seed: int | None = None
    env: str | None = None
    fault_in_service: str | None = None
    progress_interval_s: float = 5.0


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
    ledger_history: list[dict[str, Any]] = field(default_factory=list)
    access_log: list[dict[str, Any]] = field(default_factory=list)
    load_started: bool = False
    error: str = ""
    admin_token: str = ""
    accounts_public: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

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
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{profile.name}-{stamp}"
    out_dir = Path(options.out) if options.out else DEFAULT_RUNS_DIR / run_id
    evidence.prepare_out_dir(out_dir)  # a reused --out must not mix an older run's files into this one
    state = RunState(options, profile, seed, env, run_id, out_dir, datetime.now(UTC).isoformat())
    supervisor = Supervisor(out_dir / "logs",
                            on_start=lambda c: state.note("process.start", name=c.name, pid=c.pid))
    private: PrivateFiles | None = None
    previous = _install_signal_handlers()
    try:
        accounts = derive_accounts(seed, account_sizes(profile))
        state.accounts_public = accounts.public_summary()
        private = write_private_files(accounts)
        state.admin_token = private.admin_token
        state.secrets = (private.admin_token, private.api_key_secret, accounts.escrow.secret, accounts.pay_to.secret,
                         *(k.secret for k in (*accounts.settlement_pool, *accounts.payers, *accounts.destinations,
                                              *accounts.channel_parties, *accounts.strangers, *accounts.facilitator)))
        _play(state, supervisor, private)
    except KeyboardInterrupt:
        state.error = "interrupted (Ctrl-C / SIGTERM): partial evidence only"
    except HarnessError as exc:
        state.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure still yields a report and exit 4
        state.error = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        state.note("process.stop", exit_codes=supervisor.stop_all())
        _restore_signal_handlers(previous)
        if private is not None:
            private.cleanup()
    print(f"harness run: collecting and judging into {out_dir}", file=sys.stderr, flush=True)
    return evidence.finish(state)


def account_sizes(profile: Profile) -> AccountSizes:
    """Enough keys that no two concurrent users share a payer, and that the service has a channel
    account for every settlement and escrow it can have in flight at once (stellar-core queues one
    transaction per source account), with half as many again for accounts quarantined while an
    unknown outcome resolves."""
    pools = pool_sizes(profile.phases, profile.mix, profile.pools)
    payers = pools.get("paying_agent", 0) + pools.get("tamperer", 0)
    concurrent = pools.get("settler", 0) + pools.get("escrow_user", 0)
    v2 = sum(pools.get(kind, 0) for kind in X402_V2_KINDS)
    return AccountSizes(settlement_pool=min(MAX_ACCOUNTS_PER_ROLE, max(16, math.ceil(1.5 * concurrent))),
                        facilitator=min(MAX_ACCOUNTS_PER_ROLE, max(8, math.ceil(1.5 * v2))),
                        payers=min(MAX_ACCOUNTS_PER_ROLE, max(32, payers)),
                        channel_parties=min(MAX_ACCOUNTS_PER_ROLE, max(32, 2 * pools.get("channel_updater", 0))))


def _play(state: RunState, supervisor: Supervisor, private: PrivateFiles) -> None:
    from harness.faults.client import FaultController
    from harness.faults.schedule import FaultSchedule
    from harness.ledger.config import OFFLINE_PASSPHRASE

    profile, py = state.profile, sys.executable
    schedule = FaultSchedule.parse([_schedule_entry(i, f) for i, f in enumerate(profile.faults)])
    corpus_file = private.directory / "corpus.json" if profile.mix.get("fuzzer", 0) > 0 else None
    corpus_thread = None
    if corpus_file is not None:  # generated while the servers start (a few seconds of Hypothesis)
        from scenarios.corpus import write_corpus

        corpus_thread = threading.Thread(target=write_corpus, args=(corpus_file, state.seed, CORPUS_SIZE),
                                         name="corpus", daemon=True)
        corpus_thread.start()
    ledger = supervisor.start(
        "ledger",
        [py, "-m", "harness.ledger", "--host", "127.0.0.1", "--port", "0", "--port", "0", "--port", "0",
         "--close-interval", str(profile.ledger_close_s), "--passphrase", OFFLINE_PASSPHRASE,
         "--seed-accounts", str(private.genesis)],
        listeners=3, ready_timeout_s=60.0,
    )
    primary_up, secondary_up, direct = ledger.urls[:3]
    toxiproxy_url = os.environ.get("TOXIPROXY_URL") or supervisor.start(
        "toxiproxy", [py, "-m", "harness.toxiproxy", "--host", "127.0.0.1", "--port", "0"], ready_timeout_s=60.0
    ).url
    setup = FaultController(url=toxiproxy_url, clock=SYSTEM_CLOCK)
    try:
        setup.reset()
        primary = setup.ensure_proxy("horizon-primary", _hostport(primary_up))
        secondary = setup.ensure_proxy("horizon-secondary", _hostport(secondary_up))
    finally:
        setup.close()
    service_argv = [
        py, "-m", "reference_impl.service", "--host", "127.0.0.1", "--port", "0", "--env", state.env,
        "--horizon-primary", f"http://{primary}", "--horizon-secondary", f"http://{secondary}",
        "--accounts-file", str(private.service_accounts), "--admin-token-file", str(private.admin_token_file),
        "--api-keys-file", str(private.api_keys_file),
        "--network-passphrase", OFFLINE_PASSPHRASE, "--log-file", str(state.out_dir / "logs" / "service.jsonl"),
    ]
    if state.options.fault_in_service:
        service_argv += ["--fault-in-service", state.options.fault_in_service]
    if any(profile.mix.get(kind, 0) > 0 for kind in X402_V2_KINDS):
        service_argv += start_facilitator(supervisor, private, (primary, secondary), profile.ledger_close_s)
    service = supervisor.start("service", service_argv, ready_timeout_s=90.0)
    _wait_healthy(service.url)

    if corpus_thread is not None:
        corpus_thread.join(timeout=120.0)
        if not corpus_file.is_file():
            raise HarnessError("the malformed-input corpus was not generated")
    config_file = private.directory / "run-config.json"
    ready_file, start_file = private.directory / "locust-ready", private.directory / "run-start"
    config_file.write_text(json.dumps({
        "run_id": state.run_id, "seed": state.seed, "ready_file": str(ready_file), "start_file": str(start_file),
        "service_url": service.url, "ledger_url": direct, "profile": profile.to_dict(),
        "accounts_file": str(private.load_accounts), "out_dir": str(state.load_dir),
        "corpus_file": str(corpus_file) if corpus_file else None,
        "rate_limits": evidence.rate_limit_table(state.env), "max_lag_s": 10.0,
        "faults": [{"at_s": f.at_s, "end_s": f.end_s, "label": f.label} for f in profile.faults],
    }))
    locust = supervisor.start(
        "locust",
        [py, "-m", "locust", "-f", str(REPO_ROOT / "scenarios" / "locustfile.py"), "--headless",
         "--host", service.url, "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10",
         "--skip-log-setup"],
        wait_ready=False, env={**os.environ, "HARNESS_RUN_CONFIG": str(config_file), "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    _wait_file(ready_file, locust, LOCUST_READY_TIMEOUT_S)
    state.run_start_epoch = time.time() + START_AHEAD_S
    run_start_mono = SYSTEM_CLOCK.now() + START_AHEAD_S
    tmp = start_file.with_suffix(".tmp")
    tmp.write_text(repr(state.run_start_epoch))
    tmp.replace(start_file)
    state.load_started = True
    controller = FaultController(url=toxiproxy_url, clock=SYSTEM_CLOCK, run_start=run_start_mono,
                                 on_event=state.fault_events.append)
    stop = threading.Event()
    poller = ServicePoller(service.url, state.admin_token, lambda t: t - state.run_start_epoch, state.now_run_s)
    progress = ProgressReporter(profile.phases, state.load_dir, state.now_run_s,
                                lambda: _active_labels(state.fault_events), state.options.progress_interval_s)
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
        deadline = profile.duration_s + START_AHEAD_S + LOCUST_GRACE_S
        code = supervisor.wait(locust, deadline)
        if code is None:
            state.note("note", message=f"locust still running {deadline:.0f}s after start; killed")
        elif code != 0:
            raise HarnessError(f"locust exited with code {code}; see logs/locust.log")
    finally:
        _record_phases(state, state.now_run_s())
        stop.set()
        fault_thread.join(timeout=30.0)
        _final_fault_cleanup(state, controller)
        controller.close()
        progress.stop()
        poller.stop()
        state.service_events = poller.snapshot()
        _read_ledger(state, direct)
    if schedule_errors:
        raise HarnessError("; ".join(schedule_errors))


def start_facilitator(supervisor: Supervisor, private: PrivateFiles, proxies: tuple[str, str],
                      close_s: float) -> list[str]:
    """Start the x402 v2 facilitator (its Soroban RPC through both proxies); the service's options for it."""
    from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
    from harness.ledger.genesis import offline_asset

    argv = [sys.executable, "-m", "reference_impl.facilitator", "--host", "127.0.0.1", "--port", "0",
            "--accounts-file", str(private.facilitator_accounts), "--network-passphrase", OFFLINE_PASSPHRASE,
            "--ledger-seconds", str(close_s)]
    for proxy in proxies:
        argv += ["--rpc-url", f"http://{proxy}/soroban/rpc"]
    facilitator = supervisor.start("facilitator", argv, ready_timeout_s=60.0)
    return ["--facilitator-url", facilitator.url, "--x402-asset", offline_asset(LedgerConfig())]


def _wait_file(path: Path, child: Any, timeout_s: float) -> None:
    """Wait for a child to create `path`; ProcessStartError if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if not child.running():
            raise ProcessStartError(f"{child.name} exited with code {child.process.returncode} before it was ready; "
                                    f"last output: {' | '.join(child.tail[-5:]) or '(none)'}")
        if time.monotonic() > deadline:
            raise ProcessStartError(f"{child.name} was not ready within {timeout_s:g}s")
        time.sleep(0.05)


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


def _read_ledger(state: RunState, direct_url: str) -> None:
    from harness.run.collect import CollectionError, fetch_pages

    with httpx.Client(base_url=direct_url, timeout=10.0) as client:
        try:
            state.ledger_history = fetch_pages(client, "/admin/history")
            state.access_log = fetch_pages(client, "/admin/access-log")
        except CollectionError as exc:
            state.error = state.error or f"ledger evidence: {exc}"


def _active_labels(events: list[Event]) -> list[str]:
    active: dict[str, str] = {}
    for ev in list(events):
        name = str(ev.data.get("name", ""))
        if ev.kind == "fault.applied":
            active[name] = f"{ev.data.get('proxy')}/{ev.data.get('toxic')}"
        elif ev.kind == "fault.removed":
            active.pop(name, None)
    return sorted(active.values())


def _wait_healthy(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    with httpx.Client(base_url=url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                resp = client.get("/health")
                if resp.status_code == 200 and resp.json().get("ready"):
                    return
                last = f"status {resp.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.2)
    raise HarnessError(f"service at {url} not ready within {timeout_s:g}s ({last})")


def _hostport(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _install_signal_handlers() -> dict[int, Any]:
    """SIGTERM behaves like Ctrl-C: unwinds through every `finally`, so children are stopped."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {}
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
