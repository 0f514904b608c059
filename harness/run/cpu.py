"""Per-process CPU over a run: which process saturates first (the stress profile's knee, issue 13.4).

A thread samples, every `interval_s`, the cumulative CPU time (user + system) of every child the run
started (service, ledger, proxy, facilitator, Locust master and workers; each with its descendants)
and of the harness itself, through psutil when it is installed, else /proc/<pid>/stat, and the time
their threads spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat). Each sample becomes
a share of one core over the interval (100 % = one core busy) and a wait share (0.5 = its threads
together waited half the interval for a CPU: the machine, not the process, was the limit). `summary`
gives each process's mean and peak of both, the machine's load average at the start and the end (the
machine may be shared), and names the process that saturated: the busiest one whose share over a sample reached
`SATURATED_SHARE` of a core (Python processes are bound to one core by the GIL), or none.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def _optional_psutil() -> Any:
    """psutil when installed (Locust depends on it), else None: /proc is read instead."""
    try:
        return importlib.import_module("psutil")
    except ImportError:  # pragma: no cover - psutil is optional
        return None


psutil: Any = _optional_psutil()

SATURATED_SHARE = 0.9  # a process at >= 90 % of one core for a sample is saturated
WAITING_SHARE = 0.25  # threads runnable but without a CPU for >= 25 % of the time: the machine is the limit
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


def wait_seconds(pid: int, descendants: bool = True) -> float | None:
    """Seconds the threads of `pid` (and its descendants) spent runnable but waiting for a CPU (Linux
    /proc/<pid>/task/*/schedstat, second field): high when the machine, not the process, is the limit."""
    pids = [pid]
    if descendants and psutil is not None:
        try:
            pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return None
    total, seen = 0, False
    for one in pids:
        try:
            tasks = list(Path(f"/proc/{one}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[1])
                seen = True
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9 if seen else None


def usage(pid: int, descendants: bool = True) -> tuple[float, float] | None:
    """(CPU seconds, run-queue wait seconds) of `pid` so far; None once it is gone."""
    used = cpu_seconds(pid, descendants)
    return None if used is None else (used, wait_seconds(pid, descendants) or 0.0)


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class CpuSampler:
    """Samples the CPU share of named processes on the run's time axis until stopped.

    `processes` gives name -> (pid, with descendants) at each sample (children come and go)."""

    def __init__(self, processes: Callable[[], Mapping[str, tuple[int, bool]]], now_s: Callable[[], float],
                 interval_s: float = 2.0, cpu: Callable[[int, bool], tuple[float, float] | None] = usage,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._processes, self._now_s, self.interval_s = processes, now_s, interval_s
        self._cpu, self._clock = cpu, clock
        self._last: dict[str, tuple[float, float, float]] = {}  # name -> (clock, cpu seconds, wait seconds)
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
        """One sample: each process's share of a core, and of its time waiting for one, since its last sample."""
        shares: dict[str, float] = {}
        waits: dict[str, float] = {}
        now = self._clock()
        for name, (pid, descendants) in dict(self._processes()).items():
            used = self._cpu(pid, descendants)
            if used is None:
                continue
            prev = self._last.get(name)
            self._last[name] = (now, *used)
            if prev is not None and now > prev[0]:
                shares[name] = round(max(0.0, used[0] - prev[1]) / (now - prev[0]), 3)
                waits[name] = round(max(0.0, used[1] - prev[2]) / (now - prev[0]), 3)
        if shares:
            self.samples.append({"t": round(self._now_s(), 2), "share": shares, "wait": waits})

    def summary(self) -> dict[str, Any]:
        """Per process: mean and peak share of a core and of waiting for one, CPU seconds; the saturated
        process; the load averages."""
        processes: dict[str, dict[str, Any]] = {name: {"mean_share": _mean(self.samples, "share", name),
                            "peak_share": _peak(self.samples, "share", name),
                            "mean_wait": _mean(self.samples, "wait", name),
                            "peak_wait": _peak(self.samples, "wait", name),
                            "cpu_s": round(self._last[name][1], 2) if name in self._last else None}
                     for name in sorted({n for s in self.samples for n in s["share"]})}
        saturated = sorted((float(r["peak_share"]), name) for name, r in processes.items()
                           if float(r["peak_share"]) >= SATURATED_SHARE)
        return {"interval_s": self.interval_s, "cores": os.cpu_count(), "load_average_start": self.load_start,
                "load_average_end": load_average(), "saturated": saturated[-1][1] if saturated else None,
                "first_saturated": first_saturated(self.samples), "processes": processes, "samples": self.samples}


def _mean(samples: list[dict[str, Any]], key: str, name: str) -> float:
    values = [s[key][name] for s in samples if name in s.get(key, {})]
    return round(sum(values) / len(values), 3) if values else 0.0


def _peak(samples: list[dict[str, Any]], key: str, name: str) -> float:
    return round(max((s[key][name] for s in samples if name in s.get(key, {})), default=0.0), 3)


def first_saturated(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first sample in which some process reached `SATURATED_SHARE` of a core: when, and which."""
    for sample in samples:
        busy = [(v, n) for n, v in sample["share"].items() if v >= SATURATED_SHARE]
        if busy:
            share, name = max(busy)
            return {"t": sample["t"], "process": name, "share": share}
    return None


def window(samples: list[dict[str, Any]], start_s: float, end_s: float) -> dict[str, dict[str, float]]:
    """Each process's mean share of a core and of waiting for one over the samples in [start_s, end_s)."""
    inside = [s for s in samples if start_s <= s["t"] < end_s]
    names = sorted({n for s in inside for n in s["share"]})
    return {n: {"share": _mean(inside, "share", n), "wait": _mean(inside, "wait", n)} for n in names}


def finding(summary: dict[str, Any], at: dict[str, dict[str, float]] | None = None) -> str:
    """One sentence: which process limited the load (over `at`, e.g. the knee's windows, else the whole run)."""
    rows = at if at else {n: {"share": r["peak_share"], "wait": r["peak_wait"]}
                          for n, r in summary.get("processes", {}).items()}
    if not rows:
        return "no CPU samples"
    busiest = max(rows, key=lambda n: rows[n]["share"])
    waiting = max(rows, key=lambda n: rows[n]["wait"])
    load = summary.get("load_average_end") or ["?"]
    cores = summary.get("cores")
    if rows[busiest]["share"] >= SATURATED_SHARE:
        return f"{busiest} saturated its core ({rows[busiest]['share']:.0%} of one core)"
    if rows[waiting]["wait"] >= WAITING_SHARE:
        return (f"no process saturated a core (busiest: {busiest} at {rows[busiest]['share']:.0%}); {waiting} waited "
                f"{rows[waiting]['wait']:.0%} of the time for a CPU (load average {load[0]} on {cores} cores): "
                "the machine's CPUs, shared with other processes, were the limit")
    calm = f"no process saturated a core (busiest: {busiest} at {rows[busiest]['share']:.0%}) and none waited long for a CPU"
    return calm + (": the limit is not CPU (I/O, ledger closes, locks)" if at else "")
