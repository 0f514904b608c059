"""Load generation: the harness's achieved request rate against a cheap loopback endpoint (issue 13.3).

`python -m benchmarks load [-- --seconds S --users U]`. One uvicorn process serves `benchmarks/load_app.py`
(200 `ok`); against it, in the same run: Locust as one local process (no master/worker split), a master with
1 worker, a master with 2 workers, each running `benchmarks/load_locustfile.py` (closed-loop `FastHttpUser`s,
every request recorded as a harness run records it), and `wrk` (Debian package `wrk`; the row says so when
it is not installed). Each Locust mode is measured over `--seconds` once requests flow: achieved
requests/s (rows recorded in the window), the ratio to the local runner and to wrk, the load
generator's CPU per request (master + workers, psutil or /proc) and the server's CPU share (a server
near 100 % of its core means the endpoint, not the generator, set the rate). The machine's core count
and load average are printed: on a shared 2-core machine the figures move with the neighbours.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import BenchmarkError, print_table, ratio
from harness.outputs import read_records
from harness.run.cpu import cpu_seconds, load_average
from harness.run.worlds import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO_ROOT / "benchmarks" / "load_locustfile.py"
START_LIMIT_S = 90.0  # Locust must import, connect its workers and send a first request within this
WARM_S = 1.0  # after the first request, before the window opens
_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")


@dataclass(frozen=True)
class Measured:
    mode: str
    processes: int
    requests: int
    rate: float
    cpu_per_request_ms: float | None
    server_share: float


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "benchmarks.load_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--http", "httptools", "--loop", "uvloop"]
    server = subprocess.Popen(argv, cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):  # bounded: 20 s
        try:
            import httpx

            if httpx.get(url, timeout=0.5).status_code == 200:
                return server, url
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.1)
    stop([server])
    raise BenchmarkError("the loopback server did not answer within 20 s")


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def locust_processes(url: str, workers: int, users: int, out: Path) -> list[subprocess.Popen[bytes]]:
    """Local runner (`workers` = 0) or a master and its workers; all in their own process groups."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--skip-log-setup", "--loglevel", "ERROR"]
    run = ["--headless", "-u", str(users), "-r", str(users), "--run-time", "600s", "--host", url, "--only-summary"]
    env = {**os.environ, "BENCH_LOAD_OUT": str(out), "PYTHONPATH": str(REPO_ROOT)}

    def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    if not workers:
        return [spawn(base + run)]
    port = free_port()
    master = spawn(base + run + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                                 "--expect-workers", str(workers)])
    return [master, *(spawn(base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)])
                      for _ in range(workers))]


def count_rows(out: Path, since: float, until: float) -> int:
    return sum(1 for path in out.glob("requests-*.csv") for r in read_records(path) if since <= r.sent_s < until)


def measure_locust(mode: str, url: str, workers: int, users: int, seconds: float, server: int) -> Measured:
    out = Path(tempfile.mkdtemp(prefix="bench-load-"))
    procs = locust_processes(url, workers, users, out)
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while not any(p.stat().st_size > 200 for p in out.glob("requests-*.csv")):  # header + a row
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise BenchmarkError(f"{mode}: no request within {START_LIMIT_S:.0f} s")
            time.sleep(0.1)
        time.sleep(WARM_S)
        cpu0, srv0, t0 = _cpu(procs), cpu_seconds(server) or 0.0, time.time()
        time.sleep(seconds)
        cpu1, srv1, t1 = _cpu(procs), cpu_seconds(server) or 0.0, time.time()
    finally:
        stop(procs)
    n = count_rows(out, t0, t1)
    shutil.rmtree(out, ignore_errors=True)
    return Measured(mode, len(procs), n, n / (t1 - t0), (cpu1 - cpu0) * 1000.0 / n if n else None,
                    (srv1 - srv0) / (t1 - t0))


def _cpu(procs: Sequence[subprocess.Popen[bytes]]) -> float:
    return sum(cpu_seconds(p.pid) or 0.0 for p in procs)


def measure_wrk(url: str, users: int, seconds: float) -> float | None:
    """wrk's requests/s on the same endpoint, or None when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "-t2", f"-c{users}", f"-d{max(1, round(seconds))}s", url + "/"], capture_output=True,
                          text=True, timeout=seconds + 60, check=False)
    found = _WRK_RATE.search(done.stdout)
    if found is None:
        raise BenchmarkError(f"wrk printed no rate: {done.stdout[-300:]} {done.stderr[-300:]}")
    return float(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks load")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per mode (default 10)")
    parser.add_argument("--users", type=int, default=32, help="closed-loop users / wrk connections (default 32)")
    args = parser.parse_args(list(argv or []))
    print(f"cores {os.cpu_count()}, load average before {load_average()}", flush=True)
    server, url = start_server()
    try:
        rows = [measure_locust(mode, url, workers, args.users, args.seconds, server.pid)
                for mode, workers in (("local runner", 0), ("master + 1 worker", 1), ("master + 2 workers", 2))]
        wrk_rate = measure_wrk(url, args.users, args.seconds)
    finally:
        stop([server])
    local = rows[0].rate
    table = [[m.mode, m.processes, m.requests, f"{m.rate:,.0f}", ratio(m.rate, local), ratio(m.rate, wrk_rate),
              f"{m.cpu_per_request_ms:.3f}" if m.cpu_per_request_ms else "-", f"{m.server_share:.0%}"] for m in rows]
    table.append(["wrk -t2", 1, "-", f"{wrk_rate:,.0f}" if wrk_rate else "not installed (apt-get install wrk)",
                  ratio(wrk_rate, local) if wrk_rate else "-", "1.00x" if wrk_rate else "-", "-", "-"])
    print_table(f"Load generation against a loopback 200 endpoint ({args.users} users, {args.seconds:g} s windows)",
                table, ["mode", "procs", "requests", "req/s", "vs local", "vs wrk", "CPU ms/req", "server CPU"])
    two, one = rows[2].rate, rows[1].rate
    print(f"2 workers / 1 worker: {ratio(two, one)}; load average after {load_average()}", flush=True)
    return 0
