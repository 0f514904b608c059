"""The run folder contract shared by `harness run` (writer) and `harness report` (reader).

Layout of a run folder:
  summary.json        verdict per check (schema below, versioned by SUMMARY_SCHEMA_VERSION)
  junit.xml           one test case per check
  requests.parquet    one RequestRecord per client-side request (columns = RECORD_FIELDS, sorted by sent_s,
                      intended_s; harness/records_store.py). Older run folders hold requests.csv (same
                      columns) instead; readers take either and default columns an older file lacks, e.g.
                      server_ms. `harness export RUN --csv` writes requests.csv from requests.parquet.
  events.jsonl        one Event per line: phases, faults, breaker transitions, alerts, error records, the
                      target's announced store sizes (`state`, from /health)
  access_log.jsonl    request arrivals on the Horizon path (fault proxy arrival log or the offline ledger's
                      access log): {t (run s), listener (0 primary, 1 secondary), method, path, ...}
  logs/               each started process's output (logs/target.log for --target-cmd)
  ledger_history.jsonl  the offline network's append-only history
  ledger_applied.parquet  its applied transactions, the columns the money judges join to the records
                      (harness/ledger_table.py)
  manifest.json       git revision, seeds, config hash, package versions, schedule
  corpus.json         the malformed-input corpus the fuzzers replayed (profiles with fuzzers; scenarios/corpus.py):
                      a JSON list of cases, a function of the run's seed, its size and the Hypothesis version
                      alone; its deliberately wrong credentials are decoys to the secret scan
                      (harness/judges/secret_scan.py)
  report.html, charts/*.png   written by `harness report`

summary.json:
  {"schema_version": 2, "run_id": str, "profile": str, "env": str, "seed": int,
   "started_at": ISO-8601 str, "duration_s": float, "verdict": one of VERDICTS,
   "exit_code": int, "reason": str,
   "phases": [{"name": str, "start_s": float, "end_s": float, "steady": bool}],
   "faults": [{"at_s": float, "end_s": float, "proxy": str, "toxic": str, "stream": str,
               "attributes": {...}, "toxicity": float}],
   "reconciliation": {"acknowledged": int, "applied": int, "lost": int, "duplicated": int,
                      "unknown_resolved": int},
   "cadence": {"env": str, "ledger_close_s": float, "breaker_timeout_s": float, "changes": [str]}
              (the environment's cadence the profile was derived for, harness/cadence.py),
   "assets": {"payment": str, "x402": str} ("native" or "CODE:ISSUER" of the offline network),
   "checks": [{"id": str ("P30".."P36", "target.<metric>", "recovery.<fault>", "nothing-lost", "state-bounds",
                      "capacity"),
               "kind": "property"|"target"|"recovery"|"invariant"|"capacity", "name": str,
               "verdict": "pass"|"fail"|"inconclusive", "reason": str,
               "figures": {str: number|str}, "evidence": [str | {...}],
               "evidence_used": {evidence name: source}, "not_observable": {evidence name: why}}],
   "target": {"kind": "reference"|"command"|"url", "url": str, "command": str|null},
   "worlds": {"kind": "offline"|"horizon", "started_by": "harness run"|"harness up", ...},
   "observability": {evidence name: {"available": "yes", "source": str} | {"available": "no", "why": str}},
   "rate_limits": {endpoint label: {"limit", "window_s", "algorithm"}}}   (what P34 held each endpoint to)
  Evidence names and what each check needs: harness/judges/observability.py, docs/evidence-contract.md.
  A check missing a piece is inconclusive with reason "not observable: ..." and keeps the judge's own
  conclusion in figures.partial_verdict / partial_reason. Version 2 added evidence_used, not_observable,
  target, worlds and observability (version 1 folders read back with them empty).
  Target checks carry figures metric, threshold_ms, samples, p50_ms, p95_ms, p99_ms,
  p95_from_intended_ms and "windows": [{"start_s", "end_s", "samples", "p95_ms", "breach": bool}].
  The capacity check (profiles with judging.capacity_phase) carries figures phase, window_s, windows,
  windows_thin, knee_found, max_offered_rps, last_ok_{start_s,offered_rps,achieved_rps},
  knee_{start_s,offered_rps,achieved_rps}, first_broken_metric, broken_metrics ("n/a" when absent);
  its evidence is the per-window table [{"start_s", "end_s", "offered_rps", "achieved_rps",
  "state": "hold"|"break"|"thin", "p95_ms": {metric: ms}, "samples": {metric: n}, "broken"?: [str]}].
Times inside a run folder are seconds since run start (float) unless a key says otherwise.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SUMMARY_SCHEMA_VERSION = 2

SUMMARY_FILE = "summary.json"
JUNIT_FILE = "junit.xml"
REQUESTS_FILE = "requests.csv"  # run folders before requests.parquet; `harness export RUN --csv`
REQUESTS_PARQUET = "requests.parquet"
EVENTS_FILE = "events.jsonl"
LEDGER_HISTORY_FILE = "ledger_history.jsonl"
LEDGER_APPLIED_FILE = "ledger_applied.parquet"
MANIFEST_FILE = "manifest.json"
CORPUS_FILE = "corpus.json"
REPORT_FILE = "report.html"
CHARTS_DIR = "charts"

VERDICTS = ("pass", "fail", "money-lost", "inconclusive", "error")
EXIT_PASS, EXIT_CHECK_FAILED, EXIT_MONEY_LOST, EXIT_INCONCLUSIVE, EXIT_HARNESS_ERROR = 0, 1, 2, 3, 4

# Endpoint labels used in records, charts and target checks, with the metric each one feeds.
ENDPOINT_METRICS = {
    "x402": "x402.handshake",
    "x402-v2": "x402.handshake.v2",  # x402 v2: the paid request waits for the facilitator's settlement
    "channel": "channel.latency",
    "settlement": "settlement.finality",
    "decision": "agent.decision",
    "escrow": "contract.execution",
}


@dataclass(slots=True)
class RequestRecord:
    """One client-side request as Locust sent it. Times are seconds since run start."""

    intended_s: float  # when the open-model schedule wanted it sent
    sent_s: float  # when it was actually sent
    endpoint: str  # label: x402, channel, settlement, decision, escrow, health, ...
    method: str
    path: str
    status: int  # HTTP status; 0 = no response (connection error or client timeout)
    latency_ms: float  # service time: sent -> response complete
    latency_from_intended_ms: float  # intended -> response complete (coordinated-omission corrected)
    user_kind: str = ""  # paying_agent, channel_updater, settler, decider, escrow_user, abuser, fuzzer, tamperer
    client_key: str = ""  # an issued key's label, or the unissued key itself (key_issued = 0)
    phase: str = ""
    idempotency_key: str = ""
    tx_hash: str = ""
    fault_active: str = ""  # ';'-joined names of faults active on this request's path when sent
    expected: str = ""  # what the client expected: ok, reject, ratelimit, ...
    error: str = ""  # no response: the transport error; 4xx/5xx: the JSON body's `error` code
    ratelimit_headers_ok: int = -1  # 429s and limited 2xx: 1 = Retry-After/X-RateLimit-* present, 0 = missing, -1 = unchecked
    body_json: int = -1  # 1 = the response body parsed as JSON, 0 = it did not, -1 = unchecked
    server_ms: float = -1.0  # the target metric's `Server-Timing` dur (the value the service recorded); -1 = none
    ratelimit_limit: int = -1  # the limit the response announced (X-RateLimit-Limit, else RateLimit-Policy); -1 = none
    ratelimit_window_s: float = -1.0  # the window it announced (RateLimit-Policy `w`); -1 = none
    key_issued: int = -1  # 1 = client_key names an API key the run issued, 0 = unissued or no key (anonymous), -1 = unknown
    error_field: str = ""  # 4xx/5xx: the JSON body's `field` (the request field the service says is wrong), else ""
    ratelimit_remaining: int = -1  # X-RateLimit-Remaining as announced; -1 = none
    ratelimit_reset_s: float = -1.0  # X-RateLimit-Reset (seconds) as announced; -1 = none
    retry_after_s: float = -1.0  # Retry-After (seconds) as announced; -1 = none


RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
_OPTIONAL = frozenset(f.name for f in fields(RequestRecord) if f.default is not MISSING)


def write_records(path: Path, records: Iterable[RequestRecord]) -> int:
    """Write records as CSV with a header row; returns the number written."""
    count = 0
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(RECORD_FIELDS)
        for rec in records:
            writer.writerow([getattr(rec, name) for name in RECORD_FIELDS])
            count += 1
    return count


def read_records(path: Path) -> Iterator[RequestRecord]:
    """Read records written by `write_records`; columns an older file lacks (or leaves empty) get defaults."""
    types = {f.name: f.type for f in fields(RequestRecord)}
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            yield RequestRecord(**{k: _coerce(types[k], v) for k, v in row.items()
                                   if k in types and not (v in ("", None) and k in _OPTIONAL)})


def _coerce(type_name: Any, value: str) -> Any:
    if type_name in ("float", float):
        return float(value)
    if type_name in ("int", int):
        return int(value)
    return value


@dataclass(slots=True)
class Event:
    """Something that happened during a run, on the run's time axis (seconds since start).

    kinds: phase.start, phase.end, fault.applied, fault.removed, breaker.transition
    (data: breaker, from, to), alert (data: metric, value_ms, threshold_ms), error.record
    (data: severity, category, operation, id), submission.retry (data: operation, attempt, delay_s,
    cause, tx_hash, endpoint: a TRY_AGAIN_LATER the service retried), health, ledger.close, note.
    """

    t: float
    source: str  # harness, service, toxiproxy, ledger, locust
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def write_events(path: Path, events: Iterable[Event]) -> int:
    count = 0
    with Path(path).open("w") as fh:
        for ev in events:
            fh.write(ev.to_json() + "\n")
            count += 1
    return count


def read_events(path: Path) -> list[Event]:
    out = []
    with Path(path).open() as fh:
        for line in fh:
            if line.strip():
                out.append(Event(**json.loads(line)))
    return out
