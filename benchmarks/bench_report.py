"""Judging and report rendering at scale: a synthetic run of one or ten million requests.

    .venv/bin/python -m benchmarks report [-- --requests 10000000 --keep DIR --in-memory]

Writes the load processes' raw record files of a realistic run (two CSV parts, as two load processes
leave them; vectorised numpy, seeded, generated in slices so the generator stays small), then times,
each in a fresh child process that reports its own peak RSS (VmHWM, else getrusage ru_maxrss), so each
figure is that step's alone:
  1. ingest: the parts merged, fault-tagged and sorted into requests.parquet (`harness.run.ingest`),
  2. judging (JudgeContext.build on the Parquet store + judge + reconcile + summary.json),
  3. `render_report` (the chart columns of requests.parquet, bucketed aggregation, 8 charts, report.html),
  4. with --in-memory, judging the old way (the whole table as one pandas frame), for comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harness.ledger_table import APPLIED_SCHEMA
from harness.outputs import (
    EVENTS_FILE,
    LEDGER_APPLIED_FILE,
    REQUESTS_PARQUET,
    SUMMARY_FILE,
    Event,
    write_events,
)
from harness.records_store import DEFAULTS, SCHEMA

SEED = 20261128
REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = np.array(["x402", "channel", "settlement", "decision", "escrow"])
SHARES = np.array([0.25, 0.35, 0.15, 0.15, 0.10])
TYPICAL_MS = np.array([120.0, 20.0, 1400.0, 60.0, 1300.0])
KINDS = np.array(["paying_agent", "channel_updater", "settler", "decider", "escrow_user"])
PATHS = np.array(["/resources/report", "/channels/ch-{}/updates", "/settlements", "/agent/decisions",
                  "/contracts/escrow"])
FAULTS = [{"at_s": 600.0 + 600.0 * i, "end_s": 660.0 + 600.0 * i, "proxy": "horizon-primary",
           "toxic": ("latency", "down", "timeout", "latency", "down")[i], "stream": "downstream",
           "attributes": {"latency": 800} if i % 3 == 0 else {}, "toxicity": 1.0} for i in range(5)]
PAYEES = np.array(["GPAYEEX402", "-", "GSETTLEMENTPOOL", "-", "GESCROW"])
LOST_SHARE, DOUBLED_SHARE = 0.0001, 0.0001
SLICE_ROWS = 1_000_000
PARTS = 2
STEP_TIMEOUT_S = 1800


def _slice(rng: np.random.Generator, first: int, rows: int, t0: float, t1: float) -> tuple[pa.Table, pa.Table]:
    """`rows` records sent in [t0, t1): ids `first`.., realistic columns (hashes and keys on the money paths),
    and the ledger's applied transactions for them."""
    idx = rng.choice(len(ENDPOINTS), size=rows, p=SHARES)
    intended = np.sort(rng.uniform(t0, t1, rows))
    sent = intended + rng.exponential(0.002, rows)
    latency = TYPICAL_MS[idx] * rng.lognormal(0.0, 0.3, rows)
    in_fault = np.zeros(rows, dtype=bool)
    for f in FAULTS:
        in_fault |= (sent >= f["at_s"]) & (sent < f["end_s"])
    latency = np.where(in_fault & (idx == 2), latency * 3.0, latency)
    status = np.where(rng.random(rows) < 0.002, 503, 200)
    status = np.where((idx == 3) & (rng.random(rows) < 0.05), 429, status)
    ids = np.arange(first, first + rows)
    money = np.isin(idx, [0, 2, 4])
    tx_hash = [f"{(i * 2654435761) % 2**256:064x}" if m else "" for i, m in zip(ids.tolist(), money.tolist(),
                                                                                 strict=True)]
    idem = [f"settle-{i}" if k == 2 else "" for i, k in zip(ids.tolist(), idx.tolist(), strict=True)]
    paths = np.where(idx == 1, np.char.add(np.char.add("/channels/ch-", (ids % 5000).astype(str)), "/updates"),
                     PATHS[idx])
    columns = {
        "intended_s": intended.round(4), "sent_s": sent.round(4), "endpoint": ENDPOINTS[idx],
        "method": np.where(idx == 0, "GET", "POST"), "path": paths, "status": status,
        "latency_ms": latency.round(2), "latency_from_intended_ms": (latency + (sent - intended) * 1000).round(2),
        "user_kind": KINDS[idx], "client_key": np.char.add("key-", rng.integers(0, 200, rows).astype(str)),
        "phase": np.full(rows, "steady"), "idempotency_key": idem, "tx_hash": tx_hash,
        "fault_active": np.full(rows, ""), "expected": np.full(rows, "ok"),
        "error": np.where(status == 503, "dependency_unavailable", ""),
        "ratelimit_headers_ok": np.where(status == 429, 1, -1), "body_json": np.full(rows, 1),
        "server_ms": (latency * 0.9).round(2), "ratelimit_limit": np.where(idx == 3, 100, -1),
        "ratelimit_window_s": np.where(idx == 3, 60.0, -1.0), "key_issued": np.full(rows, 1),
    }
    table = pa.table({f.name: pa.array(columns[f.name], f.type) if f.name in columns
                      else pa.array(np.full(rows, DEFAULTS[f.name]), f.type) for f in SCHEMA}, schema=SCHEMA)
    return table, _applied(ids, idx, status, tx_hash, idem, sent, rng)


def _applied(ids: np.ndarray, idx: np.ndarray, status: np.ndarray, tx_hash: list[str], idem: list[str],
             sent: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """The ledger's applied transactions for a slice: every acknowledged payment once, but LOST_SHARE of them
    missing and DOUBLED_SHARE of the settlements applied twice (so the judges have findings to list)."""
    acked = np.flatnonzero(np.isin(idx, [0, 2, 4]) & (status == 200) & (rng.random(len(idx)) >= LOST_SHARE))
    doubled = acked[(idx[acked] == 2) & (rng.random(acked.size) < DOUBLED_SHARE)]
    rows = np.concatenate([acked, doubled])
    hashes = [tx_hash[i] for i in acked.tolist()] + [f"{2**255 + int(ids[i]):064x}" for i in doubled.tolist()]
    memos = [hashlib.sha256(idem[i].encode()).hexdigest() if idem[i] else "" for i in rows.tolist()]
    credited = [[PAYEES[k]] for k in idx[rows].tolist()]
    ledger = (sent[rows] // 5).astype(np.int64) + 2
    return pa.table({"pos": np.zeros(rows.size, np.int64), "hash": hashes, "successful": np.ones(rows.size, np.int8),
                     "memo_hash": memos, "ledger": ledger, "index": np.arange(rows.size, dtype=np.int64),
                     "fee_charged": np.full(rows.size, 100, np.int64), "credited": credited}, schema=APPLIED_SCHEMA)


def make_run(out: Path, requests: int, duration_s: float = 3600.0) -> list[Path]:
    """The load parts (requests-<n>.csv) of a run of `requests` records, events.jsonl and schedule.json."""
    rng = np.random.default_rng(SEED)
    load = out / "load"
    load.mkdir(parents=True, exist_ok=True)
    parts = [load / f"requests-{n}.csv" for n in range(PARTS)]
    writers = [pacsv.CSVWriter(p, SCHEMA) for p in parts]
    ledger = pq.ParquetWriter(out / LEDGER_APPLIED_FILE, APPLIED_SCHEMA, compression="zstd")
    position = 0
    slices = max(1, -(-requests // SLICE_ROWS))
    for k in range(slices):
        rows = min(SLICE_ROWS, requests - k * SLICE_ROWS)
        table, applied = _slice(rng, k * SLICE_ROWS, rows, duration_s * k / slices, duration_s * (k + 1) / slices)
        applied = applied.set_column(0, "pos", pa.array(np.arange(position, position + applied.num_rows)))
        ledger.write_table(applied)
        position += applied.num_rows
        owner = rng.integers(0, PARTS, rows)
        for n, writer in enumerate(writers):
            writer.write_table(table.filter(pa.array(owner == n)))
    for writer in writers:
        writer.close()
    ledger.close()
    events = []
    for f in FAULTS:
        if f["toxic"] != "latency":
            for t, a, b in ((f["at_s"] + 2, "closed", "open"), (f["end_s"] + 1, "open", "half_open"),
                            (f["end_s"] + 1.5, "half_open", "closed")):
                events.append(Event(t, "service", "breaker.transition", {"breaker": "horizon-primary", "from": a, "to": b}))
    for t in rng.uniform(0, duration_s, 5000):
        events.append(Event(float(t), "service", "error.record", {"severity": str(rng.choice(["low", "medium", "high"]))}))
    events.sort(key=lambda e: e.t)
    write_events(out / EVENTS_FILE, events)
    phases = [{"name": "steady", "start_s": 0.0, "end_s": duration_s, "steady": True}]
    (out / "schedule.json").write_text(json.dumps({"phases": phases, "faults": FAULTS, "duration_s": duration_s}))
    return parts


INGEST_STEP = """
import json, sys
from pathlib import Path
from harness.run.collect import ActualFault, record_parts
from harness.run.ingest import ingest_parts
run = Path(sys.argv[1]); sched = json.loads((run / "schedule.json").read_text())
faults = [ActualFault(str(i), f["proxy"], f["toxic"], f["at_s"], f["end_s"], attributes=f["attributes"])
          for i, f in enumerate(sched["faults"])]
ingest_parts(record_parts(run / "load"), run / "requests.parquet", faults)
"""


JUDGE_STEP = """
import json, sys
from pathlib import Path
from harness.judges import judge, reconcile
from harness.judges.context import JudgeContext
from harness.outputs import read_events
from harness.records_store import RecordStore
run = Path(sys.argv[1]); sched = json.loads((run / "schedule.json").read_text())
records = RecordStore([run / "requests.parquet"])
if "{MODE}" == "memory":
    records = records.frame()
ctx = JudgeContext.build(records, events=read_events(run / "events.jsonl"), ledger_history=run / "ledger_applied.parquet",
                         phases=sched["phases"], faults=sched["faults"], duration_s=sched["duration_s"],
                         rate_limits={"decision": {"limit": 100, "window_s": 60.0}})
checks = judge(ctx); rec = reconcile(ctx)
summary = {"run_id": "bench", "profile": "bench", "verdict": "fail", "exit_code": 1, "reason": "benchmark",
           "duration_s": sched["duration_s"], "phases": sched["phases"], "faults": sched["faults"],
           "reconciliation": {k: rec[k] for k in ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved")},
           "checks": [c.to_dict() for c in checks]}
(run / "{SUMMARY}").write_text(json.dumps(summary, default=str, sort_keys=True))
"""
RENDER_STEP = "import sys\nfrom harness.report import render_report\nrender_report(sys.argv[1])\n"


# VmHWM is this process image's own peak (ru_maxrss would also count the parent's RSS inherited at fork).
PEAK_LINE = """
import re, resource
try:
    peak = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
except (OSError, AttributeError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PEAK_RSS_KIB", peak)
"""


def run_step(code: str, run_dir: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of `code` run in a fresh interpreter (its own getrusage peak)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + PEAK_LINE, str(run_dir)], check=True, cwd=REPO,
                          timeout=STEP_TIMEOUT_S, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak_kib = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK_RSS_KIB"))
    return wall, peak_kib / 1024.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="write the run folder here and keep it")
    parser.add_argument("--in-memory", action="store_true",
                        help="also judge the old way (one in-memory frame) and check the figures are identical")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run_dir = Path(args.keep or tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        parts = make_run(run_dir, args.requests)
        generate = time.perf_counter() - started
        csv_mb = sum(p.stat().st_size for p in parts) / 2**20
        ingest_wall, ingest_rss = run_step(INGEST_STEP, run_dir)
        for part in parts:  # the run folder keeps only requests.parquet, as `harness run` does
            part.unlink()
        parquet_mb = (run_dir / REQUESTS_PARQUET).stat().st_size / 2**20
        judge_wall, judge_rss = run_step(JUDGE_STEP.replace("{MODE}", "store").replace("{SUMMARY}", SUMMARY_FILE),
                                         run_dir)
        render_wall, render_rss = run_step(RENDER_STEP, run_dir)
        report_kb = (run_dir / "report.html").stat().st_size / 1024
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
        rows = [("requests", f"{args.requests:,}"), ("load parts, CSV (MiB)", f"{csv_mb:.1f}"),
                ("requests.parquet (MiB)", f"{parquet_mb:.1f}"), ("generate parts (s)", f"{generate:.1f}"),
                ("ingest: wall (s)", f"{ingest_wall:.1f}"), ("ingest: peak RSS (MiB)", f"{ingest_rss:.0f}"),
                ("judge: wall (s)", f"{judge_wall:.1f}"), ("judge: peak RSS (MiB)", f"{judge_rss:.0f}"),
                ("checks judged", str(len(summary["checks"]))),
                ("render_report: wall (s)", f"{render_wall:.1f}"), ("render_report: peak RSS (MiB)", f"{render_rss:.0f}"),
                ("report.html (KiB)", f"{report_kb:.0f}")]
        if args.in_memory:
            mem_wall, mem_rss = run_step(JUDGE_STEP.replace("{MODE}", "memory").replace("{SUMMARY}", "memory.json"),
                                         run_dir)
            same = json.loads((run_dir / "memory.json").read_text())["checks"] == summary["checks"]
            rows += [("in-memory judge: wall (s)", f"{mem_wall:.1f}"), ("in-memory judge: peak RSS (MiB)",
                                                                        f"{mem_rss:.0f}"),
                     ("same figures as columnar", "yes" if same else "NO")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value:>12}")
    return 0 if not args.in_memory or same else 1


if __name__ == "__main__":
    sys.exit(main())
