"""`python -m scenarios.join --master-host H --master-port P --into DIR`: fetch a run from its Locust master.

Run by `harness worker` before it starts the Locust worker: asks the master for the run over Locust's
own messaging (a temporary client, as Locust's own `--locustfile -` download does), opens the sealed
answer with the join token from `$HARNESS_JOIN_TOKEN` and writes it into DIR, the worker's private
folder (0700, files 0600; `scenarios/wire.py`). Exit 0 once written; 1 with a message when the master
does not answer within the time limit or the answer is not sealed with this token. A separate process
because `import locust` monkey-patches the standard library (never in the harness process).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import uuid
from pathlib import Path

import gevent
from locust.rpc import Message, zmqrpc

from scenarios.wire import BUNDLE_MSG, BUNDLE_REQUEST_MSG, TOKEN_ENV, Sealer, SealError, write_bundle

ASK_EVERY_S = 1.0


def fetch(host: str, port: int, sealer: Sealer, limit_s: float) -> dict:
    """The run's bundle from the master at host:port; TimeoutError if it does not answer within `limit_s`."""
    client_id = f"{socket.gethostname()}_harness_join_{uuid.uuid4().hex}"
    client = zmqrpc.Client(host, port, client_id)
    asking = gevent.spawn(_ask, client, client_id)
    try:
        with gevent.Timeout(limit_s, TimeoutError(f"no answer from the Locust master at {host}:{port} "
                                                   f"within {limit_s:g}s")):
            while True:
                msg = client.recv()
                if msg.type == BUNDLE_MSG:
                    return sealer.open(msg.data)
    finally:
        asking.kill()
        client.close()


def _ask(client: zmqrpc.Client, client_id: str) -> None:
    while True:  # ends when `fetch` kills it (answer, time limit or error)
        client.send(Message(BUNDLE_REQUEST_MSG, None, client_id))
        gevent.sleep(ASK_EVERY_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.join")
    parser.add_argument("--master-host", required=True)
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--into", type=Path, required=True)
    parser.add_argument("--limit-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"harness worker: no join token (${TOKEN_ENV})", file=sys.stderr)
        return 1
    try:
        bundle = fetch(args.master_host, args.master_port, Sealer(token), args.limit_s)
        write_bundle(bundle, args.into)
    except (TimeoutError, SealError, OSError, KeyError) as exc:
        print(f"harness worker: cannot fetch the run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
