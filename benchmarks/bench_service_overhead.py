"""Cost of the service's hardening layer: the same endpoints with every component in the path versus a
bare Starlette route doing only the I/O of the request (parse, answer).

    .venv/bin/python -m benchmarks service_overhead [-- --requests 400]

Both apps are called in-process through httpx's ASGI transport (no sockets, so HTTP parsing and the
network do not hide the difference); the hardened app talks to a real offline ledger over loopback
HTTP where its endpoint needs the ledger (x402 paid requests read the payer's balance, decisions read
the agent's balance); the ledger runs in its own process (`python -m harness.ledger`), as in a run.
Requests are sequential; signed payloads are built before timing. Reported per
endpoint: median and p95 microseconds per request, and hardened/bare as a ratio.
Hardened = rate limiter (limits raised so nothing is refused) + validation + crypto checks + logging
+ metrics + breaker/retry/failover client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from stellar_sdk import Keypair

from benchmarks._common import print_table, ratio
from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.ledger.genesis import generated_keypair
from reference_impl.input_validator import sign_channel_state
from reference_impl.service.app import create_app
from reference_impl.service.settings import ServiceAccounts, ServiceSettings

SEED = 5
REPO = Path(__file__).resolve().parents[1]
HIGH_LIMITS = json.dumps({name: {"maxRequests": 10_000_000, "windowMs": 60_000}
                          for name in ("resources", "channels", "settlements", "decisions", "escrow", "lookups")})


def bare_app() -> Starlette:
    """The floor: the same routes, parsing the request and answering, with no component."""
    channels: dict[str, Any] = {}

    async def resource(request: Request) -> JSONResponse:
        header = request.headers.get("x-payment")
        if header is None:
            return JSONResponse({"x402Version": 1, "error": "payment_required", "accepts": []}, 402)
        return JSONResponse({"resource": request.path_params["name"], "content": "paid"})

    async def channel(request: Request) -> JSONResponse:
        state = await request.json()
        channels[request.path_params["id"]] = state
        return JSONResponse({"channelId": state["channelId"], "sequence": state["sequence"], "accepted": True})

    async def decisions(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"decisions": [{"id": o["id"], "action": "accept"} for o in body["opportunities"]]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/resources/{name}", resource), Route("/channels/{id}/updates", channel,
                                                                         methods=["POST"]),
                             Route("/agent/decisions", decisions, methods=["POST"]), Route("/health", health)])


Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def timed(client: httpx.AsyncClient, call: Call, n: int, expect: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        response = await call(client, i)
        samples.append(time.perf_counter() - started)
        if response.status_code != expect:
            raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
    return samples


def channel_states(a: Keypair, b: Keypair, n: int) -> list[dict[str, Any]]:
    states = []
    for seq in range(1, n + 1):
        state = {"channelId": "bench", "sequence": seq, "participants": [a.public_key, b.public_key],
                 "balances": {a.public_key: seq, b.public_key: 10 * n - seq}, "total": 10 * n}
        states.append(sign_channel_state(sign_channel_state(state, a), b))
    return states


async def paid_headers(client: httpx.AsyncClient, ledger_url: str, payers: list[Keypair], n: int) -> list[str]:
    """One paid header per request, payers in rotation (each stays within the ledger's sequence-gap queue)."""
    from tests.integration.test_service_support import x402_header  # the tests' real client-side builder

    seqs = {p.public_key: int(httpx.get(f"{ledger_url}/accounts/{p.public_key}").json()["sequence"]) for p in payers}
    headers = []
    for i in range(n):
        payer = payers[i % len(payers)]
        seqs[payer.public_key] += 1
        req = (await client.get("/resources/bench", headers={"X-API-Key": "bench"})).json()["accepts"][0]
        headers.append(x402_header(req, payer, seqs[payer.public_key]))
    return headers


async def run(n: int, ledger_urls: list[str], keys: list[Keypair]) -> list[tuple[str, list[float], list[float]]]:
    settings = ServiceSettings(accounts=ServiceAccounts((keys[0],), keys[1].public_key, keys[2]),
                               horizon_primary=ledger_urls[0], horizon_secondary=ledger_urls[1],
                               network_passphrase=OFFLINE_PASSPHRASE, log_console=False,
                               environ={"SRH__SECURITY__RATE_LIMIT__ENDPOINTS": HIGH_LIMITS})
    hardened = create_app(settings)
    a, b = Keypair.random(), Keypair.random()
    states = channel_states(a, b, n)
    me, other = keys[0].public_key, keys[3].public_key
    decision = {"agent_did": "did:web:bench.example.com", "opportunities": [
        {"id": "o1", "type": "loan", "terms": {"lender": me, "borrower": other, "principal": "10",
                                               "interestRate": 0.05, "durationSeconds": 86400}}]}
    results = []
    transport_h, transport_b = httpx.ASGITransport(app=hardened), httpx.ASGITransport(app=bare_app())
    async with httpx.AsyncClient(transport=transport_h, base_url="http://bench") as hc, \
            httpx.AsyncClient(transport=transport_b, base_url="http://bench") as bc:
        headers = await paid_headers(hc, ledger_urls[0], keys[4:], n)
        cases: list[tuple[str, Call, int, int]] = [
            ("GET /health", lambda c, i: c.get("/health"), 200, 200),
            ("x402 challenge (402)", lambda c, i: c.get("/resources/bench", headers={"X-API-Key": "k"}), 402, 402),
            ("x402 paid request", lambda c, i: c.get("/resources/bench", headers={"X-PAYMENT": headers[i],
                                                                                    "X-API-Key": "k"}), 200, 200),
            ("channel update", lambda c, i: c.post("/channels/bench/updates", json=states[i]), 200, 200),
            ("agent decision", lambda c, i: c.post("/agent/decisions", json=decision), 200, 200),
        ]
        for name, call, expect_h, expect_b in cases:
            await timed(bc, call, min(20, n), expect_b)  # warm-up of the bare route
            bare = await timed(bc, call, n, expect_b)
            hard = await timed(hc, call, n, expect_h)
            results.append((name, bare, hard))
        await hardened.state.components.aclose()
    return results


def p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and app (default 400)")
    args = parser.parse_args(argv)
    n = max(20, min(args.requests, 5000))
    n_keys = 4 + n // 8 + 1
    keys = [generated_keypair(SEED, i) for i in range(n_keys)]
    cmd = [sys.executable, "-m", "harness.ledger", "--port", "0", "--port", "0", "--close-interval", "0.5",
           "--seed", str(SEED), "--generate-accounts", str(n_keys)]
    ledger = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert ledger.stdout is not None
        urls = [ledger.stdout.readline().split()[1] for _ in range(2)]
        results = asyncio.run(run(n, urls, keys))
    finally:
        ledger.terminate()
        ledger.wait(15)
    rows = []
    for name, bare, hard in results:
        b, h = statistics.median(bare), statistics.median(hard)
        rows.append((name, f"{b * 1e6:,.0f}", f"{h * 1e6:,.0f}", f"{p95(hard) * 1e6:,.0f}", ratio(h, b)))
    print_table(f"Service hardening overhead ({n} sequential requests per row, in-process ASGI)", rows,
                ("endpoint", "bare median us", "hardened median us", "hardened p95 us", "hardened/bare"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
