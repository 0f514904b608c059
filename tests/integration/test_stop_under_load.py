"""Every server the harness starts stops on its first SIGTERM while under full load, exit 0.

(Seen before the fix: `harness ledger` lost a SIGTERM under sync-submission load and served on.)
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from stellar_sdk import Keypair

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
CLIENTS = 150


async def _load_then_sigterm(proc: subprocess.Popen[str], requests: list[tuple[str, str]]) -> float:
    """Run CLIENTS looping clients over `requests` (method, url) for 2 s, SIGTERM, time the exit."""
    stop = asyncio.Event()
    sent = [0]

    async def client(session: aiohttp.ClientSession, offset: int) -> None:
        i = offset
        while not stop.is_set():
            method, url = requests[i % len(requests)]
            i += 1
            try:
                async with session.request(method, url.replace("{addr}", Keypair.random().public_key)) as resp:
                    await resp.read()
                    sent[0] += 1
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        tasks = [asyncio.create_task(client(session, i)) for i in range(CLIENTS)]
        await asyncio.sleep(2.0)
        assert sent[0] > 50, "the load never reached the server"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() - start < 20:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return time.monotonic() - start


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("LISTENING "), line
    return proc, line.split()[1]


@pytest.mark.parametrize("server", ["ledger", "toxiproxy"])
def test_first_sigterm_under_load_stops_the_server(server: str) -> None:
    if server == "ledger":
        proc, url = _start(["harness.ledger", "--port", "0", "--close-interval", "0.2"])
        requests = [("POST", url + "/friendbot?addr={addr}"), ("GET", url + "/ledgers?order=desc&limit=1"),
                    ("GET", url + "/fee_stats")]
    else:
        proc, url = _start(["harness.toxiproxy", "--port", "0"])
        requests = [("GET", url + "/proxies"), ("GET", url + "/version")]
    try:
        elapsed = asyncio.run(_load_then_sigterm(proc, requests))
        assert proc.poll() == 0, f"{server} still running {elapsed:.1f}s after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
