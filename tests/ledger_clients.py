"""Helpers for tests that talk to a running offline network over HTTP."""

from __future__ import annotations

import httpx
from stellar_sdk import Keypair


def funded(url: str) -> Keypair:
    """A new random account, created with 10,000 XLM by the network's friendbot."""
    kp = Keypair.random()
    response = httpx.get(url + "/friendbot", params={"addr": kp.public_key}, timeout=10)
    assert response.status_code == 200 and response.json()["successful"] is True, response.text[:300]
    return kp
