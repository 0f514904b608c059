"""`harness report RUN_DIR`: render report.html and charts/*.png for a run folder."""

from __future__ import annotations

import argparse
import sys
import time

from harness.report import ReportError, render_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `harness run`")


def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        path = render_report(args.run_dir)
    except ReportError as exc:
        print(f"harness report: {exc}", file=sys.stderr)
        return 4
    print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0
