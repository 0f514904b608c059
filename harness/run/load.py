"""The load generator of a run: Locust as a child process, its run-config file and its start handshake.

Locust never enters the harness process (`import locust` monkey-patches the standard library with gevent,
reference/stack-notes.md). The run-config file names the target, the profile, the accounts, the corpus,
the rate limits known before the run and any user-class modules given with `--scenarios`; once every
user has spawned, Locust writes the ready file, and the harness fixes t = 0 a moment ahead in the start file.
A distributed run's processes share a join token (`$HARNESS_JOIN_TOKEN`, generated per run unless set): it
seals what crosses the network between master and workers (scenarios/wire.py).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessConfigurationError, HarnessError, ProcessStartError
from harness.outputs import CORPUS_FILE
from harness.profiles import X402_V2_KINDS, Profile
from harness.run.accounts import MAX_ACCOUNTS_PER_ROLE, AccountSizes
from harness.run.supervisor import Child, Supervisor
from harness.run.worlds import free_port
from scenarios.arrivals import pool_sizes
from scenarios.wire import TOKEN_ENV, new_token

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO_ROOT / "scenarios" / "locustfile.py"
LOCUST_READY_TIMEOUT_S = 90.0  # Locust must import, spawn every user and prepare within this
REMOTE_JOIN_TIMEOUT_S = 300.0  # extra time for workers started by hand on other machines
CORPUS_SIZE = 3000  # distinct seeded malformed cases (scenarios/corpus.py), a few seconds of Hypothesis


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


def check_accounts_fit(profile: Profile, load_accounts: Path) -> None:
    """Refuse borrowed worlds whose accounts are too few for the profile (users would share payers)."""
    need = account_sizes(profile)
    have = json.loads(load_accounts.read_text())
    short = {role: (len(have.get(role, [])), getattr(need, role)) for role in ("payers", "channel_parties")
             if len(have.get(role, [])) < getattr(need, role)}
    if short:
        detail = ", ".join(f"{role} {got} < {want}" for role, (got, want) in short.items())
        raise HarnessError(f"the worlds' accounts are too few for profile {profile.name} ({detail}); "
                           f"restart `harness up --profile {profile.name}`")


class Corpus:
    """The fuzzers' malformed-input corpus, generated in a thread while the servers start, into `directory`
    (the run folder, which keeps it)."""

    def __init__(self, profile: Profile, seed: int, directory: Path) -> None:
        self.path = directory / CORPUS_FILE if profile.mix.get("fuzzer", 0) > 0 else None
        self._thread: threading.Thread | None = None
        if self.path is not None:
            from scenarios.corpus import write_corpus

            self._thread = threading.Thread(target=write_corpus, args=(self.path, seed, CORPUS_SIZE),
                                            name="corpus", daemon=True)
            self._thread.start()

    def ready(self) -> Path | None:
        if self._thread is not None:
            self._thread.join(timeout=120.0)
            assert self.path is not None
            if not self.path.is_file():
                raise HarnessError("the malformed-input corpus was not generated")
        return self.path


@dataclass
class Load:
    """The Locust processes of a run: one local runner, or a master and its workers."""

    master: Child
    workers: list[Child]
    start_file: Path

    def dead_worker(self, load_over: bool = False) -> Child | None:
        """A worker that exited while the master still runs (killed, or crashed): its share is lost. Once the
        load is over (`load_over`) the master tells the workers to quit, so only a failure code counts then."""
        if not self.master.running():
            return None
        return next((w for w in self.workers if not w.running() and (not load_over or w.process.returncode != 0)),
                    None)


def locust_argv(*role: str) -> list[str]:
    """`python -m locust` on the harness's locustfile with the options every role shares."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING", "--skip-log-setup", *role]


def worker_argv(master_host: str, master_port: int) -> list[str]:
    return locust_argv("--worker", "--master-host", master_host, "--master-port", str(master_port))


def locust_env(config_file: Path, role: str, token: str | None = None) -> dict[str, str]:
    env = {**os.environ, "HARNESS_RUN_CONFIG": str(config_file), "HARNESS_LOCUST_ROLE": role,
           "PYTHONPATH": str(REPO_ROOT)}
    if token:
        env[TOKEN_ENV] = token
    return env


def write_token(path: Path, token: str) -> Path:
    """The join token in a file only its owner reads (0600), for the operator to hand to remote workers."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return path


@dataclass(frozen=True)
class Distribution:
    """How the load is generated: `workers` Locust workers (0: one local process), `remote` of which join from
    other machines with `harness worker`; the master listens on `bind_host` (loopback unless told otherwise)."""

    workers: int = 0
    remote: int = 0
    bind_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.workers < 0 or not 0 <= self.remote <= self.workers:
            raise HarnessConfigurationError(f"need 0 <= remote workers ({self.remote}) <= workers ({self.workers})")


def auto_workers(profile: Profile, cores: int | None = None) -> int:
    """`--workers auto`: one worker per core but one (the master, service and worlds need a core), at least one,
    and no more than the profile has users (a worker without users sends nothing)."""
    users = sum(pool_sizes(profile.phases, profile.mix, profile.pools).values())
    return max(1, min((cores or os.cpu_count() or 2) - 1, users))


def start_locust(supervisor: Supervisor, scratch: Path, target_url: str, settings: dict[str, Any],
                 scenarios: Sequence[Path] = (), distribution: Distribution = Distribution()) -> Load:
    """Write the run config and start Locust: one local process, or a master on a free port and its workers (the
    remote ones are awaited); returns once every user has spawned, with the start file to write t = 0 into."""
    config_file, ready_file, start_file = scratch / "run-config.json", scratch / "locust-ready", scratch / "run-start"
    config_file.write_text(json.dumps({**settings, "service_url": target_url, "ready_file": str(ready_file),
                                       "start_file": str(start_file), "scenarios": [str(p) for p in scenarios]}))
    common = ("--headless", "--host", target_url, "--only-summary", "--stop-timeout", "10")
    if not distribution.workers:
        master = supervisor.start("locust", locust_argv(*common), wait_ready=False,
                                  env=locust_env(config_file, "local"), cwd=REPO_ROOT)
        wait_file(ready_file, master, LOCUST_READY_TIMEOUT_S)
        return Load(master, [], start_file)
    port, token = free_port(), os.environ.get(TOKEN_ENV) or new_token()
    master = supervisor.start(
        "locust", locust_argv(*common, "--master", "--master-bind-host", distribution.bind_host,
                              "--master-bind-port", str(port), "--expect-workers", str(distribution.workers)),
        wait_ready=False, env=locust_env(config_file, "master", token), cwd=REPO_ROOT)
    local = distribution.workers - distribution.remote
    children = [supervisor.start(f"locust-worker-{i}", worker_argv("127.0.0.1", port), wait_ready=False,
                                 env=locust_env(config_file, "worker", token), cwd=REPO_ROOT) for i in range(local)]
    if distribution.remote:
        token_file = write_token(scratch / "join-token", token)
        print(f"harness run: waiting up to {REMOTE_JOIN_TIMEOUT_S:.0f}s for {distribution.remote} remote worker(s): "
              f"harness worker --master-host <this machine> --master-port {port} --token-file FILE "
              f"(FILE: a copy of {token_file}, mode 0600, or the token in ${TOKEN_ENV})", file=sys.stderr, flush=True)
    load = Load(master, children, start_file)
    timeout = LOCUST_READY_TIMEOUT_S + (REMOTE_JOIN_TIMEOUT_S if distribution.remote else 0.0)
    wait_file(ready_file, master, timeout, load.dead_worker)
    return load


def announce_start(start_file: Path, run_start_epoch: float) -> None:
    tmp = start_file.with_suffix(".tmp")
    tmp.write_text(repr(run_start_epoch))
    tmp.replace(start_file)


def wait_file(path: Path, child: Child, timeout_s: float, dead: Callable[[], Child | None] = lambda: None) -> None:
    """Wait for a child to create `path`; ProcessStartError if it (or a `dead` helper) exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        gone = child if not child.running() else dead()
        if gone is not None:
            raise ProcessStartError(f"{gone.name} exited with code {gone.process.returncode} before it was ready; "
                                    f"last output: {' | '.join(gone.tail[-5:]) or '(none)'}")
        if time.monotonic() > deadline:
            raise ProcessStartError(f"{child.name} was not ready within {timeout_s:g}s")
        time.sleep(0.05)
