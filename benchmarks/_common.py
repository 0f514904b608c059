"""Shared timing and table helpers for `benchmarks/bench_*.py` modules (small and stable on purpose).

`measure` times a zero-argument callable in a plain loop (garbage collection stays on, so allocation
costs count) and returns the median seconds per call over `repeat` runs; the loop's own cost is
included, so compare against a floor measured the same way.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

TARGET_SECONDS = 0.05
"""When `number` is not given, each repeat is sized to take about this long."""

MAX_NUMBER = 1_000_000
Timer = Callable[[], float]
_NUMERIC = re.compile(r"-|[+-]?[\d,.]+x?")


class BenchmarkError(Exception):
    """A benchmark could not run or its scenario did not behave as it claims."""


def _loop(fn: Callable[[], Any], number: int, timer: Timer) -> float:
    started = timer()
    for _ in range(number):
        fn()
    return timer() - started


def calibrate(fn: Callable[[], Any], target: float = TARGET_SECONDS, *, timer: Timer = time.perf_counter) -> int:
    """Calls per repeat so one repeat takes about `target` seconds of `timer` (1..MAX_NUMBER)."""
    number = 1
    while number < MAX_NUMBER:  # bounded: number grows tenfold each pass
        elapsed = _loop(fn, number, timer)
        if elapsed >= target / 10:
            return max(1, min(MAX_NUMBER, math.ceil(number * target / elapsed)))
        number *= 10
    return MAX_NUMBER


def measure(fn: Callable[[], Any], *, repeat: int = 5, number: int | None = None,
            timer: Timer = time.perf_counter) -> float:
    """Median seconds per call of `fn()` over `repeat` runs of `number` calls (auto-sized when None).

    `timer` is wall time by default; `time.process_time` counts only this process's CPU time, which a
    busy shared machine inflates less (right for pure-CPU code, wrong for anything that waits on I/O).
    """
    if repeat < 1:
        raise BenchmarkError(f"repeat must be >= 1, got {repeat}")
    if number is None:
        number = calibrate(fn, timer=timer)
    if number < 1:
        raise BenchmarkError(f"number must be >= 1, got {number}")
    return statistics.median(_loop(fn, number, timer) / number for _ in range(repeat))


def ns(seconds: float) -> str:
    """Seconds per call as a whole number of nanoseconds (thousands separated)."""
    return f"{seconds * 1e9:,.0f}"


def ratio(value: float, base: float | None) -> str:
    """`value / base` as e.g. '3.21x'; '-' when there is no base."""
    if base is None or base <= 0:
        return "-"
    r = value / base
    return f"{r:,.2f}x" if r < 100 else f"{r:,.0f}x"


def format_table(title: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> str:
    """A plain-text table; columns whose cells all look numeric (or "-") are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    for row in cells:
        if len(row) != len(columns):
            raise BenchmarkError(f"row {row!r} has {len(row)} cells, expected {len(columns)}")
    widths = [max([len(col), *(len(row[i]) for row in cells)]) for i, col in enumerate(columns)]

    right = [bool(cells) and all(_NUMERIC.fullmatch(row[i]) for row in cells) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [title, "=" * len(title), line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def print_table(title: str, rows: Sequence[Sequence[Any]], columns: Sequence[str],
                file: TextIO | None = None) -> None:
    """Print `format_table(title, rows, columns)` followed by a blank line."""
    print(format_table(title, rows, columns) + "\n", file=file or sys.stdout, flush=True)
