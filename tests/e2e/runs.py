"""Helpers of the end-to-end tests: run `harness run` as a child process and read its run folder."""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunResult:
    exit_code: int
    wall_s: float
    out_dir: Path
    output: str

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "summary.json").read_text())

    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.summary["checks"]}


def once_per_session(tmp_path_factory: pytest.TempPathFactory, key: str, produce: Callable[[Path], T]) -> T:
    """`produce(folder)` once per test session, also across pytest-xdist workers: the first worker to ask runs it
    under a file lock and pickles the result; the others wait and read it. A shared `harness run` (minutes) is so
    played once, whichever workers its tests land on. A failed `produce` saves nothing (the next asker retries)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, saved = shared / f"once-{key}", shared / f"once-{key}" / "result.pickle"
    with (shared / f"once-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if saved.is_file():
            return pickle.loads(saved.read_bytes())
        folder.mkdir(exist_ok=True)
        value = produce(folder)
        saved.write_bytes(pickle.dumps(value))
        return value


def harness_run(profile: str, out_dir: Path, *extra: str, timeout_s: float = 600.0) -> RunResult:
    """`python -m harness run PROFILE --out OUT_DIR ...`; the whole process group is killed on timeout."""
    argv = [sys.executable, "-m", "harness", "run", profile, "--out", str(out_dir), "--progress-interval", "10", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(f"harness run {profile} exceeded {timeout_s:.0f}s:\n{output[-3000:]}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return RunResult(proc.returncode, time.monotonic() - started, out_dir, output)


def interrupted_run(profile: str, out_dir: Path, *extra: str, timeout_s: float = 120.0) -> tuple[int, str]:
    """Start `harness run`, send SIGINT (Ctrl-C) two seconds into the load, return (exit code, output)."""
    argv = [sys.executable, "-m", "harness", "run", profile, "--out", str(out_dir), "--progress-interval", "1", *extra]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        for _ in range(2000):  # bounded: until the load is running (a progress line inside a phase)
            line = proc.stdout.readline()
            if not line or line.startswith("phase 'ramp'") or line.startswith("phase 'steady'"):
                break
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, output


def started_pids(out_dir: Path) -> dict[str, int]:
    """Child name -> pid of every process the run started (its `process.start` events)."""
    from harness.outputs import read_events

    return {e.data["name"]: e.data["pid"] for e in read_events(out_dir / "events.jsonl") if e.kind == "process.start"}


def gone(pid: int, wait_s: float = 5.0) -> bool:
    """Whether `pid` no longer exists (waits up to `wait_s` for it to be reaped)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
