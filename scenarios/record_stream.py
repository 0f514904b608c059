"""Workers' records streamed to the Locust master, in batches, with bounded memory on both sides.

A worker (`RecordStream`) buffers at most `batch_rows` records, sends them as one numbered batch and
keeps at most `window` batches unacknowledged: when the window is full and the buffer too, the user
recording waits (bounded) for the master's acknowledgement, so a slow master slows the load down
(visible as late arrivals) instead of growing memory. At the end it sends its final count: per-kind
arrival counters and how many records it sent.

The master (`RecordSink`) writes each batch, in order, into the worker's records file as soon as it
arrives (`worker-<index>/requests-<pid>.csv`, the same files a local process writes: `recording.py`)
and acknowledges it; it holds one batch at a time. A duplicate batch is acknowledged and dropped; a lost
one leaves the file short of the worker's final count. That count, written beside the file
(`load-<pid>.json`), against the rows the file holds is the exact-merge check
(`harness.run.collect.check_worker_records`): a worker lost before its final count, or whose rows did
not all arrive, makes the run incomplete (exit 4), never a silent pass. No Locust import here; the
locustfile wires both ends to Locust's custom messages (`scenarios/wire.py` seals them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.outputs import RECORD_FIELDS
from scenarios.recording import RecordWriter, cells, write_counters

RECORDS_MSG, ACK_MSG, FINISH_MSG = "harness_records", "harness_records_ack", "harness_finish"
BATCH_ROWS = 500
WINDOW = 4  # batches in flight per worker
MAX_AGE_S = 0.5  # a partial batch is sent after this long (progress lines, little lost if killed)
WAIT_LIMIT_S = 60.0  # a user waits at most this long for the master to acknowledge
MAX_PARTS_PER_WORKER = 4  # records files (processes) the master accepts per worker index


class StreamError(ValueError):
    """A records message the master refuses (malformed, from the wrong worker, out of bounds)."""


class StreamStalled(RuntimeError):
    """The master acknowledged nothing for WAIT_LIMIT_S: the record is lost (and the final count shows it)."""


class RecordStream:
    """Worker side: batches records for the master, at most `window` batches unacknowledged."""

    def __init__(self, send: Callable[[dict[str, Any]], None], worker: int, pid: int, batch_rows: int = BATCH_ROWS,
                 window: int = WINDOW, max_age_s: float = MAX_AGE_S, wait_limit_s: float = WAIT_LIMIT_S,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Any] = time.sleep) -> None:
        if batch_rows < 1 or window < 1:
            raise ValueError("batch_rows and window must be at least 1")
        self._send, self.worker, self.pid = send, worker, pid
        self.batch_rows, self.window, self.max_age_s, self.wait_limit_s = batch_rows, window, max_age_s, wait_limit_s
        self._clock, self._sleep = clock, sleep
        self._buffer: list[list[Any]] = []
        self._oldest = 0.0
        self.sent_batches = 0  # numbered 1, 2, ...
        self.acked = 0  # every batch up to this one is acknowledged
        self.count = 0  # records written by the users (all of them should reach the master)
        self.finished = False

    @property
    def in_flight(self) -> int:
        return self.sent_batches - self.acked

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def write(self, values: dict[str, Any]) -> None:
        """Accept one record; waits (bounded) while the buffer is full and the window too. The record is
        counted first: one that never reaches the master (StreamStalled) leaves its file short of the count."""
        self.count += 1
        self._wait(lambda: len(self._buffer) < self.batch_rows)
        if not self._buffer:
            self._oldest = self._clock()
        self._buffer.append(cells(values))
        if len(self._buffer) >= self.batch_rows:
            self._send_batch()

    def ack(self, seq: int) -> None:
        """The master wrote every batch up to `seq`; a full buffer goes out at once."""
        if self.acked < seq <= self.sent_batches:
            self.acked = seq
        if len(self._buffer) >= self.batch_rows:
            self._send_batch()

    def tick(self) -> None:
        """Send a partial batch older than `max_age_s` (call it periodically)."""
        if self._buffer and self._clock() - self._oldest >= self.max_age_s:
            self._send_batch()

    def close(self, kinds: dict[str, dict[str, int]]) -> None:
        """Send what is buffered, then the final count (its arrival counters and how many records)."""
        if self.finished:
            return
        self._wait(lambda: not self._buffer or self.in_flight < self.window)
        self._send_batch()
        self.finished = True
        self._send({"worker": self.worker, "pid": self.pid, "seq": self.sent_batches + 1,
                    "final": {"kinds": kinds, "records": self.count}})

    def _send_batch(self) -> None:
        if not self._buffer or self.in_flight >= self.window:
            return
        self.sent_batches += 1
        rows, self._buffer = self._buffer, []
        self._send({"worker": self.worker, "pid": self.pid, "seq": self.sent_batches, "rows": rows})

    def _wait(self, ready: Callable[[], bool]) -> None:
        deadline = self._clock() + self.wait_limit_s
        while not ready():
            if self._clock() > deadline:
                raise StreamStalled(f"the Locust master acknowledged no records for {self.wait_limit_s:g}s")
            self._sleep(0.01)


@dataclass
class _Part:
    writer: RecordWriter
    next_seq: int = 1
    final: bool = False


class RecordSink:
    """Master side: writes each worker's batches, in order, into `load_dir/worker-<index>/requests-<pid>.csv`."""

    def __init__(self, load_dir: Path, workers: int, max_parts: int = MAX_PARTS_PER_WORKER) -> None:
        self.load_dir, self.workers, self.max_parts = Path(load_dir), workers, max_parts
        self._parts: dict[tuple[int, int], _Part] = {}

    def receive(self, payload: Any, sender: int | None) -> int:
        """Write one batch (or final count) from the worker with index `sender`; returns the sequence number to
        acknowledge. StreamError (nothing written) for a payload that is malformed or not the sender's."""
        worker, pid, seq = self._identity(payload, sender)
        part = self._part(worker, pid)
        if part.final or seq < part.next_seq:  # a duplicate: already written
            return part.next_seq - 1
        if "final" in payload:
            final = payload["final"]
            if not isinstance(final, dict) or not isinstance(final.get("kinds"), dict):
                raise StreamError("a final count without its arrival counters")
            part.writer.close()
            write_counters(part.writer.path.parent, final["kinds"], int(final.get("records", -1)), pid=pid)
            part.final = True
        else:
            rows = payload.get("rows")
            if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(RECORD_FIELDS)
                                                     for r in rows):
                raise StreamError(f"a batch whose rows are not lists of {len(RECORD_FIELDS)} cells")
            part.writer.write_rows(rows)
        part.next_seq = seq + 1
        return seq

    def complete(self, workers: Iterable[int] | None = None) -> bool:
        """Whether every worker index (or each of `workers`) has sent its final count, for each of its processes."""
        expected = set(range(self.workers) if workers is None else workers)
        finals = {w for (w, _), p in self._parts.items() if p.final}
        return expected <= finals and all(p.final for (w, _), p in self._parts.items() if w in expected)

    def close(self) -> None:
        for part in self._parts.values():
            part.writer.close()

    def _identity(self, payload: Any, sender: int | None) -> tuple[int, int, int]:
        if not isinstance(payload, dict):
            raise StreamError("a records message that is not a mapping")
        worker, pid, seq = payload.get("worker"), payload.get("pid"), payload.get("seq")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (worker, pid, seq)):
            raise StreamError("a records message without integer worker, pid and seq")
        assert isinstance(worker, int) and isinstance(pid, int) and isinstance(seq, int)
        if sender is None or worker != sender or not 0 <= worker < self.workers:
            raise StreamError(f"records for worker {worker} from worker {sender} (of {self.workers})")
        if pid <= 0 or seq <= 0:
            raise StreamError("a records message with a non-positive pid or seq")
        return worker, pid, seq

    def _part(self, worker: int, pid: int) -> _Part:
        part = self._parts.get((worker, pid))
        if part is None:
            if sum(1 for w, _ in self._parts if w == worker) >= self.max_parts:
                raise StreamError(f"worker {worker} already has {self.max_parts} records files")
            part = self._parts[(worker, pid)] = _Part(RecordWriter(self.load_dir / f"worker-{worker}", pid=pid))
        return part
