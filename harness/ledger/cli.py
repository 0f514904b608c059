"""`harness ledger`: run the offline Stellar network until SIGTERM/SIGINT.

Prints one `LISTENING http://127.0.0.1:<port>` line per listener (index order) once all accept
connections; on a signal it stops, writes the snapshot/history files if asked, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig, profile_close_interval
from harness.ledger.errors import LedgerError
from harness.ledger.genesis import load_seed_accounts
from harness.ledger.http_api import LedgerServer
from harness.ledger.ledger import Ledger
from harness.ledger.snapshot import load_snapshot, save_snapshot
from harness.signals import stop_on_signals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only)")
    parser.add_argument("--port", type=int, action="append", dest="port_list", metavar="PORT",
                        help="a listener port (0 = free port); repeat for several listeners")
    parser.add_argument("--ports", type=int, default=None, metavar="N", help="N listeners on free ports")
    parser.add_argument("--profile", choices=("development", "testnet", "mainnet"), default="development",
                        help="sets the default close interval (1 s development, 5 s testnet/mainnet)")
    parser.add_argument("--close-interval", type=float, default=None, help="seconds between ledger closes")
    parser.add_argument("--passphrase", default=OFFLINE_PASSPHRASE,
                        help="network passphrase of an isolated network (default: the offline network's; "
                             "the real networks' passphrases are refused)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated accounts and ledger hashes")
    parser.add_argument("--seed-accounts", type=Path, default=None,
                        help='JSON list of {"account_id": "G...", "balance": "10000.0000000"}')
    parser.add_argument("--generate-accounts", type=int, default=0, metavar="K",
                        help="create K funded accounts whose keys derive from --seed")
    parser.add_argument("--submit-timeout", type=float, default=30.0, help="seconds before a sync submit gets 504")
    parser.add_argument("--max-pending", type=int, default=10_000, help="queue size before TRY_AGAIN_LATER")
    parser.add_argument("--snapshot-in", type=Path, default=None, help="start from this snapshot")
    parser.add_argument("--snapshot-out", type=Path, default=None, help="write a snapshot here on shutdown")
    parser.add_argument("--history-out", type=Path, default=None, help="write history JSON lines on shutdown")


def build_config(args: argparse.Namespace) -> LedgerConfig:
    """LedgerConfig from parsed arguments; raises LedgerConfigError on bad values."""
    ports: tuple[int, ...] = tuple(args.port_list or ())
    if args.ports is not None:
        ports = ports + (0,) * max(0, args.ports - len(ports))
    close_interval = args.close_interval if args.close_interval is not None else profile_close_interval(args.profile)
    genesis = load_seed_accounts(args.seed_accounts) if args.seed_accounts else ()
    return LedgerConfig(passphrase=args.passphrase, close_interval=close_interval, submit_timeout=args.submit_timeout,
                        max_pending=args.max_pending, seed=args.seed, genesis_accounts=genesis,
                        generate_accounts=args.generate_accounts, host=args.host, ports=ports or (0,))


async def serve(config: LedgerConfig, args: argparse.Namespace) -> None:
    ledger = Ledger.restore(load_snapshot(args.snapshot_in), config) if args.snapshot_in else Ledger(config)
    server = LedgerServer(config, ledger=ledger)
    stop = asyncio.Event()
    restore = stop_on_signals(asyncio.get_running_loop(), stop)
    urls = await server.start()
    try:
        for url in urls:
            print(f"LISTENING {url}", flush=True)
        await stop.wait()
    finally:
        restore()
        await server.stop()
        if args.snapshot_out:
            save_snapshot(ledger, args.snapshot_out)
        if args.history_out:
            ledger.write_history(args.history_out)


def main(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
        asyncio.run(serve(config, args))
    except LedgerError as exc:
        print(f"harness ledger: {exc}", file=sys.stderr)
        return 2
    return 0
