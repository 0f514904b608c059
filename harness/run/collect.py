"""Evidence collection: request records, service events, ledger history and access log.

* `record_parts` lists the load generator's per-process CSVs; `merge_records` joins them in memory,
  tags each request with the faults that were really active on its path when it was sent (from the
  fault controller's applied/removed events, not from the schedule), and sorts by send time. Runs
  stream the same merge to requests.parquet with `harness.run.ingest.ingest_parts`.
* `fetch_pages` reads the ledger's paged admin feeds (`/admin/history`, `/admin/access-log`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.outputs import Event, RequestRecord, read_records
from scenarios.recording import COUNTERS_GLOB, RECORDS_GLOB

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


def record_parts(load_dir: Path) -> list[Path]:
    """The load processes' record files (one per process) in a run's load folder, sorted by name."""
    return sorted(Path(load_dir).glob(RECORDS_GLOB))


def merge_records(load_dir: Path, faults: Sequence[ActualFault]) -> list[RequestRecord]:
    """All per-process request records in memory, fault-tagged and sorted by send time (the reference that
    `harness.run.ingest.ingest_parts`, which runs write requests.parquet with, is tested against)."""
    records: list[RequestRecord] = []
    for path in record_parts(load_dir):
        try:
            records.extend(tag_faults(r, faults) for r in read_records(path))
        except (ValueError, TypeError) as exc:  # a row cut short by a killed process
            raise CollectionError(f"cannot read {path.name}: {exc}") from None
    records.sort(key=lambda r: (r.sent_s, r.intended_s))
    return records


def load_counters(load_dir: Path) -> dict[str, dict[str, int]]:
    """Sum the per-process arrival counters by traffic kind."""
    total: dict[str, dict[str, int]] = {}
    for path in sorted(Path(load_dir).glob(COUNTERS_GLOB)):
        for kind, counts in json.loads(path.read_text()).items():
            slot = total.setdefault(kind, {})
            for key, value in counts.items():
                slot[key] = slot.get(key, 0) + int(value)
    return total


def fetch_pages(client: httpx.Client, url: str, max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
    """Read a `{"records": [...], "next": n}` feed from `since=0` to its end."""
    out: list[dict[str, Any]] = []
    since = 0
    for _ in range(max_pages):
        try:
            resp = client.get(url, params={"since": since})
            resp.raise_for_status()
            page = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CollectionError(f"{url}: {exc}") from None
        records = page.get("records") or []
        out.extend(records)
        nxt = int(page.get("next", since))
        # The access log also logs these very reads: a page holding only admin reads is the end.
        if not records or nxt <= since or all(str(r.get("path", "")).startswith("/admin/") for r in records):
            return out
        since = nxt
    raise CollectionError(f"{url}: more than {max_pages} pages")
