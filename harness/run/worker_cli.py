"""`harness worker --master-host H [--master-port P] --run-config FILE`: one Locust worker joining a run.

`harness run PROFILE --workers N --remote-workers K` starts the Locust master (and N - K workers of its own),
prints the command to join with, and waits for K workers. This command runs one such worker in the
foreground and exits with Locust's code when the master ends the run. The master sends the worker its
share of the arrivals and t = 0 (scenarios/partition.py); the worker reads the run config, the accounts
file and the corpus it names, and writes its records into `worker-<index>/` of the run's load folder, all
at the paths the run config gives: on another machine they must be on storage both machines share (the
harness merges the load folder after the run). Tested on loopback only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness.outputs import EXIT_HARNESS_ERROR
from harness.run.load import REPO_ROOT, locust_env, worker_argv

DEFAULT_MASTER_PORT = 5557  # Locust's own default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master-host", required=True, metavar="H", help="the machine running `harness run`")
    parser.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="P",
                        help=f"the port `harness run` printed (default {DEFAULT_MASTER_PORT}, Locust's)")
    parser.add_argument("--run-config", type=Path, required=True, metavar="FILE",
                        help="the run config `harness run` printed (on shared storage for another machine)")


def main(args: argparse.Namespace) -> int:
    if not args.run_config.is_file():
        print(f"harness worker: no run config at {args.run_config}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    if not 0 < args.master_port < 65536:
        print(f"harness worker: --master-port {args.master_port} is not a port", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    argv = worker_argv(args.master_host, args.master_port)
    try:
        return subprocess.run(argv, env=locust_env(args.run_config.resolve(), "worker"), cwd=REPO_ROOT,
                              check=False).returncode
    except KeyboardInterrupt:
        return EXIT_HARNESS_ERROR
