"""Evidence collection: request records, service events, ledger history and access log.

* `record_parts` lists the load generator's per-process CSVs (one Locust process, or each Locust
  worker's in `worker-<i>/`); `merge_records` joins them in memory, tags each request with the faults
  that were really active on its path when it was sent (from the fault controller's applied/removed
  events, not from the schedule), and sorts by send time (ties: worker index, pid, row in the part). Runs
  stream the same merge to requests.parquet with `harness.run.ingest.ingest_parts`.
* `check_worker_records` checks, reading each file as a stream, that the merge is exact: every process
  finished and its file holds what it counted, the workers' shares add up to the schedule.
* `iter_pages` / `fetch_pages` read the ledger's paged admin feeds (`/admin/history`, `/admin/access-log`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.outputs import Event, RequestRecord, read_records
from scenarios.recording import RECORDS_GLOB, part_identity

# Endpoints whose handling reads or writes the ledger through the Horizon proxies.
HORIZON_ENDPOINTS = ("x402", "x402-v2", "settlement", "decision", "escrow")
MAX_PAGES = 10_000
ACCESS_LOG_FILE = "access_log.jsonl"


class CollectionError(HarnessError):
    """Evidence could not be read from a component."""


@dataclass(frozen=True, slots=True)
class ActualFault:
    """A fault as it really happened: applied and removed times on the run's axis."""

    name: str
    proxy: str
    toxic: str
    start_s: float
    end_s: float
    stream: str = "downstream"
    attributes: dict[str, Any] | None = None
    toxicity: float = 1.0

    @property
    def label(self) -> str:
        attrs = ",".join(f"{k}={v}" for k, v in sorted((self.attributes or {}).items()))
        return f"{self.proxy}/{self.toxic}" + (f"({attrs})" if attrs else "")


def actual_faults(events: Iterable[Event], end_s: float) -> list[ActualFault]:
    """Pair `fault.applied` with `fault.removed` events by name; an unremoved fault ends at `end_s`."""
    open_faults: dict[str, Event] = {}
    out: list[ActualFault] = []
    for ev in sorted(events, key=lambda e: e.t):
        name = str(ev.data.get("name", ""))
        if ev.kind == "fault.applied":
            open_faults[name] = ev
        elif ev.kind == "fault.removed" and name in open_faults:
            out.append(_fault(open_faults.pop(name), ev.t))
    out.extend(_fault(ev, max(end_s, ev.t)) for ev in open_faults.values())
    return sorted(out, key=lambda f: f.start_s)


def _fault(applied: Event, end_s: float) -> ActualFault:
    d = applied.data
    return ActualFault(
        name=str(d.get("name", "")), proxy=str(d.get("proxy", "")), toxic=str(d.get("toxic", "")),
        start_s=applied.t, end_s=end_s, stream=str(d.get("stream", "downstream")),
        attributes=dict(d.get("attributes") or {}), toxicity=float(d.get("toxicity", 1.0)),
    )


def tag_faults(record: RequestRecord, faults: Sequence[ActualFault]) -> RequestRecord:
    """Set `fault_active` to the faults active on the record's path while it was in flight."""
    if record.endpoint not in HORIZON_ENDPOINTS:
        record.fault_active = ""
        return record
    end = record.sent_s + max(0.0, record.latency_ms) / 1000.0
    record.fault_active = ";".join(f.label for f in faults if f.start_s < end and record.sent_s < f.end_s)
    return record


@dataclass
class LoadCheck:
    """What each load process says it sent and recorded, and why the merged records are not the whole load."""

    records: int  # rows over every process's records file
    workers: dict[str, dict[str, int]]  # 'local' or 'worker-<i>' -> records, scheduled, sent, late, dropped
    counters: dict[str, dict[str, int]]  # traffic kind -> arrival counters summed over the processes
    problems: list[str]  # none: the merge is exact


def record_folders(load_dir: Path) -> dict[str, Path]:
    """The folder of each load process's files: 'local' (the load folder itself) or 'worker-<i>'."""
    load_dir = Path(load_dir)
    found = {"local": load_dir} if any(load_dir.glob(RECORDS_GLOB)) else {}
    found.update({d.name: d for d in sorted(load_dir.glob("worker-*")) if d.is_dir()})
    return found


def record_parts(load_dir: Path) -> list[Path]:
    """The load processes' record files (one per process, each worker's in its folder), sorted by path."""
    return sorted(p for folder in record_folders(load_dir).values() for p in folder.glob(RECORDS_GLOB))


def merge_records(load_dir: Path, faults: Sequence[ActualFault]) -> list[RequestRecord]:
    """All per-process request records in memory, fault-tagged and sorted by send time (the reference that
    `harness.run.ingest.ingest_parts`, which runs write requests.parquet with, is tested against)."""
    keyed: list[tuple[tuple[float, int, int, int], RequestRecord]] = []
    for path in record_parts(load_dir):
        worker, pid = part_identity(path)
        try:  # ties broken as `ingest_parts` does: worker index, pid, row in the part
            keyed.extend(((r.sent_s, worker, pid, row), tag_faults(r, faults)) for row, r in enumerate(read_records(path)))
        except (ValueError, TypeError) as exc:  # a row cut short by a killed process
            raise CollectionError(f"cannot read {path.name}: {exc}") from None
    keyed.sort(key=lambda pair: pair[0])
    return [record for _, record in keyed]


def check_worker_records(load_dir: Path, workers: int = 0, schedule: Mapping[str, int] | None = None) -> LoadCheck:
    """Check the record files of each load process make an exact merge: each has its process's final count
    and holds as many rows as that count says; with `workers` > 0 there is one folder per worker and their
    scheduled arrivals add up to `schedule` (the run's per-kind sizes): no arrival lost or sent twice."""
    per_worker: dict[str, dict[str, int]] = {}
    counters: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    for name, folder in record_folders(load_dir).items():
        row = per_worker.setdefault(name, {"records": 0, "scheduled": 0, "sent": 0, "late": 0, "dropped": 0})
        for path in sorted(folder.glob(RECORDS_GLOB)):
            with path.open(newline="") as fh:
                rows = max(0, sum(1 for _ in csv.reader(fh)) - 1)  # streamed; the header is not a record
            row["records"] += rows
            final = folder / path.name.replace("requests-", "load-").replace(".csv", ".json")
            if not final.is_file():
                problems.append(f"{name} stopped before the end of the load (no final count beside {path.name}): "
                                "its records may be incomplete")
                continue
            done = json.loads(final.read_text())
            if int(done["records"]) != rows:
                problems.append(f"{name} wrote {done['records']} records but {path.name} holds {rows}")
            for kind, counts in done["kinds"].items():
                for key, value in counts.items():
                    row[key] = row.get(key, 0) + int(value)
                    slot = counters.setdefault(kind, {})
                    slot[key] = slot.get(key, 0) + int(value)
    if workers:
        problems.extend(_distribution_problems(per_worker, counters, workers, schedule or {}))
    return LoadCheck(sum(w["records"] for w in per_worker.values()), per_worker, counters, problems)


def _distribution_problems(per_worker: Mapping[str, Any], counters: Mapping[str, Mapping[str, int]], workers: int,
                           schedule: Mapping[str, int]) -> list[str]:
    expected = {f"worker-{i}" for i in range(workers)}
    problems = [f"no records from {name} (of {workers} workers)" for name in sorted(expected - set(per_worker))]
    problems += [f"records from {name}, which is not one of the run's {workers} workers"
                 for name in sorted(set(per_worker) - expected)]
    for kind, size in sorted(schedule.items()):
        got = counters.get(kind, {}).get("scheduled", 0)
        if got != size:
            problems.append(f"the workers' shares of {kind} add up to {got} arrivals, the schedule has {size}")
    return problems


def iter_pages(client: httpx.Client, url: str, max_pages: int = MAX_PAGES) -> Iterator[list[dict[str, Any]]]:
    """The pages of a `{"records": [...], "next": n}` feed from `since=0` to its end, one at a time."""
    since = 0
    for _ in range(max_pages):
        try:
            resp = client.get(url, params={"since": since})
            resp.raise_for_status()
            page = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CollectionError(f"{url}: {exc}") from None
        records = page.get("records") or []
        if records:
            yield records
        nxt = int(page.get("next", since))
        # The access log also logs these very reads: a page holding only admin reads is the end.
        if not records or nxt <= since or all(str(r.get("path", "")).startswith("/admin/") for r in records):
            return
        since = nxt
    raise CollectionError(f"{url}: more than {max_pages} pages")


def fetch_pages(client: httpx.Client, url: str, max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
    """Read a `{"records": [...], "next": n}` feed from `since=0` to its end."""
    return [record for page in iter_pages(client, url, max_pages) for record in page]
