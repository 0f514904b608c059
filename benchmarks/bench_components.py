"""Per-call overhead of the reference components next to peer libraries and the bare floor.

`python -m benchmarks components` (or `python -m benchmarks.bench_components [--quick]`). Every row is
the median ns per call of `measure` (benchmarks/_common.py). "x floor" divides by the scenario's floor
(the least work any implementation must do: a bare call, a dict counter, a list append, an exact
numpy.percentile over the raw samples); "x peer" divides a reference row by its peer library's row
(below 1.00x the reference is faster). After timing, every scenario re-checks that it exercised the
path it names (breaker still closed or open, limiter still admitting or rejecting); if not it fails.
Peers (tenacity, pybreaker, limits; prometheus_client, numpy) missing from the environment are
skipped with a message: install them with `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

from benchmarks._common import BenchmarkError, calibrate, measure, ns, print_table, ratio
from reference_impl.circuit_breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from reference_impl.clock import SystemClock
from reference_impl.errors import CircuitOpenError
from reference_impl.metrics_collector import X402_HANDSHAKE, MetricsCollector
from reference_impl.rate_limiter import RateLimiter, RateLimiterConfig
from reference_impl.retry_handler import RetryConfig, RetryHandler, is_transient_error

FLOOR, REFERENCE, PEER = "floor", "reference", "peer"
GROUPS = ("retry", "breaker", "limiter", "metrics")
LIMIT_PER_MINUTE = 1000  # the RELAXED preset; the same limit for every limiter row
CHECK_CALLS = 50  # calls made after timing to confirm a limiter scenario still admits / rejects
INSTALL_HINT = "pip install -e '.[bench]'"
TIMER = time.process_time  # CPU time of this process (all its threads): pure-CPU code, shared machine
SETTLE_SECONDS = 0.01  # pause between timed runs: peers' background threads (limits' 10 ms expiry timer) run here
COLUMNS = ("scenario", "implementation", "ns/call", "+ns over floor", "x floor", "x peer")


@dataclass(frozen=True)
class Case:
    """One timed row: `setup()` runs just before timing, `check()` is True when the scenario still holds."""

    scenario: str
    label: str
    role: str
    call: Callable[[], object]
    check: Callable[[], bool] | None = None
    peer: str | None = None  # label of the peer row a reference row is compared with
    setup: Callable[[], object] | None = None


@dataclass(frozen=True)
class Skipped:
    scenario: str
    label: str
    reason: str


Row = Case | Skipped


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _missing(scenario: str, label: str, package: str) -> Skipped:
    return Skipped(scenario, label, f"{package} is not installed ({INSTALL_HINT})")


def _succeed() -> int:
    return 42


class _FailEveryOther:
    """Raises a transient ConnectionError on every other call, so each retried call takes 2 attempts."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls % 2:
            raise ConnectionResetError("transient")
        return 42


class _NoSleepClock(SystemClock):
    """Real readings, but retries do not wait (so the retry path's own cost is what gets timed)."""

    def sleep(self, seconds: float) -> None:
        return None


def _no_sleep(_seconds: float) -> None:
    return None


def retry_cases() -> list[Row]:
    cfg = RetryConfig()  # the seed's defaults: 3 retries, 1 s base, 30 s cap, base 2, full jitter
    tenacity = _optional("tenacity")
    rows: list[Row] = []
    for scenario, make in (("retry: call succeeds", lambda: _succeed),
                           ("retry: 1 transient failure, no sleep", _FailEveryOther)):
        fn_floor, fn_ref, fn_peer = make(), make(), make()

        def bare(fn: Callable[[], int] = fn_floor) -> int:
            try:
                return fn()
            except ConnectionError:
                return fn()

        handler = RetryHandler(cfg, clock=_NoSleepClock(), rng=random.Random(1))
        rows.append(Case(scenario, "bare call (+1 retry)" if make is _FailEveryOther else "bare call", FLOOR, bare))
        rows.append(Case(scenario, "RetryHandler.execute", REFERENCE,
                         lambda h=handler, fn=fn_ref: h.execute(fn, "bench"),
                         check=lambda h=handler, fn=fn_ref: h.execute(fn, "bench") == 42,
                         peer="tenacity.Retrying"))
        if tenacity is None:
            rows.append(_missing(scenario, "tenacity.Retrying", "tenacity"))
            continue
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(cfg.max_retries + 1),
            wait=tenacity.wait_random_exponential(multiplier=cfg.base_delay, max=cfg.max_delay,
                                                  exp_base=cfg.exponential_base),
            retry=tenacity.retry_if_exception(is_transient_error), reraise=True, sleep=_no_sleep)
        rows.append(Case(scenario, "tenacity.Retrying", PEER, lambda r=retrying, fn=fn_peer: r(fn),
                         check=lambda r=retrying, fn=fn_peer: r(fn) == 42))
    return rows


class _Rejected(Exception):
    pass


def _raise_and_catch() -> None:
    try:
        raise _Rejected
    except _Rejected:
        pass


def breaker_cases() -> list[Row]:
    pybreaker = _optional("pybreaker")
    closed, opened = "breaker: closed, call succeeds", "breaker: open, call rejected"
    ref_closed = CircuitBreaker("bench-closed", CircuitBreakerConfig())
    ref_open = CircuitBreaker("bench-open", CircuitBreakerConfig(timeout=3600.0))
    for _ in range(ref_open.config.volume_threshold):  # enough volume and failures to trip it
        try:
            ref_open.execute(_FailEveryOther())
        except ConnectionError:
            pass
    if ref_open.state is not CircuitState.OPEN:
        raise BenchmarkError(f"reference breaker did not open after failures (state {ref_open.state})")

    def ref_reject() -> None:
        try:
            ref_open.execute(_succeed)
        except CircuitOpenError:
            pass

    rows: list[Row] = [
        Case(closed, "bare call", FLOOR, lambda: _succeed()),
        Case(closed, "CircuitBreaker.execute", REFERENCE, lambda: ref_closed.execute(_succeed),
             check=lambda: ref_closed.state is CircuitState.CLOSED, peer="pybreaker.CircuitBreaker.call"),
        Case(opened, "raise + catch", FLOOR, _raise_and_catch),
        Case(opened, "CircuitBreaker.execute", REFERENCE, ref_reject,
             check=lambda: ref_open.state is CircuitState.OPEN, peer="pybreaker.CircuitBreaker.call"),
    ]
    if pybreaker is None:
        rows.insert(2, _missing(closed, "pybreaker.CircuitBreaker.call", "pybreaker"))
        rows.append(_missing(opened, "pybreaker.CircuitBreaker.call", "pybreaker"))
        return rows
    pb_closed = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60, success_threshold=2)
    pb_open = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=3600, success_threshold=2)
    for _ in range(5):
        try:
            pb_open.call(_FailEveryOther())
        except (ConnectionError, pybreaker.CircuitBreakerError):
            pass

    def pb_reject() -> None:
        try:
            pb_open.call(_succeed)
        except pybreaker.CircuitBreakerError:
            pass

    rows.insert(2, Case(closed, "pybreaker.CircuitBreaker.call", PEER, lambda: pb_closed.call(_succeed),
                        check=lambda: pb_closed.current_state == "closed"))
    rows.append(Case(opened, "pybreaker.CircuitBreaker.call", PEER, pb_reject,
                     check=lambda: pb_open.current_state == "open"))
    return rows


def limiter_cases(keys: int) -> list[Row]:
    """A hot key over its limit (the reject path) and `keys` clients within theirs (the admit path)."""
    limits = _optional("limits")
    hot, spread = "limiter: 1 hot key, rejecting", f"limiter: {keys:,} keys round-robin, admitting"
    names = [f"client-{i}" for i in range(keys)]
    rows: list[Row] = []
    for scenario, admitting in ((hot, False), (spread, True)):
        ring = itertools.cycle(names)
        nxt = ring.__next__ if admitting else itertools.repeat("hot").__next__
        counts: dict[str, int] = {}

        def floor(c: dict[str, int] = counts, nxt: Callable[[], str] = nxt) -> None:
            key = nxt()
            c[key] = c.get(key, 0) + 1

        rows.append(Case(scenario, "dict counter", FLOOR, floor))
        peers: list[tuple[str, Callable[[str], bool] | None]] = []
        if limits is None:
            peers = [("limits FixedWindow", None), ("limits MovingWindow", None)]
        else:
            item = limits.RateLimitItemPerMinute(LIMIT_PER_MINUTE)
            for label, strategy in (("limits FixedWindow", limits.strategies.FixedWindowRateLimiter),
                                    ("limits MovingWindow", limits.strategies.MovingWindowRateLimiter)):
                limiter = strategy(limits.storage.MemoryStorage())
                peers.append((label, lambda key, lim=limiter, it=item: lim.hit(it, key)))
        for algorithm, peer_label in (("token-bucket", "limits FixedWindow"),
                                      ("sliding-window", "limits MovingWindow")):
            ref = RateLimiter(RateLimiterConfig(LIMIT_PER_MINUTE, 60.0, algorithm=algorithm))
            hit: Callable[[str], bool] = lambda key, r=ref: r.check_limit(key).allowed  # noqa: E731
            rows.append(_limiter_case(scenario, f"RateLimiter {algorithm}", REFERENCE, hit, nxt, admitting,
                                      peer_label))
        for label, peer_hit in peers:
            if peer_hit is None:
                rows.append(_missing(scenario, label, "limits"))
            else:
                rows.append(_limiter_case(scenario, label, PEER, peer_hit, nxt, admitting, None))
    return rows


def _limiter_case(scenario: str, label: str, role: str, hit: Callable[[str], bool], nxt: Callable[[], str],
                  admitting: bool, peer: str | None) -> Case:
    def use_up_allowance() -> None:
        for _ in range(LIMIT_PER_MINUTE):
            hit("hot")

    def still_holds() -> bool:
        admitted = [hit(nxt()) for _ in range(CHECK_CALLS)]
        # a hot token bucket regains a token every 60 ms, so its first calls after a pause may pass
        return all(admitted) if admitting else not any(admitted[CHECK_CALLS // 2:])

    return Case(scenario, label, role, lambda: hit(nxt()), check=still_holds, peer=peer,
                setup=None if admitting else use_up_allowance)


def metrics_cases(samples: int, notes: list[str]) -> list[Row]:
    """record() vs Histogram.observe vs list.append; get_stats() vs exact numpy.percentile on raw samples."""
    prometheus, numpy = _optional("prometheus_client"), _optional("numpy")
    rng = random.Random(7)
    values = [rng.lognormvariate(5.3, 0.8) for _ in range(4096)]  # ~200 ms median handshake latencies
    record, stats = "metrics: record one sample", f"metrics: p50/p95/p99 over {samples:,} samples"
    feed, raw = itertools.cycle(values).__next__, []
    collector = MetricsCollector(thresholds={})  # no alerting: compare pure recording
    rows: list[Row] = [
        Case(record, "list.append", FLOOR, lambda: raw.append(feed())),
        Case(record, "MetricsCollector.record", REFERENCE, lambda: collector.record(X402_HANDSHAKE, feed()),
             peer="prometheus Histogram.observe"),
    ]
    filled = MetricsCollector(thresholds={})
    sample = [values[i % len(values)] * (1 + (i % 97) / 1000) for i in range(samples)]
    for v in sample:
        filled.record(X402_HANDSHAKE, v)
    if prometheus is None:
        rows.append(_missing(record, "prometheus Histogram.observe", "prometheus_client"))
    else:
        registry = prometheus.CollectorRegistry()
        buckets = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
        hist = prometheus.Histogram("bench_handshake_ms", "bench", buckets=buckets, registry=registry)
        rows.append(Case(record, "prometheus Histogram.observe", PEER, lambda: hist.observe(feed())))
    if numpy is None:
        rows.append(_missing(stats, "numpy.percentile(raw list)", "numpy"))
    else:
        rows.append(Case(stats, "numpy.percentile(raw list)", FLOOR,
                         lambda: numpy.percentile(sample, [50, 95, 99])))
        exact = numpy.percentile(sample, [50, 95, 99])
        got = filled.get_stats(X402_HANDSHAKE)
        if got is None:
            raise BenchmarkError(f"MetricsCollector.get_stats returned None after {samples} samples")
        worst = max(abs(e - g) / e for e, g in zip(exact, (got.p50, got.p95, got.p99), strict=True))
        bound = filled.relative_error
        notes.append(f"get_stats accuracy on {samples:,} samples: worst relative error of p50/p95/p99 vs "
                     f"exact numpy.percentile = {worst:.4%} (stated bound {bound:.0%})"
                     + ("" if worst <= bound + 1e-9 else "  ** EXCEEDS THE STATED BOUND **"))
    rows.append(Case(stats, "MetricsCollector.get_stats", REFERENCE, lambda: filled.get_stats(X402_HANDSHAKE),
                     check=lambda: (s := filled.get_stats(X402_HANDSHAKE)) is not None and s.count == samples))
    return rows


def build(groups: Sequence[str], keys: int, samples: int, notes: list[str]) -> list[Row]:
    builders: dict[str, Callable[[], list[Row]]] = {
        "retry": retry_cases, "breaker": breaker_cases,
        "limiter": lambda: limiter_cases(keys), "metrics": lambda: metrics_cases(samples, notes),
    }
    return [row for group in GROUPS if group in groups for row in builders[group]()]


def _time_scenario(cases: Sequence[Case], repeat: int, number: int | None) -> dict[str, float]:
    """Median seconds per call of each case; the repeats are interleaved (case A, B, C, A, B, C, ...)
    so a load spike on a shared machine hits every implementation alike rather than one of them."""
    for case in cases:
        if case.setup is not None:
            case.setup()
    numbers = [number or calibrate(case.call, timer=TIMER) for case in cases]
    runs: list[list[float]] = [[] for _ in cases]
    for round_ in range(repeat):
        for case, n, times in zip(cases, numbers, runs, strict=True):
            times.append(measure(case.call, repeat=1, number=n, timer=TIMER))
            if round_ == repeat - 1 and case.check is not None and not case.check():
                raise BenchmarkError(f"{case.scenario} / {case.label}: scenario no longer holds after timing")
            time.sleep(SETTLE_SECONDS)
    return {case.label: statistics.median(times) for case, times in zip(cases, runs, strict=True)}


def run(rows: Sequence[Row], repeat: int, number: int | None) -> list[tuple[str, ...]]:
    """Time every case and return the table rows; raises BenchmarkError when a scenario check fails."""
    timed: dict[tuple[str, str], float] = {}
    for scenario in dict.fromkeys(row.scenario for row in rows):
        cases = [r for r in rows if isinstance(r, Case) and r.scenario == scenario]
        timed.update(((scenario, label), t) for label, t in _time_scenario(cases, repeat, number).items())
    floors = {r.scenario: timed[r.scenario, r.label] for r in rows if isinstance(r, Case) and r.role == FLOOR}
    table = []
    for row in rows:
        if isinstance(row, Skipped):
            table.append((row.scenario, f"{row.label} (skipped)", "-", "-", "-", "-"))
            continue
        t, floor = timed[row.scenario, row.label], floors.get(row.scenario)
        peer = timed.get((row.scenario, row.peer)) if row.peer else None
        extra = "-" if floor is None or row.role == FLOOR else f"{(t - floor) * 1e9:+,.0f}"
        table.append((row.scenario, row.label, ns(t), extra, ratio(t, floor), ratio(t, peer)))
    return table


def _environment() -> str:
    versions = []
    for dist in ("tenacity", "pybreaker", "limits", "prometheus-client", "numpy"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} missing")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
            f"load average {load}; {', '.join(versions)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks components", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts for a smoke run (numbers meaningless)")
    parser.add_argument("--group", action="append", choices=GROUPS, help="only these groups (repeatable)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per row; the median is reported")
    parser.add_argument("--number", type=int, default=None, help="calls per timed run (default: auto-sized)")
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys in the spread limiter scenario")
    parser.add_argument("--samples", type=int, default=None, help="samples behind the percentile scenario")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    def pick(given: int | None, quick: int, full: int) -> int:
        return given if given is not None else quick if opts.quick else full

    repeat, samples = pick(opts.repeat, 1, 7), pick(opts.samples, 1_000, 100_000)
    number = opts.number if opts.number is not None or not opts.quick else 20  # None: auto-sized
    for name, value in (("repeat", repeat), ("number", number), ("keys", opts.keys), ("samples", samples)):
        if value is not None and value < 1:
            raise BenchmarkError(f"--{name} must be >= 1, got {value}")
    notes: list[str] = []
    rows = build(opts.group or GROUPS, opts.keys, samples, notes)
    table = run(rows, repeat, number)
    mode = "QUICK smoke run, numbers meaningless" if opts.quick else f"median of {repeat} runs"
    print(_environment())
    print_table(f"Component overhead per call ({mode})", table, COLUMNS)
    for note in notes:
        print(note)
    for row in rows:
        if isinstance(row, Skipped):
            print(f"skipped {row.label}: {row.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
