"""`harness serve` / `python -m reference_impl.service`: start the service under test.

Prints `LISTENING http://127.0.0.1:<port>` once it accepts connections; SIGTERM/SIGINT -> clean exit 0.
Exit 2 on invalid options or files (the message never contains a secret).

`--from-env` takes its wiring from exactly the variables `harness run --target-cmd` and `harness up` hand a
target (docs/evidence-contract.md): PORT, HORIZON_URL, HORIZON_URL_SECONDARY, STELLAR_NETWORK_PASSPHRASE,
SRH_ACCOUNTS_FILE, SRH_ADMIN_TOKEN_FILE, SRH_API_KEYS_FILE (the issued API keys' hashes, as --api-keys-file),
and X402_FACILITATOR_URL / X402_ASSET when the worlds run an x402 v2 facilitator. `--no-admin-feed` leaves `/admin/events` out (404).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from reference_impl.errors import ConfigurationError
from reference_impl.request_keys import IssuedKeys
from reference_impl.service.app import create_app
from reference_impl.service.faults import FAULTS
from reference_impl.service.server import ServiceServer
from reference_impl.service.settings import ServiceAccounts, ServiceSettings, SettingsError, read_token

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# --from-env: variable -> the option it replaces (required ones, then the ones read when set)
FROM_ENV = {"PORT": "port", "HORIZON_URL": "horizon_primary", "HORIZON_URL_SECONDARY": "horizon_secondary",
            "STELLAR_NETWORK_PASSPHRASE": "network_passphrase", "SRH_ACCOUNTS_FILE": "accounts_file",
            "SRH_ADMIN_TOKEN_FILE": "admin_token_file", "SRH_API_KEYS_FILE": "api_keys_file"}
FROM_ENV_OPTIONAL = {"X402_FACILITATOR_URL": "facilitator_url", "X402_ASSET": "x402_asset"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = choose a free one)")
    parser.add_argument("--env", default="development", choices=("development", "testnet", "mainnet"))
    parser.add_argument("--config-dir", default="config", help="folder holding <env>.json")
    parser.add_argument("--horizon-primary", help="primary Horizon URL (default: the config's)")
    parser.add_argument("--horizon-secondary", help="secondary Horizon URL (default: the config's)")
    parser.add_argument("--network-passphrase", help="network passphrase (default: the config's)")
    parser.add_argument("--accounts-file", help="JSON accounts file (secrets; see docs/service.md); required")
    parser.add_argument("--admin-token-file", help="file holding the bearer token for /admin/events")
    parser.add_argument("--api-keys-file",
                        help="issued API keys as SHA-256 hex digests, one per line; any other X-API-Key is "
                             "anonymous (limited by client address)")
    parser.add_argument("--fault-in-service", choices=sorted(FAULTS), help="deliberate fault (testing only)")
    parser.add_argument("--log-file", help="rotating JSON-lines file for error records")
    parser.add_argument("--quiet", action="store_true", help="no error records on the console")
    parser.add_argument("--seed", type=int, help="seed for retry jitter")
    parser.add_argument("--call-timeout", type=float, default=2.0, help="seconds per Horizon GET")
    parser.add_argument("--request-deadline", type=float, help="seconds a settlement may take before 504")
    parser.add_argument("--body-timeout", type=float, default=10.0,
                        help="seconds a client may take to send a request body before 408 (default 10)")
    parser.add_argument("--facilitator-url", help="x402 v2 facilitator (default: the config's facilitatorUrl; "
                                                  "without one only x402 v1 is offered)")
    parser.add_argument("--x402-asset", help="x402 v2 token: contract id C..., CODE:ISSUER or native (its SAC)")
    parser.add_argument("--x402-network", help="x402 v2 CAIP-2 network name (default: from the passphrase)")
    parser.add_argument("--from-env", action="store_true",
                        help="port, Horizons, passphrase, accounts, admin token and issued API keys from the "
                             "harness's variables")
    parser.add_argument("--no-admin-feed", action="store_true", help="serve no /admin/events (404)")


def apply_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """`--from-env`: set the wiring options from the variables; an option given as well is an error."""
    wiring = {**FROM_ENV, **{k: v for k, v in FROM_ENV_OPTIONAL.items() if environ.get(k)}}
    given = [f"--{opt.replace('_', '-')}" for opt in wiring.values() if getattr(args, opt) not in (None, 0)]
    if given:
        raise SettingsError(f"--from-env takes {', '.join(given)} from the environment; drop the option(s)")
    missing = [name for name in FROM_ENV if not environ.get(name)]
    if missing:
        raise SettingsError(f"--from-env: variable(s) {', '.join(missing)} not set")
    for name, opt in wiring.items():
        setattr(args, opt, environ[name])
    if not args.port.isdigit():
        raise SettingsError("--from-env: PORT must be a port number")
    args.port = int(args.port)


def settings_from_args(args: argparse.Namespace) -> ServiceSettings:
    if args.from_env:
        apply_environment(args, os.environ)
    if not args.accounts_file:
        raise SettingsError("--accounts-file is required (or --from-env with SRH_ACCOUNTS_FILE)")
    if args.host not in LOOPBACK_HOSTS and not args.host.startswith("127."):
        raise SettingsError("--host must be a loopback address")
    if not 0 <= args.port <= 65535:
        raise SettingsError("--port must be in 0..65535")
    return ServiceSettings(
        accounts=ServiceAccounts.load(args.accounts_file),
        env=args.env,
        config_dir=Path(args.config_dir),
        horizon_primary=args.horizon_primary,
        horizon_secondary=args.horizon_secondary,
        network_passphrase=args.network_passphrase,
        admin_token=read_token(args.admin_token_file) if args.admin_token_file else None,
        api_keys=IssuedKeys.from_file(args.api_keys_file) if args.api_keys_file else IssuedKeys(),
        fault=args.fault_in_service,
        log_file=args.log_file,
        log_console=False if args.quiet else None,
        call_timeout=args.call_timeout,
        request_deadline=args.request_deadline,
        body_timeout=args.body_timeout,
        seed=args.seed,
        facilitator_url=args.facilitator_url,
        x402_asset=args.x402_asset,
        x402_network=args.x402_network,
        admin_feed=not args.no_admin_feed,
    ).resolve()


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        server = ServiceServer(create_app(settings), args.host, args.port)
    except (ConfigurationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return server.run_until_signal()
