"""`harness run PROFILE [--out DIR] [--seed N] [--env ENV] [TARGET] [WORLDS] [--scenarios PATH] [--workers N|auto]`.

TARGET: the reference service (default), `--target-cmd "CMD"` (any command line, started with the worlds'
variables), or `--target URL` (a service you started). WORLDS: started by the run (default; `--horizon URL
[--horizon-secondary URL]` puts real Horizons behind the fault proxies), or `--worlds FILE` from a running
`harness up`. Exit codes: 0 every check holds, 1 a property or target failed, 2 money lost or duplicated (or
an invalid `--fault-in-service`: an unknown name, or any fault under mainnet, is refused before anything
starts), 3 inconclusive (too little evidence, or not observable), 4 the harness could not run (reason in
summary.json).

`--fault-in-service` names come from the reference service's one fault registry
(reference_impl/service/faults.py), imported only when a fault is asked for, that is only for the
reference service: a run against `--target-cmd` / `--target` never imports reference_impl.service (the
reference service takes its fault in the command: `--target-cmd "python -m reference_impl.service
--from-env --fault-in-service NAME"`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.outputs import EXIT_HARNESS_ERROR
from harness.profiles import ENVS, load_profile
from harness.run.lifecycle import RunOptions, run
from harness.run.load import Distribution, auto_workers
from harness.run.target import TargetSpec
from harness.run.worlds import HorizonOptions

EXIT_USAGE = 2  # as for any invalid option (argparse)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="profile name (scenarios/profiles/NAME.json) or path to a profile file")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default reports/runs/<profile>-<UTC>)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: the profile's)")
    parser.add_argument("--env", choices=ENVS, default=None, help="config environment (default: the profile's)")
    parser.add_argument("--fault-in-service", metavar="NAME", default=None,
                        help="TESTING ONLY: start the reference service with a deliberate fault to show the judges "
                             "judge (names: reference_impl/service/faults.py, listed by `harness serve --help`)")
    parser.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")
    target = parser.add_argument_group("target (default: the reference service)")
    target.add_argument("--target-cmd", metavar="CMD", default=None,
                        help="shell command starting your service; it gets PORT, TARGET_URL, HORIZON_URL, "
                             "HORIZON_URL_SECONDARY, STELLAR_NETWORK_PASSPHRASE, SRH_ACCOUNTS_FILE, SRH_ADMIN_TOKEN_FILE, "
                             "SRH_API_KEYS_FILE")
    target.add_argument("--target", metavar="URL", default=None, help="a service you started (loopback URL)")
    target.add_argument("--target-ready-timeout", type=float, default=60.0, metavar="S",
                        help="seconds for GET /health to answer 200 (default 60; then exit 4)")
    worlds = parser.add_argument_group("worlds (default: started by this run, offline network)")
    worlds.add_argument("--worlds", type=Path, default=None, metavar="FILE",
                        help="use the worlds of a running `harness up --env-file FILE`")
    worlds.add_argument("--horizon", default=None, metavar="URL", help="a real Horizon behind horizon-primary")
    worlds.add_argument("--horizon-secondary", default=None, metavar="URL",
                        help="a real Horizon behind horizon-secondary (default: the same as --horizon)")
    worlds.add_argument("--friendbot", default=None, metavar="URL",
                        help="friendbot funding the run's accounts (default: <--horizon>/friendbot)")
    parser.add_argument("--scenarios", type=Path, action="append", default=[], metavar="PATH",
                        help="a module or folder of Locust user classes adding or replacing traffic kinds (repeatable)")
    load = parser.add_argument_group("load generation (default: one Locust process)")
    load.add_argument("--workers", default="0", metavar="N|auto",
                      help="Locust distributed mode: a master and N workers sharing the arrival schedule "
                           "(auto: cores - 1, at most the profile's users)")
    load.add_argument("--remote-workers", type=int, default=0, metavar="K",
                      help="K of the N workers join from other machines with `harness worker` (the run prints the "
                           "command and waits for them)")
    load.add_argument("--master-bind-host", default="127.0.0.1", metavar="HOST",
                      help="address the Locust master listens on (default loopback; another machine's workers need "
                           "an address they can reach)")


def horizon_options(args: argparse.Namespace) -> HorizonOptions | None:
    if args.horizon is None:
        if args.horizon_secondary or args.friendbot:
            raise HarnessError("--horizon-secondary and --friendbot need --horizon")
        return None
    for url in (args.horizon, args.horizon_secondary, args.friendbot):
        if url is not None and not url.startswith(("http://", "https://")):
            raise HarnessError(f"not an http(s) URL: {url!r}")
    return HorizonOptions(args.horizon, args.horizon_secondary, args.friendbot)


def distribution(args: argparse.Namespace) -> Distribution:
    """The --workers / --remote-workers / --master-bind-host options; HarnessError for a bad value."""
    if args.workers == "auto":
        workers = auto_workers(load_profile(args.profile))
    elif args.workers.isdigit():
        workers = int(args.workers)
    else:
        raise HarnessError(f"--workers takes a number or 'auto', not {args.workers!r}")
    return Distribution(workers, args.remote_workers, args.master_bind_host)


def main(args: argparse.Namespace) -> int:
    if args.seed is not None and args.seed < 0:
        print("harness run: --seed must be >= 0", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    try:
        for path in args.scenarios:
            if not path.exists():
                raise HarnessError(f"--scenarios {path}: no such module or folder")
        options = RunOptions(profile=args.profile, out=args.out, seed=args.seed, env=args.env,
                             fault_in_service=args.fault_in_service,
                             progress_interval_s=max(0.5, float(args.progress_interval)),
                             target=TargetSpec(args.target_cmd, args.target, args.target_ready_timeout),
                             worlds_file=args.worlds, horizon=horizon_options(args),
                             scenarios=tuple(p.resolve() for p in args.scenarios),
                             distribution=distribution(args))
    except HarnessError as exc:  # an invalid option
        print(f"harness run: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    if options.fault_in_service:
        refused = fault_refusal(options.fault_in_service, args.env, args.profile)
        if refused:
            print(f"harness run: {refused}", file=sys.stderr)
            return EXIT_USAGE
    try:
        return run(options)
    except HarnessError as exc:  # raised before anything started (e.g. an invalid profile or option)
        print(f"harness run: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR


def fault_refusal(name: str, env: str | None, profile: str) -> str:
    """Why the reference service's fault `name` is refused (an unknown name, or any fault under mainnet);
    "" when it may run. Only here does `harness run` import the service's fault registry."""
    from reference_impl.errors import ConfigurationError
    from reference_impl.service.faults import check_fault  # the one registry of the service's faults

    try:
        check_fault(name, env or load_profile(profile).env)
    except ConfigurationError as exc:
        return str(exc)
    except HarnessError:
        pass  # an invalid profile is reported by run()
    return ""
