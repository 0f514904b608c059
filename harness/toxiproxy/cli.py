"""`harness toxiproxy`: run the embedded Toxiproxy-compatible server as a process.

Prints `LISTENING http://<host>:<port>` once the API accepts connections, serves until SIGTERM/SIGINT,
then closes every proxy and exits 0. The API and every proxy listen on loopback addresses only, unless
`--allow-remote` is given (exit 2 with the rule otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from harness.signals import stop_on_signals
from harness.toxiproxy.api_models import ApiError, decode_body, parse_populate
from harness.toxiproxy.arrivals import DEFAULT_CAPACITY
from harness.toxiproxy.embedded import cancel_pending_tasks, new_event_loop
from harness.toxiproxy.exposure import RemoteListenError, check_api_host
from harness.toxiproxy.server import ToxiproxyServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1; loopback only "
                                                            "unless --allow-remote)")
    parser.add_argument("--port", type=int, default=8474, help="API port, 0 = free port (default 8474)")
    parser.add_argument("--config", type=Path, help="JSON file of proxies to create at boot (as POST /populate)")
    parser.add_argument("--seed", type=int, help="seed for toxicity draws, jitter and slicer sizes")
    parser.add_argument("--proxy-metrics", action="store_true", help="serve GET /metrics (Prometheus text)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow non-loopback API and proxy listen addresses (the API has no authentication: "
                             "anyone who reaches it can relay to any upstream)")
    parser.add_argument("--arrival-log-cap", type=int, default=DEFAULT_CAPACITY,
                        help=f"records kept per proxy arrival log (default {DEFAULT_CAPACITY})")


async def serve(args: argparse.Namespace) -> int:
    if args.arrival_log_cap < 1:
        print(f"toxiproxy: --arrival-log-cap must be >= 1, got {args.arrival_log_cap}", file=sys.stderr)
        return 2
    try:
        check_api_host(args.host, args.allow_remote)
    except RemoteListenError as exc:
        print(f"toxiproxy: {exc}", file=sys.stderr)
        return 2
    if args.allow_remote:
        print("toxiproxy: --allow-remote: the API is unauthenticated; anyone who can reach it can create "
              "proxies to any upstream", file=sys.stderr)
    server = ToxiproxyServer(seed=args.seed, proxy_metrics=args.proxy_metrics, allow_remote=args.allow_remote,
                             arrival_capacity=args.arrival_log_cap)
    if args.config is not None:
        try:
            await server.populate(parse_populate(decode_body(args.config.read_bytes())))
        except (OSError, ApiError) as exc:
            print(f"toxiproxy: cannot load {args.config}: {exc}", file=sys.stderr)
            await server.close()
            return 2
    port = await server.start(args.host, args.port)
    stop = asyncio.Event()
    restore = stop_on_signals(asyncio.get_running_loop(), stop)
    print(f"LISTENING http://{args.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        restore()
        await server.close()
        await cancel_pending_tasks()
    return 0


def main(args: argparse.Namespace) -> int:
    loop = new_event_loop()
    try:
        return loop.run_until_complete(serve(args))
    finally:
        loop.close()
