"""Per-process raw request records: one CSV of `harness.outputs.RequestRecord` rows per process.

Each Locust process appends to its own `requests-<pid>.csv` and flushes after every row, so a killed
load generator loses at most the request in flight: a single-process run writes into the run's load
folder, each Locust worker into its own `worker-<index>/` below it. At the end of the load each process
writes `load-<pid>.json` (its arrival counters and how many records it wrote); a records file
without it comes from a process that did not finish (`harness.run.collect.check_worker_records`). The
harness merges the files afterwards into requests.parquet (`harness.run.ingest.ingest_parts`). Columns
are `harness.outputs.RECORD_FIELDS`, then `row`: the record's index in its file, so a merge sorted by
(send time, worker, pid, row) is the same on every run of the same files; fields a record does not set get
the dataclass defaults. A distributed run's workers stream their rows to the master, which writes them into
the same files (`scenarios/record_stream.py`).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from harness.outputs import RECORD_FIELDS, RequestRecord

_DEFAULTS = {f.name: f.default for f in fields(RequestRecord)}
RECORDS_GLOB = "requests-*.csv"
COUNTERS_GLOB = "load-*.json"
ALLOCATION_FILE = "allocation.json"  # distributed runs: users of each kind on each worker (the master writes it)
ROW_COLUMN = "row"  # the record's index in its file (a tie-breaker that makes the merge's order deterministic)
_PART = re.compile(r"requests-(\d+)\.csv")
_WORKER = re.compile(r"worker-(\d+)")


class RecordWriter:
    """Appends records to one CSV file, header first, flushing every row (or every batch of rows)."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"requests-{pid or os.getpid()}.csv"
        self._fh = self.path.open("w", newline="")
        self._writer = csv.writer(self._fh)
        self._writer.writerow([*RECORD_FIELDS, ROW_COLUMN])
        self._fh.flush()
        self.count = 0

    def write(self, values: dict[str, Any]) -> None:
        """Write one record given as a mapping of field name to value (unknown keys ignored)."""
        self.write_rows([cells(values)])

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write records given as cells in RECORD_FIELDS order (`cells`), then flush once."""
        for row in rows:
            self._writer.writerow([*row, self.count])
            self.count += 1
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def write_counters(directory: Path, counters: dict[str, dict[str, int]], records: int, pid: int | None = None) -> Path:
    """Write this process's final counts: per-kind arrivals (scheduled, sent, late, dropped) and records written."""
    path = Path(directory) / f"load-{pid or os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"kinds": counters, "records": records}, sort_keys=True))
    tmp.replace(path)
    return path


def cells(values: dict[str, Any]) -> list[Any]:
    """One record's cells in RECORD_FIELDS order (unknown keys ignored, missing fields at their defaults)."""
    return [_cell(values.get(name, _DEFAULTS[name])) for name in RECORD_FIELDS]


def part_identity(path: Path) -> tuple[int, int]:
    """(worker index, pid) of a records file: `worker-<i>/requests-<pid>.csv`, or -1 for a single-process run's."""
    path = Path(path)
    part, worker = _PART.fullmatch(path.name), _WORKER.fullmatch(path.parent.name)
    return (int(worker.group(1)) if worker else -1, int(part.group(1)) if part else -1)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    return value
