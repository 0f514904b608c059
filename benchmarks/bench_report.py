"""Report rendering at scale: judge and render a synthetic run of one million requests.

    .venv/bin/python -m benchmarks report [-- --requests 1000000 --keep DIR]

Writes a realistic run folder (vectorised numpy, seeded), then times, each in a fresh child process
that reports its own peak RSS (VmHWM, else getrusage ru_maxrss), so each figure is that step's alone:
  1. judging (JudgeContext.build + judge + summary.json) from requests.csv and events.jsonl,
  2. `render_report` (pandas load, bucketed aggregation, 8 charts, report.html).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.outputs import EVENTS_FILE, RECORD_FIELDS, REQUESTS_FILE, SUMMARY_FILE, Event, write_events

SEED = 20261128
REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = np.array(["x402", "channel", "settlement", "decision", "escrow"])
SHARES = np.array([0.25, 0.35, 0.15, 0.15, 0.10])
TYPICAL_MS = np.array([120.0, 20.0, 1400.0, 60.0, 1300.0])
KINDS = np.array(["paying_agent", "channel_updater", "settler", "decider", "escrow_user"])
FAULTS = [{"at_s": 600.0 + 600.0 * i, "end_s": 660.0 + 600.0 * i, "proxy": "horizon-primary",
           "toxic": ("latency", "down", "timeout", "latency", "down")[i], "stream": "downstream",
           "attributes": {"latency": 800} if i % 3 == 0 else {}, "toxicity": 1.0} for i in range(5)]
STEP_TIMEOUT_S = 900


def make_run(out: Path, requests: int, duration_s: float = 3600.0) -> None:
    """A run folder with `requests` client records, breaker/alert/error events and a schedule."""
    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(ENDPOINTS), size=requests, p=SHARES)
    intended = np.sort(rng.uniform(0.0, duration_s, requests))
    sent = intended + rng.exponential(0.002, requests)
    latency = TYPICAL_MS[idx] * rng.lognormal(0.0, 0.3, requests)
    in_fault = np.zeros(requests, dtype=bool)
    for f in FAULTS:
        in_fault |= (sent >= f["at_s"]) & (sent < f["end_s"])
    latency = np.where(in_fault & (idx == 2), latency * 3.0, latency)
    status = np.where(rng.random(requests) < 0.002, 503, 200)
    status = np.where((idx == 3) & (rng.random(requests) < 0.05), 429, status)
    frame = pd.DataFrame({
        "intended_s": intended.round(4), "sent_s": sent.round(4), "endpoint": ENDPOINTS[idx], "method": "POST",
        "path": "/" + ENDPOINTS[idx], "status": status, "latency_ms": latency.round(2),
        "latency_from_intended_ms": (latency + (sent - intended) * 1000).round(2), "user_kind": KINDS[idx],
        "client_key": np.char.add("key-", (rng.integers(0, 200, requests)).astype(str)), "phase": "steady",
        "idempotency_key": "", "tx_hash": "", "fault_active": "", "expected": "ok", "error": "",
        "ratelimit_headers_ok": np.where(status == 429, 1, -1), "body_json": -1,
    })
    frame[list(RECORD_FIELDS)].to_csv(out / REQUESTS_FILE, index=False)
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


JUDGE_STEP = """
import json, sys
from pathlib import Path
import pandas as pd
from harness.judges import judge, reconcile
from harness.judges.context import JudgeContext
from harness.outputs import read_events
run = Path(sys.argv[1]); sched = json.loads((run / "schedule.json").read_text())
ctx = JudgeContext.build(pd.read_csv(run / "requests.csv", keep_default_na=False), events=read_events(run / "events.jsonl"),
                         phases=sched["phases"], faults=sched["faults"], duration_s=sched["duration_s"],
                         rate_limits={"decision": {"limit": 100, "window_s": 60.0}})
checks = judge(ctx); rec = reconcile(ctx)
summary = {"run_id": "bench", "profile": "bench", "verdict": "fail", "exit_code": 1, "reason": "benchmark",
           "duration_s": sched["duration_s"], "phases": sched["phases"], "faults": sched["faults"],
           "reconciliation": {k: rec[k] for k in ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved")},
           "checks": [c.to_dict() for c in checks]}
(run / "summary.json").write_text(json.dumps(summary, default=str))
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
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run_dir = Path(args.keep or tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        make_run(run_dir, args.requests)
        generate = time.perf_counter() - started
        size_mb = (run_dir / REQUESTS_FILE).stat().st_size / 2**20
        judge_wall, judge_rss = run_step(JUDGE_STEP, run_dir)
        render_wall, render_rss = run_step(RENDER_STEP, run_dir)
        report_kb = (run_dir / "report.html").stat().st_size / 1024
        checks = json.loads((run_dir / SUMMARY_FILE).read_text())["checks"]
    rows = [("requests", f"{args.requests:,}"), ("requests.csv (MiB)", f"{size_mb:.1f}"),
            ("generate run folder (s)", f"{generate:.1f}"), ("judge: wall (s)", f"{judge_wall:.1f}"),
            ("judge: peak RSS (MiB)", f"{judge_rss:.0f}"), ("checks judged", str(len(checks))),
            ("render_report: wall (s)", f"{render_wall:.1f}"), ("render_report: peak RSS (MiB)", f"{render_rss:.0f}"),
            ("report.html (KiB)", f"{report_kb:.0f}")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
