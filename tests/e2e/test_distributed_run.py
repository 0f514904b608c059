"""`harness run --workers N` end to end: Locust master + workers share the arrival schedule, their records merge
exactly, the verdicts are the single-process run's, and a worker lost mid-run makes the run exit 4."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from tests.e2e.runs import REPO_ROOT, RunResult, gone, once_per_session, started_pids

pytestmark = [pytest.mark.e2e]

JOIN_PREFIX = "harness run: waiting up to"


def run_acting_on_output(profile: str, out_dir: Path, extra: list[str], act, timeout_s: float) -> RunResult:
    """`harness run`, calling `act(line, proc)` on each output line (it may start or kill processes)."""
    argv = [sys.executable, "-m", "harness", "run", profile, "--out", str(out_dir), "--progress-interval", "2", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the run ends (bounded by the pytest timeout and the kill below)
            lines.append(line)
            act(line, proc)
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"harness run {profile} exceeded {timeout_s:.0f}s:\n{''.join(lines)[-3000:]}")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return RunResult(proc.returncode, time.monotonic() - started, out_dir, "".join(lines))


def run_with_joined(profile: str, out_dir: Path, act, joined: list[subprocess.Popen[bytes]], timeout_s: float,
                    worker_wait_s: float) -> tuple[RunResult, int | None]:
    """A two-worker run whose second worker joins through `act`; every joined worker is reaped, also on failure."""
    try:
        result = run_acting_on_output(profile, out_dir, ["--workers", "2", "--remote-workers", "1"], act,
                                      timeout_s=timeout_s)
        return result, joined[0].wait(timeout=worker_wait_s) if joined else None
    finally:
        for proc in joined:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory):
    """smoke with 2 workers: one started by the run, one joining through `harness worker` (loopback) from a
    working folder of its own, given nothing but the master's address and the join token."""
    return once_per_session(tmp_path_factory, "smoke-w2", _distributed_smoke)


def joiner(elsewhere: Path, joined: list[subprocess.Popen[bytes]]):
    """An output action that starts `harness worker` from `elsewhere` once the run prints how to join: the
    operator copies the token file's content, nothing else of the run's machine is given to the worker."""

    def join(line: str, _proc: subprocess.Popen[str]) -> None:
        if line.startswith(JOIN_PREFIX) and not joined:
            words = line.split()
            port = words[words.index("--master-port") + 1]
            token = Path(words[words.index("copy") + 2].rstrip(",")).read_text().strip()
            env = {**os.environ, "HARNESS_JOIN_TOKEN": token, "TMPDIR": str(elsewhere)}
            joined.append(subprocess.Popen([sys.executable, "-m", "harness", "worker", "--master-host", "127.0.0.1",
                                            "--master-port", port], cwd=elsewhere, env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True))

    return join


def _distributed_smoke(folder: Path) -> tuple[RunResult, int | None, Path]:
    joined: list[subprocess.Popen[bytes]] = []
    elsewhere = folder / "elsewhere"  # the joining worker's working folder and TMPDIR: not the run's
    elsewhere.mkdir()
    join = joiner(elsewhere, joined)
    result, worker_code = run_with_joined("smoke", folder / "run", join, joined, timeout_s=480.0, worker_wait_s=60)
    print(f"distributed smoke wall time {result.wall_s:.0f}s")
    return result, worker_code, elsewhere


@pytest.mark.timeout(900)
def test_two_workers_give_the_single_process_verdicts(distributed, smoke) -> None:
    result, worker_code, elsewhere = distributed
    summary = result.summary
    assert result.exit_code == 0, f"exit {result.exit_code}: {summary['reason']}\n{result.output[-2000:]}"
    assert worker_code == 0, "the worker that joined with `harness worker` did not finish cleanly"
    assert list(elsewhere.iterdir()) == [], "the joining worker left files (its copy of the run's secrets) behind"
    verdicts = {c["id"]: c["verdict"] for c in summary["checks"]}
    assert verdicts == {c["id"]: c["verdict"] for c in smoke.summary["checks"]}
    assert set(verdicts.values()) == {"pass"}


@pytest.mark.timeout(900)
def test_merged_records_are_exactly_the_workers_records(distributed) -> None:
    result, _, _ = distributed
    load = json.loads((result.out_dir / "manifest.json").read_text())["load"]
    workers = load["per_process"]
    assert sorted(workers) == ["worker-0", "worker-1"] and load["problems"] == []
    assert all(w["sent"] > 0 and w["records"] > 0 for w in workers.values())  # the joined worker's streamed too
    rows = pq.read_metadata(result.out_dir / "requests.parquet").num_rows
    assert rows == load["records"] == sum(w["records"] for w in workers.values())
    finals = [json.loads(p.read_text()) for p in (result.out_dir / "load").rglob("load-*.json")]
    assert len(finals) == 2 and sum(f["records"] for f in finals) == rows  # each worker's final count
    assert list((result.out_dir / "load").rglob("requests-*.csv")) == [], "the records are kept once (Parquet)"
    arrivals = result.summary["load"]["arrivals"]
    assert load["sent"] == sum(w["sent"] for w in workers.values()) == sum(a["sent"] for a in arrivals.values())
    allocation = load["allocation"]
    assert all(len(users) == 2 for users in allocation.values())
    cpu = result.summary["load"]["cpu"]["processes"]
    assert {"locust", "locust-worker-0", "service", "harness"} <= set(cpu)


@pytest.mark.timeout(400)
def test_a_worker_killed_mid_run_makes_the_run_exit_4(tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_a_worker(line: str, proc: subprocess.Popen[str]) -> None:
        if killed or not line.startswith("phase 'steady'"):
            return
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "--worker" in p.cmdline() and "locust" in " ".join(p.cmdline())]
        if workers:
            killed.append(workers[0].pid)
            workers[0].send_signal(signal.SIGKILL)

    result = run_acting_on_output("e2e-short", tmp_path / "run", ["--workers", "2"], kill_a_worker, timeout_s=300.0)
    print(f"killed-worker run wall time {result.wall_s:.0f}s")
    assert killed, f"no worker to kill was found\n{result.output[-2000:]}"
    summary = result.summary
    assert result.exit_code == 4 and summary["verdict"] == "error", summary["reason"]
    assert "locust-worker-" in summary["reason"] and "exited with code -9" in summary["reason"]
    lost = json.loads((result.out_dir / "manifest.json").read_text())["load"]
    assert lost["per_process"], "the surviving worker's records are kept"
    for name, pid in started_pids(result.out_dir).items():
        assert gone(pid), f"{name} (pid {pid}) still running"


@pytest.mark.timeout(400)
def test_a_joined_worker_lost_mid_run_makes_the_run_exit_4(tmp_path: Path) -> None:
    """The joined worker's Locust process dies: the run is not its parent, so the loss shows at the merge (no
    final count from that worker) and the run exits 4; `harness worker` still removes its copy of the run."""
    joined: list[subprocess.Popen[bytes]] = []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    join = joiner(elsewhere, joined)
    killed: list[int] = []

    def act(line: str, proc: subprocess.Popen[str]) -> None:
        join(line, proc)
        if joined and not killed and line.startswith("phase 'steady'"):
            locust = [p for p in psutil.Process(joined[0].pid).children(recursive=True) if "locust" in " ".join(p.cmdline())]
            if locust:
                killed.append(locust[0].pid)
                locust[0].send_signal(signal.SIGKILL)

    result, worker_code = run_with_joined("e2e-short", tmp_path / "run", act, joined, timeout_s=300.0, worker_wait_s=30)
    print(f"joined-worker-lost run wall time {result.wall_s:.0f}s")
    assert killed, f"no joined worker to kill was found\n{result.output[-2000:]}"
    summary = result.summary
    assert result.exit_code == 4 and summary["verdict"] == "error", summary["reason"]
    assert "load evidence incomplete" in summary["reason"], summary["reason"]
    assert worker_code != 0 and list(elsewhere.iterdir()) == []
    load = json.loads((result.out_dir / "manifest.json").read_text())["load"]
    assert load["problems"] and load["per_process"], "the surviving worker's records are kept"
