"""`harness up --env-file FILE`: start only the worlds, publish their wiring, run until SIGTERM/Ctrl-C.

Starts what `harness run` would (the offline network or real Horizons behind the fault proxies, the fault
proxy's API), funds the accounts of `--profile` / `--seed`, writes FILE (KEY='value' lines, mode 0600:
the target's variables, the assets it pays in (`SRH__PAYMENT__ASSET`, `SRH__PAYMENT__X402__ASSET`) and the
ledger cadence of `--env` (`SRH_LEDGER_CLOSE_S`), plus `TOXIPROXY_URL`, `SRH_LEDGER_URL`, `SRH_EVIDENCE_URL` and
the account files),
prints it, and waits. Start your service configured from FILE (docker compose `env_file:`, `set -a; . FILE`,
dotenv), then `harness run PROFILE --target URL --worlds FILE` drives load and faults through these worlds.
On SIGTERM/Ctrl-C everything `up` started is stopped and FILE and the account files are removed.
Exit 0 after a signal, 4 when the worlds could not start or one of them died.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.cadence import derive_profile, environment_cadence
from harness.errors import HarnessError
from harness.outputs import EXIT_HARNESS_ERROR, EXIT_PASS
from harness.profiles import ENVS, has_x402_v2, load_profile
from harness.run.accounts import derive_accounts, write_private_files
from harness.run.assets import run_assets
from harness.run.cli import horizon_options
from harness.run.load import account_sizes
from harness.run.supervisor import Supervisor
from harness.run.worlds import CLOSE_KEY, HORIZON, free_port, start_worlds, write_env_file

CHECK_INTERVAL_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", type=Path, required=True, metavar="FILE", help="where to write the wiring")
    parser.add_argument("--profile", default="smoke", help="size the accounts for this profile (default smoke)")
    parser.add_argument("--seed", type=int, default=None, help="accounts seed (default: the profile's)")
    parser.add_argument("--env", choices=ENVS, default=None,
                        help="close ledgers at this environment's cadence (default: the profile's env)")
    parser.add_argument("--log-dir", type=Path, default=None, help="logs of the worlds (default: a temporary folder)")
    parser.add_argument("--horizon", default=None, metavar="URL", help="a real Horizon behind horizon-primary")
    parser.add_argument("--horizon-secondary", default=None, metavar="URL", help="a real Horizon behind the secondary")
    parser.add_argument("--friendbot", default=None, metavar="URL", help="friendbot (default: <--horizon>/friendbot)")


def main(args: argparse.Namespace) -> int:
    supervisor: Supervisor | None = None
    files = None
    written = False
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        base = load_profile(args.profile)
        env_name = args.env or base.env
        profile = derive_profile(base, environment_cadence(env_name))
        seed = profile.seed if args.seed is None else args.seed
        if seed < 0:
            raise HarnessError("--seed must be >= 0")
        horizon = horizon_options(args)
        files = write_private_files(derive_accounts(seed, account_sizes(profile)))
        supervisor = Supervisor(args.log_dir or Path(tempfile.mkdtemp(prefix="harness-up-logs-")))
        worlds = start_worlds(supervisor, files, profile.ledger_close_s, horizon, has_x402_v2(profile))
        if worlds.kind == HORIZON:
            from harness.run.horizon_history import fund_run_accounts

            assert horizon is not None
            friendbot = horizon.friendbot or horizon.primary.rstrip("/") + "/friendbot"
            fund_run_accounts(worlds.ledger_url, friendbot, worlds.passphrase, files, seed)
        assets = run_assets(env_name, profile.asset)
        env = {**worlds.file_env(free_port(), files), CLOSE_KEY: f"{profile.ledger_close_s:g}",
               **assets.service_environ()}
        write_env_file(args.env_file, env)
        written = True
        print("\n".join(f"{k}={v}" for k, v in env.items()), flush=True)
        print(f"harness up: worlds ready ({worlds.kind}); wrote {args.env_file}; logs in {supervisor.log_dir}; "
              "stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)
        _watch(supervisor)
    except KeyboardInterrupt:
        return EXIT_PASS
    except HarnessError as exc:
        print(f"harness up: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if supervisor is not None:
            supervisor.stop_all()
        if files is not None:
            files.cleanup()
        if written:
            args.env_file.unlink(missing_ok=True)
    return EXIT_PASS


def _watch(supervisor: Supervisor) -> None:
    """Wait for a signal; a world that dies on its own ends `up` with an error."""
    while True:
        dead = [c for c in supervisor.children if not c.running()]
        if dead:
            raise HarnessError(f"{dead[0].name} exited with code {dead[0].process.returncode}; "
                               f"last output: {' | '.join(dead[0].tail[-5:]) or '(none)'}")
        time.sleep(CHECK_INTERVAL_S)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
