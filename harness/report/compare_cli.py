"""`harness compare RUN_DIR... [--baseline RUN_DIR] [--tolerance PCT] [--out DIR]`: exit 1 on a p95 regression."""

from __future__ import annotations

import argparse
import sys

from harness.report.compare import compare_runs, write_comparison
from harness.report.data import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run folders, oldest first")
    parser.add_argument("--baseline", metavar="RUN_DIR", help="the run to compare against (default: the first)")
    parser.add_argument("--tolerance", metavar="PCT", type=float, default=10.0,
                        help="allowed p95 increase over the baseline, percent (default 10)")
    parser.add_argument("--out", metavar="DIR", default="reports/compare",
                        help="where compare.html and its PNGs go (default reports/compare)")


def main(args: argparse.Namespace) -> int:
    try:
        cmp = compare_runs(args.run_dirs, args.baseline, args.tolerance)
        path = write_comparison(cmp, args.out)
    except ReportError as exc:
        print(f"harness compare: {exc}", file=sys.stderr)
        return 4
    for reg in cmp.regressions:
        print(f"REGRESSION {reg['run']}: {reg['metric']} p95 {reg['p95_ms']} ms vs baseline "
              f"{reg['baseline_p95_ms']} ms (+{reg['change_pct']}%, tolerance {cmp.tolerance_pct:g}%)")
    print(f"wrote {path}")
    return 1 if cmp.regressions else 0
