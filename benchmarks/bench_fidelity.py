"""Benchmark: fidelity table of the embedded Toxiproxy-compatible server, asked vs measured on real TCP.

Each row sets up one toxic (reference/toxiproxy.md §5) on an `EmbeddedToxiproxy` in this process, in front
of a `TcpUpstream` echo or sink, measures it over N trials with the approach of
tests/integration/test_toxiproxy_fidelity.py (round trips minus a no-toxic base, medians because the
machine is shared) and prints median, min and max with PASS/FAIL against the row's tolerance.
The exit status is 1 when any row fails.

    .venv/bin/python -m benchmarks fidelity [-- --quick] [-- --trials 5 --chain-ms 500]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from benchmarks._common import BenchmarkError, print_table
from harness.toxiproxy.echo import TcpUpstream, connect, round_trip, wait_for
from harness.toxiproxy.embedded import EmbeddedToxiproxy

PROXY = "fidelity"
COLUMNS = ["check", "asked", "tolerance", "N", "median", "min", "max", "unit", "observed", "result"]


@dataclass
class Row:
    check: str
    asked: str
    tolerance: str
    samples: list[float]
    unit: str
    observed: str
    ok: bool

    def cells(self) -> list[str]:
        stats = [statistics.median(self.samples), min(self.samples), max(self.samples)] if self.samples else []
        numbers = [f"{v:,.1f}" for v in stats] or ["-"] * 3
        return [self.check, self.asked, self.tolerance, str(len(self.samples)), *numbers, self.unit,
                self.observed, "PASS" if self.ok else "FAIL"]


class Api:
    """The server's HTTP API; a non-2xx answer raises BenchmarkError."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, self.url + path, json=body, timeout=10)
        if resp.status_code >= 300:
            raise BenchmarkError(f"{method} {path} -> {resp.status_code} {resp.text[:200]}")
        return resp.json() if resp.content else None

    def toxic(self, type_: str, stream: str = "downstream", name: str | None = None, toxicity: float = 1.0,
              **attrs: Any) -> None:
        body = {"type": type_, "stream": stream, "toxicity": toxicity, "attributes": attrs}
        self("POST", f"/proxies/{PROXY}/toxics", body | ({"name": name} if name else {}))

    def remove(self, toxic: str) -> None:
        self("DELETE", f"/proxies/{PROXY}/toxics/{toxic}")


@contextmanager
def proxied(api: Api, mode: str) -> Iterator[tuple[TcpUpstream, int]]:
    """A fresh echo/sink upstream and the proxy `PROXY` in front of it: (upstream, listen port)."""
    with TcpUpstream(mode) as upstream:
        listen = api("POST", "/proxies", {"name": PROXY, "upstream": upstream.address})["listen"]
        try:
            yield upstream, int(listen.rsplit(":", 1)[1])
        finally:
            requests.delete(f"{api.url}/proxies/{PROXY}", timeout=10)








def read_end(conn: socket.socket) -> str:
    """How the connection ends on the next read: 'eof', 'reset', 'timeout' or 'data'."""
    try:
        return "eof" if conn.recv(100) == b"" else "data"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"


def base_ms(port: int, payload: bytes) -> float:
    with connect(port) as conn:
        return statistics.median(round_trip(conn, payload) for _ in range(5)) * 1000


def check_latency(api: Api, trials: int, stream: str) -> list[Row]:
    payload = b"L" * 40_000  # more than one 32 KiB chunk
    with proxied(api, "echo") as (_echo, port):
        base = base_ms(port, payload)
        api.toxic("latency", stream, latency=100)
        with connect(port) as conn:
            samples = [round_trip(conn, payload) * 1000 - base for _ in range(trials)]
    ok = abs(statistics.median(samples) - 100) <= 10
    return [Row(f"latency {stream}", "100 ms one way, 40 kB echo", "median 100 ± 10 ms", samples, "ms",
                f"added to base RT {base:.2f} ms", ok)]


def check_jitter(api: Api, trials: int) -> list[Row]:
    with proxied(api, "echo") as (_echo, port):
        base = base_ms(port, b"j")
        api.toxic("latency", latency=100, jitter=20)
        with connect(port) as conn:
            samples = sorted(round_trip(conn, b"j") * 1000 - base for _ in range(trials))
    spread = samples[-2] - samples[0]
    ok = samples[0] >= 79 and samples[-2] <= 130 and spread >= 8
    return [Row("latency + jitter", "100 ms, jitter 20 ms", "all >= 80-1; all but 1 <= 120+10; varies",
                samples, "ms", f"spread w/o top outlier {spread:.1f} ms", ok)]


def check_chain(api: Api, trials: int, each_ms: int) -> list[Row]:
    with proxied(api, "echo") as (_echo, port):
        base = base_ms(port, b"c")
        for name in ("a", "b"):
            api.toxic("latency", "upstream", name=name, latency=each_ms)
        with connect(port) as conn:
            samples = [round_trip(conn, b"c") * 1000 - base for _ in range(trials)]
    ok = abs(statistics.median(samples) - 2 * each_ms) <= 10
    return [Row("chained latency", f"2 x {each_ms} ms upstream", f"median {2 * each_ms} ± 10 ms", samples,
                "ms", "two named toxics, same stream", ok)]


def check_bandwidth(api: Api, trials: int) -> list[Row]:
    payload = bytes(range(250)) * 1920  # 480 000 B
    samples, intact = [], 0
    with proxied(api, "sink") as (sink, port):
        api.toxic("bandwidth", "upstream", rate=1000)
        for trial in range(trials):
            with connect(port) as conn:
                if not wait_for(lambda n=trial: len(sink.received) > n, 2.0):
                    raise BenchmarkError("upstream connection not made")
                start = time.perf_counter()
                conn.sendall(payload)
                wait_for(lambda n=trial: len(sink.received[n]) >= len(payload), 5.0)
                samples.append((time.perf_counter() - start) * 1000)
                intact += bytes(sink.received[trial]) == payload
    ok = intact == trials and 432 <= statistics.median(samples) <= 528
    return [Row("bandwidth", "1000 KB/s, 480 000 B up", "median 480 ms ± 10 %", samples, "ms",
                f"bytes intact {intact}/{trials}", ok)]


def check_reset_peer(api: Api, trials: int) -> list[Row]:
    samples, resets, eofs = [], 0, 0
    with proxied(api, "echo") as (_echo, port):
        api.toxic("reset_peer", timeout=100)
        for _ in range(trials):
            with connect(port, timeout=2.0) as conn:
                start = time.perf_counter()
                conn.sendall(b"hello")
                end = read_end(conn)
                samples.append((time.perf_counter() - start) * 1000)
                resets += end == "reset"
                eofs += end == "reset" and read_end(conn) == "eof"
    ok = resets == eofs == trials and 90 <= statistics.median(samples) <= 210
    return [Row("reset_peer", "timeout 100 ms", "ECONNRESET, EOF; median 100 -10/+110 ms", samples, "ms",
                f"ECONNRESET {resets}/{trials}, then EOF {eofs}/{trials}", ok)]


def check_timeout_zero(api: Api, trials: int) -> list[Row]:
    samples, open_, closed_ms = [], 0, []
    with proxied(api, "echo") as (echo, port):
        for trial in range(trials):
            api.toxic("timeout", "upstream", timeout=0)
            with connect(port, timeout=1.0) as conn:
                conn.sendall(b"dropped")
                got = bytearray()
                deadline = time.monotonic() + 1.0
                try:
                    while time.monotonic() < deadline:
                        conn.settimeout(max(0.001, deadline - time.monotonic()))
                        data = conn.recv(100)
                        if not data:
                            break
                        got += data
                    else:
                        raise TimeoutError
                except TimeoutError:
                    open_ += 1
                samples.append(float(len(got)))
                conn.settimeout(1.0)
                start = time.perf_counter()
                api.remove("timeout_upstream")
                if read_end(conn) == "eof" and echo.closed[trial].wait(1.0):
                    closed_ms.append((time.perf_counter() - start) * 1000)
    ok = open_ == trials and max(samples) == 0 and len(closed_ms) == trials
    removed = f"{max(closed_ms):.0f} ms" if closed_ms else "not closed"
    return [Row("timeout 0", "drop, then remove", "0 B within 1 s; removal: EOF both sides < 1 s", samples,
                "B", f"open at 1 s {open_}/{trials}; removal EOF both sides {len(closed_ms)}/{trials}, "
                f"max {removed}", ok)]


def check_timeout_idle(api: Api, trials: int) -> list[Row]:
    samples, eofs = [], 0
    with proxied(api, "echo") as (_echo, port):
        api.toxic("timeout", timeout=200)
        for _ in range(trials):
            with connect(port, timeout=2.0) as conn:
                start = time.perf_counter()
                eofs += read_end(conn) == "eof"
                samples.append((time.perf_counter() - start) * 1000)
    ok = eofs == trials and 190 <= statistics.median(samples) <= 250
    return [Row("timeout idle", "200 ms, no traffic", "EOF; median 200 -10/+50 ms", samples, "ms",
                f"EOF {eofs}/{trials}", ok)]


def check_slicer(api: Api, trials: int) -> list[Row]:
    payload = bytes(i * 7 % 251 for i in range(480_000))
    samples, intact = [], 0
    with proxied(api, "sink") as (sink, port):
        api.toxic("slicer", "upstream", average_size=1024, size_variation=512, delay=10)
        for trial in range(trials):
            with connect(port) as conn:
                start = time.perf_counter()
                conn.sendall(payload)
                wait_for(lambda n=trial: len(sink.received) > n and len(sink.received[n]) >= len(payload), 10.0)
                samples.append((time.perf_counter() - start) * 1000)
                intact += len(sink.received) > trial and bytes(sink.received[trial]) == payload
    return [Row("slicer", "480 000 B, avg 1024 var 512, 10 us", "bytes intact", samples, "ms",
                f"intact {intact}/{trials}; piece count (240-720) only visible in virtual time "
                "(unit test)", intact == trials)]


def check_limit_data(api: Api, trials: int) -> list[Row]:
    samples, exact = [], 0
    with proxied(api, "sink") as (sink, port):
        api.toxic("limit_data", "upstream", bytes=100)
        for trial in range(trials):
            with connect(port, timeout=2.0) as conn:
                conn.sendall(b"a" * 90)
                wait_for(lambda n=trial: len(sink.received) > n and len(sink.received[n]) >= 90, 2.0)
                conn.sendall(b"b" * 20)
                closed = len(sink.received) > trial and sink.closed[trial].wait(2.0)
                eof = read_end(conn) == "eof"
                received = bytes(sink.received[trial]) if len(sink.received) > trial else b""
                samples.append(float(len(received) - 90))
                exact += closed and eof and received == b"a" * 90 + b"b" * 10
    return [Row("limit_data", "100 B: send 90 then 20", "exactly 10 B of the 2nd, then EOF", samples, "B",
                f"exact + EOF {exact}/{trials}", exact == trials)]


def check_toxicity(api: Api, trials: int) -> list[Row]:
    passed, passes, closes = [], 0, []
    with proxied(api, "echo") as (_echo, port):
        for trial in range(trials):
            name = f"t{trial}"
            api.toxic("timeout", name=name, toxicity=0, timeout=100)
            with connect(port, timeout=2.0) as conn:
                rts = [round_trip(conn, b"pass") for _ in range(3)]
                time.sleep(0.15)  # longer than the timeout: an inactive toxic never fires
                rts.append(round_trip(conn, b"still"))
                passed.append(max(rts) * 1000)
                passes += max(rts) < 0.1
                api("PATCH", f"/proxies/{PROXY}/toxics/{name}", {"toxicity": 1})
                start = time.perf_counter()
                if read_end(conn) == "eof":
                    closes.append((time.perf_counter() - start) * 1000)
            api.remove(name)
    updated_ok = len(closes) == trials and statistics.median(closes) <= 150
    return [Row("toxicity 0", "timeout 100, toxicity 0", "passthrough after 150 ms idle", passed, "ms",
                f"slowest RT; open and echoing {passes}/{trials}", passes == trials),
            Row("toxicity 0 -> 1", "PATCH toxicity 1", "EOF, median <= 150 ms", closes, "ms",
                f"EOF {len(closes)}/{trials}", updated_ok)]


def check_disable(api: Api, trials: int) -> list[Row]:
    samples, closed, refused = [], 0, 0
    with proxied(api, "echo") as (_echo, port):
        api.toxic("latency", latency=1000)
        for _ in range(trials):
            listen = api("POST", f"/proxies/{PROXY}", {"enabled": True})["listen"]
            port = int(listen.rsplit(":", 1)[1])
            with connect(port, timeout=2.0) as conn:
                conn.sendall(b"held in the latency toxic")
                time.sleep(0.05)
                start = time.perf_counter()
                api("POST", f"/proxies/{PROXY}", {"enabled": False})
                end = read_end(conn)
                samples.append((time.perf_counter() - start) * 1000)
                closed += end in ("eof", "reset")
            try:
                connect(port, timeout=1.0).close()
            except ConnectionRefusedError:
                refused += 1
    ok = closed == refused == trials and max(samples) < 500
    return [Row("disable", "enabled=false, live conn", "live closed < 500 ms; new refused", samples, "ms",
                f"closed {closed}/{trials}, refused {refused}/{trials}", ok)]


def check_overhead(api: Api, trials: int) -> list[Row]:
    payload, count = b"o" * 64, 300
    samples, directs = [], []
    with proxied(api, "echo") as (echo, port), connect(echo.port) as direct, connect(port) as through:
        for conn in (direct, through):
            for _ in range(50):
                round_trip(conn, payload)
        for _ in range(trials):
            pairs = [(round_trip(direct, payload), round_trip(through, payload)) for _ in range(count)]
            d, p = (statistics.fmean(column) * 1e6 for column in zip(*pairs, strict=True))
            directs.append(d)
            samples.append((p - d) / 2)
    return [Row("no-toxic overhead", f"64 B echo, mean of {count} RT", "one way < 300 us", samples, "us",
                f"direct RT mean {statistics.median(directs):.0f} us", statistics.median(samples) < 300)]


def checks(trials: int, quick: bool, chain_ms: int) -> list[tuple[str, Callable[[Api], list[Row]]]]:
    """(name, check) in table order; `quick` trims the slow rows to their minimum."""
    few = 1 if quick else trials
    return [
        ("latency downstream", lambda api: check_latency(api, trials, "downstream")),
        ("latency upstream", lambda api: check_latency(api, trials, "upstream")),
        ("latency + jitter", lambda api: check_jitter(api, max(10, 3 * trials))),
        ("chained latency", lambda api: check_chain(api, trials, chain_ms)),
        ("bandwidth", lambda api: check_bandwidth(api, trials)),
        ("reset_peer", lambda api: check_reset_peer(api, trials)),
        ("timeout 0", lambda api: check_timeout_zero(api, few)),
        ("timeout idle", lambda api: check_timeout_idle(api, trials)),
        ("slicer", lambda api: check_slicer(api, trials)),
        ("limit_data", lambda api: check_limit_data(api, trials)),
        ("toxicity", lambda api: check_toxicity(api, trials)),
        ("disable", lambda api: check_disable(api, trials)),
        ("no-toxic overhead", lambda api: check_overhead(api, trials)),
    ]


def run_checks(api: Api, selected: list[tuple[str, Callable[[Api], list[Row]]]]) -> list[Row]:
    """Every check's rows; a check that raises becomes one FAIL row naming the error."""
    rows: list[Row] = []
    for name, check in selected:
        try:
            rows.extend(check(api))
        except Exception as exc:  # reported in the table; the other rows still run
            rows.append(Row(name, "-", "-", [], "-", f"error: {type(exc).__name__}: {exc}"[:160], False))
    return rows


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials per row (1 for timeout 0)")
    parser.add_argument("--trials", type=_positive, default=None, help="trials per row (default 5, quick 3)")
    parser.add_argument("--chain-ms", type=_positive, default=500, help="each of the two chained latencies")
    parser.add_argument("--only", nargs="*", default=None, metavar="CHECK",
                        help="run only checks whose name starts with one of these words")
    parser.add_argument("--seed", type=int, default=7, help="server RNG seed (jitter, toxicity)")
    args = parser.parse_args(argv)
    trials = args.trials or (3 if args.quick else 5)
    selected = checks(trials, args.quick, args.chain_ms)
    if args.only is not None:
        selected = [c for c in selected if any(c[0].startswith(word) for word in args.only)]
        if not selected:
            parser.error(f"no check matches {args.only}")
    started = time.perf_counter()
    with EmbeddedToxiproxy(seed=args.seed) as server:
        rows = run_checks(Api(server.url), selected)
    title = (f"Embedded Toxiproxy fidelity (asked vs measured, {trials} trials/row, "
             f"{time.perf_counter() - started:.1f} s)")
    print_table(title, [row.cells() for row in rows], COLUMNS)
    failed = [row.check for row in rows if not row.ok]
    print(f"{len(rows) - len(failed)}/{len(rows)} PASS" + (f"; FAIL: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
