"""Progress while a run plays: one line every few seconds.

`phase 'steady' 42/150s | 31.8 req/s | errors 3 (0.4%) | faults: horizon-primary/down`
Requests and errors are counted from the load generator's record files as they grow (rows with
status 0 or 5xx are errors); active faults come from the fault controller's events.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from harness.profiles import Phase
from scenarios.recording import RECORDS_GLOB
from scenarios.shapes import phase_at


class RecordTail:
    """Counts new rows (and error rows) appended to the per-process CSV files (any worker's) since the last call."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._offsets: dict[Path, int] = {}
        self.total = 0
        self.errors = 0

    def poll(self) -> tuple[int, int]:
        new = new_errors = 0
        for path in sorted(self.directory.rglob(RECORDS_GLOB)):  # a worker writes into worker-<i>/
            offset = self._offsets.get(path, 0)
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].splitlines():
                if line.startswith(b"intended_s"):
                    continue
                new += 1
                status = line.split(b",")[5:6]
                if status and (status[0] == b"0" or status[0].startswith(b"5")):
                    new_errors += 1
            self._offsets[path] = offset + end
        self.total += new
        self.errors += new_errors
        return new, new_errors


def format_line(
    phase: str, elapsed_s: float, total_s: float, rps: float, errors: int, requests: int, faults: Sequence[str]
) -> str:
    share = f"{100.0 * errors / requests:.1f}%" if requests else "0.0%"
    return (
        f"phase {phase or '-'!r} {elapsed_s:.0f}/{total_s:.0f}s | {rps:.1f} req/s | "
        f"errors {errors} ({share}) | faults: {', '.join(faults) or 'none'}"
    )


class ProgressReporter:
    """A thread printing `format_line` every `interval_s` until stopped."""

    def __init__(
        self,
        phases: Sequence[Phase],
        load_dir: Path,
        now_run_s: Callable[[], float],
        active_faults: Callable[[], list[str]],
        interval_s: float = 5.0,
        out: TextIO | None = None,
    ) -> None:
        self.phases = list(phases)
        self.total_s = sum(p.duration_s for p in phases)
        self.tail = RecordTail(load_dir)
        self.now_run_s = now_run_s
        self.active_faults = active_faults
        self.interval_s = interval_s
        self.out = out or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 2.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.report_once()

    def report_once(self) -> str:
        try:
            new, _ = self.tail.poll()
        except OSError:
            new = 0
        t = self.now_run_s()
        line = format_line(phase_at(self.phases, t) if t >= 0 else "starting", max(0.0, t), self.total_s,
                           new / self.interval_s, self.tail.errors, self.tail.total, self.active_faults())
        print(line, file=self.out, flush=True)
        return line
