"""`harness worker --master-host H [--master-port P] [--token-file FILE]`: one Locust worker joining a run.

`harness run PROFILE --workers N --remote-workers K` starts the Locust master (and N - K workers of its own),
prints the command to join with and where its join token is, and waits for K workers. This command needs
nothing of the run's machine but the network path to the master and the token (`--token-file`, or
`$HARNESS_JOIN_TOKEN`; never on the command line): in a private temporary folder (0700, removed at the
end) it fetches the run from the master (config, load accounts, corpus: scenarios/join.py, sealed with
the token), runs one Locust worker there in the foreground and exits with Locust's code when the master
ends the run. The master sends the worker its share of the arrivals and t = 0 (scenarios/partition.py);
the worker streams its records back to the master, which writes them into the run's load folder
(scenarios/record_stream.py). Tested on loopback only.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from harness.outputs import EXIT_HARNESS_ERROR
from harness.run.load import REPO_ROOT, locust_env, worker_argv
from scenarios.wire import CONFIG_NAME, TOKEN_ENV, read_token

DEFAULT_MASTER_PORT = 5557  # Locust's own default
JOIN_LIMIT_S = 120.0  # how long to wait for the master's answer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master-host", required=True, metavar="H", help="the machine running `harness run`")
    parser.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT, metavar="P",
                        help=f"the port `harness run` printed (default {DEFAULT_MASTER_PORT}, Locust's)")
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help=f"a file holding the run's join token (default: ${TOKEN_ENV})")


def main(args: argparse.Namespace) -> int:
    if not 0 < args.master_port < 65536:
        print(f"harness worker: --master-port {args.master_port} is not a port", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    try:
        token = read_token(args.token_file)
    except OSError as exc:
        print(f"harness worker: cannot read the join token: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    if token is None:
        print(f"harness worker: no join token: give --token-file or set ${TOKEN_ENV}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the private folder is removed on a plain kill too
    try:
        with tempfile.TemporaryDirectory(prefix="harness-worker-") as private:
            return _join(args.master_host, args.master_port, token, Path(private))
    except KeyboardInterrupt:
        return EXIT_HARNESS_ERROR


def _join(host: str, port: int, token: str, private: Path) -> int:
    env = {**os.environ, TOKEN_ENV: token, "PYTHONPATH": str(REPO_ROOT)}
    fetch = [sys.executable, "-m", "scenarios.join", "--master-host", host, "--master-port", str(port),
             "--into", str(private / "run"), "--limit-s", str(JOIN_LIMIT_S)]
    if subprocess.run(fetch, env=env, cwd=private, check=False).returncode != 0:
        return EXIT_HARNESS_ERROR
    return subprocess.run(worker_argv(host, port), env=locust_env(private / "run" / CONFIG_NAME, "worker", token),
                          cwd=private, check=False).returncode


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(EXIT_HARNESS_ERROR)
