"""`python -m reference_impl.facilitator`: the x402 v2 facilitator for the `exact` scheme on Stellar.

Prints `LISTENING http://127.0.0.1:<port>` once it accepts connections; SIGTERM/SIGINT -> clean exit 0.
Exit 2 on invalid options or files (the message never contains a secret), 1 if it cannot start.
The accounts file is JSON `{"signers": ["S...", ...]}`: the facilitator's channel accounts (funded
with XLM; they pay every settlement's fee and sequence number).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stellar_sdk import Keypair

from reference_impl.circuit_breaker import CircuitBreakerConfig, CircuitBreakerManager
from reference_impl.errors import ConfigurationError
from reference_impl.facilitator.app import create_facilitator_app
from reference_impl.facilitator.networks import caip2_network
from reference_impl.facilitator.rpc import RpcPool
from reference_impl.facilitator.settler import Settler
from reference_impl.facilitator.verifier import DEFAULT_MAX_FEE_STROOPS, ExactStellarVerifier, ReplayCache
from reference_impl.service.sequence_pool import SequencePool
from reference_impl.service.server import ServiceServer

MAX_SIGNERS = 1000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reference_impl.facilitator", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rpc-url", action="append", required=True,
                   help="Soroban RPC URL (give it twice for a secondary); e.g. http://PROXY/soroban/rpc")
    p.add_argument("--accounts-file", required=True, help='JSON {"signers": ["S...", ...]}')
    p.add_argument("--network-passphrase", required=True)
    p.add_argument("--network", help="CAIP-2 name (default: stellar:pubnet/testnet for the real passphrases, "
                                     "else stellar:offline)")
    p.add_argument("--ledger-seconds", type=float, default=5.0,
                   help="estimated ledger close time (auth expiry window); the official default is 5")
    p.add_argument("--max-fee", type=int, default=DEFAULT_MAX_FEE_STROOPS, help="max fee per settlement (stroops)")
    p.add_argument("--tx-timeout", type=float, help="time bound of a settlement transaction "
                                                      "(default 2 ledgers + 4 s)")
    p.add_argument("--grace", type=float, help="how long after the time bound to look for the outcome "
                                                 "(default 2 ledgers + 2 s)")
    p.add_argument("--call-timeout", type=float, default=3.0, help="seconds per RPC call")
    p.add_argument("--poll-interval", type=float, default=0.2, help="seconds between getTransaction polls")
    return p


def load_signers(path: str) -> list[Keypair]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"accounts file {path}: cannot be read ({type(error).__name__})") from None
    seeds = data.get("signers") if isinstance(data, dict) else None
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SIGNERS:
        raise ConfigurationError(f"accounts file: signers must be a list of 1..{MAX_SIGNERS} secret seeds")
    try:
        return [Keypair.from_secret(s) for s in seeds]
    except Exception:  # noqa: BLE001 - never echo a seed
        raise ConfigurationError("accounts file: every signer must be a valid secret seed") from None


def make_settler(rpc_urls: list[str], signers: list[Keypair], passphrase: str, *, network: str | None = None,
                 ledger_seconds: float = 5.0, max_fee: int = DEFAULT_MAX_FEE_STROOPS, tx_timeout: float | None = None,
                 grace: float | None = None, call_timeout: float = 3.0, poll_interval: float = 0.2,
                 verifier_type: type[ExactStellarVerifier] = ExactStellarVerifier,
                 settler_type: type[Settler] = Settler, replays: ReplayCache | None = None) -> Settler:
    """The facilitator's composition root (tests substitute a part here, never inside the parts)."""
    if not 1 <= len(rpc_urls) <= 2:
        raise ConfigurationError("give one or two RPC URLs")
    if not 0.05 <= ledger_seconds <= 60:
        raise ConfigurationError("ledger seconds must be within 0.05..60")
    breakers = CircuitBreakerManager(CircuitBreakerConfig(failure_threshold=5, success_threshold=1, timeout=5.0,
                                                          monitoring_period=30.0, volume_threshold=5,
                                                          half_open_max_calls=1))
    verifier = verifier_type(
        RpcPool(rpc_urls, breakers, call_timeout=call_timeout), replays or ReplayCache(ttl=600.0),
        network=caip2_network(passphrase, network), passphrase=passphrase,
        facilitator=frozenset(k.public_key for k in signers), ledger_seconds=ledger_seconds, max_fee_stroops=max_fee,
    )
    return settler_type(verifier, SequencePool(signers),
                        tx_timeout=max(1.0, 2 * ledger_seconds + 4.0 if tx_timeout is None else tx_timeout),
                        grace=2 * ledger_seconds + 2.0 if grace is None else grace, poll_interval=poll_interval)


def build_settler(args: argparse.Namespace) -> Settler:
    if args.host != "localhost" and not args.host.startswith("127."):
        raise ConfigurationError("--host must be a loopback address")
    return make_settler(args.rpc_url, load_signers(args.accounts_file), args.network_passphrase, network=args.network,
                        ledger_seconds=args.ledger_seconds, max_fee=args.max_fee, tx_timeout=args.tx_timeout,
                        grace=args.grace, call_timeout=args.call_timeout, poll_interval=args.poll_interval)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        server = ServiceServer(create_facilitator_app(build_settler(args)), args.host, args.port)
    except (ConfigurationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return server.run_until_signal()
