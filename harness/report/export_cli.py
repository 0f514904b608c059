"""`harness export RUN_DIR --csv [--out FILE]`: a run's requests.parquet as requests.csv (the pre-Parquet shape).

The CSV has the RECORD_FIELDS header and one row per client request, in send order, written batch by
batch (bounded memory whatever the run's size). Exit 0 written, 4 the run folder has no requests.parquet,
it is unreadable, or the output file already exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.outputs import REQUESTS_FILE, REQUESTS_PARQUET
from harness.records_store import RecordStore, RecordStoreError, export_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding requests.parquet")
    parser.add_argument("--csv", action="store_true", required=True, help="export the request records as CSV")
    parser.add_argument("--out", metavar="FILE", help=f"where to write (default RUN_DIR/{REQUESTS_FILE})")


def main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    source = run_dir / REQUESTS_PARQUET
    target = Path(args.out) if args.out else run_dir / REQUESTS_FILE
    if not source.is_file():
        print(f"harness export: {run_dir} holds no {REQUESTS_PARQUET}", file=sys.stderr)
        return 4
    if target.exists():
        print(f"harness export: {target} exists; remove it or choose --out", file=sys.stderr)
        return 4
    try:
        count = export_csv(RecordStore([source]), target)
    except (RecordStoreError, OSError) as exc:
        target.unlink(missing_ok=True)
        print(f"harness export: {exc}", file=sys.stderr)
        return 4
    print(f"wrote {target} ({count} requests)")
    return 0
