"""Per-process CPU over a run: which process saturates first (the stress profile's knee, issue 13.4).

A thread samples, every `interval_s`, the cumulative CPU time (user + system) of every child the run
started (service, ledger, proxy, facilitator, Locust master and workers; each with its descendants)
and of the harness itself, through psutil when it is installed, else /proc/<pid>/stat. Each sample
becomes a share of one core over the interval (100 % = one core busy). `summary` gives each process's
mean and peak share, the machine's load average at the start and the end (the machine may be shared),
and names the process that saturated: the busiest one whose share over a sample reached
`SATURATED_SHARE` of a core (Python processes are bound to one core by the GIL), or none.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is optional
    psutil = None  # type: ignore[assignment]

SATURATED_SHARE = 0.9  # a process at >= 90 % of one core for a sample is saturated
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, descendants: bool = True) -> float | None:
    """CPU seconds (user + system) used so far by `pid` (and its live descendants); None once it is gone."""
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            total = sum(proc.cpu_times()[:2])
            for child in proc.children(recursive=True) if descendants else ():
                try:
                    total += sum(child.cpu_times()[:2])
                except psutil.Error:
                    continue
            return total
        except psutil.Error:
            return None
    return _proc_cpu_seconds(pid)


def _proc_cpu_seconds(pid: int) -> float | None:
    """/proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks; the process alone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class CpuSampler:
    """Samples the CPU share of named processes on the run's time axis until stopped.

    `processes` gives name -> (pid, with descendants) at each sample (children come and go)."""

    def __init__(self, processes: Callable[[], Mapping[str, tuple[int, bool]]], now_s: Callable[[], float],
                 interval_s: float = 2.0, cpu: Callable[[int, bool], float | None] = cpu_seconds,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._processes, self._now_s, self.interval_s = processes, now_s, interval_s
        self._cpu, self._clock = cpu, clock
        self._last: dict[str, tuple[float, float]] = {}  # name -> (clock, cpu seconds)
        self.samples: list[dict[str, Any]] = []
        self.load_start = load_average()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """One sample: each process's share of a core since its previous sample."""
        shares: dict[str, float] = {}
        now = self._clock()
        for name, (pid, descendants) in dict(self._processes()).items():
            used = self._cpu(pid, descendants)
            if used is None:
                continue
            prev = self._last.get(name)
            self._last[name] = (now, used)
            if prev is not None and now > prev[0]:
                shares[name] = round(max(0.0, used - prev[1]) / (now - prev[0]), 3)
        if shares:
            self.samples.append({"t": round(self._now_s(), 2), "share": shares})

    def summary(self) -> dict[str, Any]:
        """Per process: mean and peak share of a core, CPU seconds; the saturated process, load averages."""
        per: dict[str, dict[str, float]] = {}
        for sample in self.samples:
            for name, value in sample["share"].items():
                row = per.setdefault(name, {"mean": 0.0, "peak": 0.0, "n": 0})
                row["mean"] += value
                row["n"] += 1
                row["peak"] = max(row["peak"], value)
        processes = {name: {"mean_share": round(r["mean"] / r["n"], 3), "peak_share": round(r["peak"], 3),
                            "cpu_s": round(self._last[name][1], 2) if name in self._last else None}
                     for name, r in sorted(per.items())}
        saturated = sorted((r["peak_share"], name) for name, r in processes.items()
                           if r["peak_share"] >= SATURATED_SHARE)
        return {"interval_s": self.interval_s, "cores": os.cpu_count(), "load_average_start": self.load_start,
                "load_average_end": load_average(), "saturated": saturated[-1][1] if saturated else None,
                "first_saturated": first_saturated(self.samples), "processes": processes, "samples": self.samples}


def first_saturated(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first sample in which some process reached `SATURATED_SHARE` of a core: when, and which."""
    for sample in samples:
        busy = [(v, n) for n, v in sample["share"].items() if v >= SATURATED_SHARE]
        if busy:
            share, name = max(busy)
            return {"t": sample["t"], "process": name, "share": share}
    return None
