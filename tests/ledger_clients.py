"""Helpers for tests that talk to a running offline network over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from stellar_sdk import Keypair

from harness.ledger.config import LedgerConfig
from harness.ledger.http_api import LedgerServer


@contextmanager
def ledger_network(close_interval: float, submit_timeout: float = 5.0) -> Iterator[tuple[LedgerServer, str]]:
    """An offline network on a free loopback port, for a module's fixture: (the server, its URL)."""
    server = LedgerServer(LedgerConfig(close_interval=close_interval, submit_timeout=submit_timeout))
    with server.run_in_thread() as urls:
        yield server, urls[0]


def funded(url: str) -> Keypair:
    """A new random account, created with 10,000 XLM by the network's friendbot."""
    kp = Keypair.random()
    response = httpx.get(url + "/friendbot", params={"addr": kp.public_key}, timeout=10)
    assert response.status_code == 200 and response.json()["successful"] is True, response.text[:300]
    return kp
