"""`harness run PROFILE [--out DIR] [--seed N] [--env ENV] [--fault-in-service NAME]`.

Exit codes: 0 every check holds, 1 a property or target failed, 2 money lost or duplicated (or an
invalid option: a deliberate fault under mainnet is refused before anything starts), 3 inconclusive
(too little evidence), 4 the harness could not run (reason in summary.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.outputs import EXIT_HARNESS_ERROR
from harness.profiles import ENVS, load_profile
from harness.run.lifecycle import RunOptions, run
from reference_impl.errors import ConfigurationError
from reference_impl.service.faults import FAULTS, check_fault  # the one registry of the service's faults

EXIT_USAGE = 2  # as for any invalid option (argparse)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="profile name (scenarios/profiles/NAME.json) or path to a profile file")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default reports/runs/<profile>-<UTC>)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: the profile's)")
    parser.add_argument("--env", choices=ENVS, default=None, help="config environment (default: the profile's)")
    parser.add_argument("--fault-in-service", choices=sorted(FAULTS), default=None,
                        help="TESTING ONLY: start the service with a deliberate fault to show the judges judge")
    parser.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")


def main(args: argparse.Namespace) -> int:
    if args.seed is not None and args.seed < 0:
        print("harness run: --seed must be >= 0", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    options = RunOptions(profile=args.profile, out=args.out, seed=args.seed, env=args.env,
                         fault_in_service=args.fault_in_service,
                         progress_interval_s=max(0.5, float(args.progress_interval)))
    try:
        check_fault(args.fault_in_service, args.env or load_profile(args.profile).env)
    except ConfigurationError as exc:  # e.g. a deliberate fault under mainnet
        print(f"harness run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HarnessError:
        pass  # an invalid profile is reported by run() below
    try:
        return run(options)
    except HarnessError as exc:  # raised before anything started (e.g. an invalid profile)
        print(f"harness run: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
