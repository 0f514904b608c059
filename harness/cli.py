"""`harness` command line: a thin dispatcher over the library API.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`.
Modules are imported only when their subcommand runs, so importing the CLI has no side effects
(and Locust's gevent patching never leaks into commands that do not need it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.memory import tune_allocators

SUBCOMMANDS = {
    "run": ("harness.run.cli", "run a profile: load + faults + judges, writes a report"),
    "worker": ("harness.run.worker_cli", "join a distributed run as one Locust worker (harness run --remote-workers)"),
    "up": ("harness.run.up", "start only the worlds (ledger, fault proxies) for a service you start yourself"),
    "report": ("harness.report.cli", "render report.html and charts for a run folder"),
    "compare": ("harness.report.compare_cli", "compare several runs, flag p95 regressions"),
    "export": ("harness.report.export_cli", "export a run's request records as CSV (requests.parquet -> requests.csv)"),
    "serve": ("reference_impl.service.cli", "start the service under test"),
    "ledger": ("harness.ledger.cli", "start the offline Stellar network (Horizon-compatible)"),
    "toxiproxy": ("harness.toxiproxy.cli", "start the embedded Toxiproxy-compatible server"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help / usage error for unknown commands
        parser.print_help()
        return 2
    tune_allocators()
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    cmd_parser = argparse.ArgumentParser(prog=f"harness {argv[0]}", description=SUBCOMMANDS[argv[0]][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
