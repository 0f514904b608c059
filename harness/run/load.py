"""The load generator of a run: Locust as a child process, its run-config file and its start handshake.

Locust never enters the harness process (`import locust` monkey-patches the standard library with gevent,
reference/stack-notes.md). The run-config file names the target, the profile, the accounts, the corpus,
the rate limits known before the run and any user-class modules given with `--scenarios`; once every
user has spawned, Locust writes the ready file, and the harness fixes t = 0 a moment ahead in the start file.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ProcessStartError
from harness.profiles import X402_V2_KINDS, Profile
from harness.run.accounts import MAX_ACCOUNTS_PER_ROLE, AccountSizes
from harness.run.supervisor import Child, Supervisor
from scenarios.arrivals import pool_sizes

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUST_READY_TIMEOUT_S = 90.0  # Locust must import, spawn every user and prepare within this
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
    """The fuzzers' malformed-input corpus, generated in a thread while the servers start."""

    def __init__(self, profile: Profile, seed: int, directory: Path) -> None:
        self.path = directory / "corpus.json" if profile.mix.get("fuzzer", 0) > 0 else None
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


def start_locust(supervisor: Supervisor, scratch: Path, target_url: str, settings: dict[str, Any],
                 scenarios: Sequence[Path] = ()) -> tuple[Child, Path]:
    """Write the run config and start Locust; returns the child and the start file to write t = 0 into."""
    config_file, ready_file, start_file = scratch / "run-config.json", scratch / "locust-ready", scratch / "run-start"
    config_file.write_text(json.dumps({**settings, "service_url": target_url, "ready_file": str(ready_file),
                                       "start_file": str(start_file), "scenarios": [str(p) for p in scenarios]}))
    locust = supervisor.start(
        "locust",
        [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "scenarios" / "locustfile.py"), "--headless",
         "--host", target_url, "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10", "--skip-log-setup"],
        wait_ready=False, env={**os.environ, "HARNESS_RUN_CONFIG": str(config_file), "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    wait_file(ready_file, locust, LOCUST_READY_TIMEOUT_S)
    return locust, start_file


def announce_start(start_file: Path, run_start_epoch: float) -> None:
    tmp = start_file.with_suffix(".tmp")
    tmp.write_text(repr(run_start_epoch))
    tmp.replace(start_file)


def wait_file(path: Path, child: Child, timeout_s: float) -> None:
    """Wait for a child to create `path`; ProcessStartError if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if not child.running():
            raise ProcessStartError(f"{child.name} exited with code {child.process.returncode} before it was ready; "
                                    f"last output: {' | '.join(child.tail[-5:]) or '(none)'}")
        if time.monotonic() > deadline:
            raise ProcessStartError(f"{child.name} was not ready within {timeout_s:g}s")
        time.sleep(0.05)
