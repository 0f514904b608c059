"""Streams are bounded: a cap on open streams, a lifetime (Horizon's connection timeout) ending in "byebye",
goodbye for every stream when the server stops, and a client that stops reading is dropped.

Sources: Horizon `internal/render/sse/stream_handler.go` (ServeStream: ctx.Done -> goodbye),
`internal/httpx/middleware.go` (timeoutMiddleware: the connection timeout applies to streams),
`internal/flags.go` (`--connection-timeout` 55 s "after which ... stream will be closed").
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from stellar_sdk import Account, Asset, TransactionBuilder

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.http_api import LedgerServer
from harness.ledger.streaming import StreamLimits

pytestmark = pytest.mark.timeout(60)
SEED = 17
SSE = {"Accept": "text/event-stream"}


def make_server(**limits: float) -> LedgerServer:
    return LedgerServer(LedgerConfig(close_interval=0.05, generate_accounts=2, seed=SEED),
                        streams=StreamLimits(**limits))  # type: ignore[arg-type]


@pytest.fixture()
def small() -> Iterator[tuple[LedgerServer, str]]:
    server = make_server(max_streams=2, max_duration=30.0)
    with server.run_in_thread() as urls:
        yield server, urls[0]


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_open_streams_are_capped_and_a_refused_one_gets_a_problem(small: tuple[LedgerServer, str]) -> None:
    server, url = small
    with httpx.Client(timeout=10) as client:
        streams = [client.stream("GET", url + "/ledgers", params={"cursor": "now"}, headers=SSE) for _ in range(2)]
        opened = [s.__enter__() for s in streams]
        try:
            assert all(r.status_code == 200 for r in opened)
            wait_for(lambda: server.streams.active == 2)
            refused = httpx.get(url + "/ledgers", params={"cursor": "now"}, headers=SSE, timeout=10)
            assert refused.status_code == 503
            assert refused.json()["type"] == "https://stellar.org/horizon-errors/server_over_capacity"
            assert httpx.get(url + "/ledgers", timeout=10).status_code == 200  # pages are not streams
        finally:
            for s in streams:
                s.__exit__(None, None, None)
    wait_for(lambda: server.streams.active == 0)


def test_a_problem_before_the_first_event_is_an_http_answer(small: tuple[LedgerServer, str]) -> None:
    """render/sse/stream.go Err: not initialised yet -> problem.Render, no event stream."""
    server, url = small
    unknown = generated_keypair(SEED + 1, 0).public_key
    response = httpx.get(f"{url}/accounts/{unknown}/payments", params={"cursor": "now"}, headers=SSE, timeout=10)
    assert response.status_code == 404 and response.json()["type"].endswith("/not_found")
    assert server.streams.active == 0


def test_stream_lifetime_ends_with_byebye() -> None:
    server = make_server(max_duration=0.4)
    with server.run_in_thread() as urls:
        started = time.monotonic()
        body = httpx.get(urls[0] + "/payments", params={"cursor": "now"}, headers=SSE, timeout=10).text
        assert time.monotonic() - started < 5
        assert body.startswith('retry: 1000\nevent: open\ndata: "hello"\n\n')
        assert body.endswith('retry: 10\nevent: close\ndata: "byebye"\n\n')


def test_stopping_the_server_says_byebye_to_every_open_stream() -> None:
    server = make_server(max_duration=30.0)
    chunks: list[bytes] = []
    with server.run_in_thread() as urls:
        client = httpx.Client(timeout=10)
        stream = client.stream("GET", urls[0] + "/effects", params={"cursor": "now"}, headers=SSE)
        response = stream.__enter__()
        wait_for(lambda: server.streams.active == 1)
        reader = response.iter_bytes()
        chunks.append(next(reader))
    # the `with` has stopped the server; what was still to come must be the goodbye, then the end
    chunks.extend(reader)
    stream.__exit__(None, None, None)
    client.close()
    assert b"".join(chunks).endswith(b'event: close\ndata: "byebye"\n\n')
    assert server.streams.active == 0


def test_a_client_that_stops_reading_is_dropped_not_buffered() -> None:
    """send_buffer + write_timeout: a stream whose writes stop draining is closed; others are served."""
    server = LedgerServer(LedgerConfig(close_interval=0.05, generate_accounts=145, seed=SEED),
                          streams=StreamLimits(write_timeout=0.3, max_duration=30.0, send_buffer=16 * 1024))
    payee = generated_keypair(SEED, 0).public_key
    for n in range(1, 145):  # 144 transactions of ~2 kB JSON each (one per account, as core queues them)
        payer = generated_keypair(SEED, n)
        env = TransactionBuilder(Account(payer.public_key, server.ledger.account(payer.public_key).seq_num),
                                 server.ledger.passphrase, 100) \
            .append_payment_op(payee, Asset.native(), "1").set_timeout(600).build()
        env.sign(payer)
        server.ledger.submit(env.to_xdr())
    assert len(server.ledger.close_ledger().applied) == 144
    with server.run_in_thread() as urls:
        port = int(urls[0].rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /transactions?limit=200 HTTP/1.1\r\nHost: x\r\n"
                     b"Accept: text/event-stream\r\n\r\n")
        try:
            wait_for(lambda: server.streams.active == 1)
            wait_for(lambda: server.streams.active == 0, timeout=15)  # never read a byte: dropped
            assert httpx.get(urls[0] + "/ledgers", timeout=10).status_code == 200
        finally:
            sock.close()


def test_streams_never_hold_up_ledger_closes() -> None:
    """Closing a ledger while streams wait: closes go on at their pace and every stream wakes for each."""
    server = make_server(max_duration=30.0)

    async def scenario() -> tuple[int, int]:
        await server.start()
        try:
            first = server.ledger.latest().sequence
            async with httpx.AsyncClient(timeout=10) as client:
                async with client.stream("GET", server.urls[0] + "/ledgers", params={"cursor": "now", "limit": "3"},
                                         headers=SSE) as response:
                    body = b"".join([chunk async for chunk in response.aiter_bytes()])
            return first, body.count(b"\nid: ") + body.startswith(b"id: ")
        finally:
            await server.stop()

    first, events = asyncio.run(scenario())
    assert events == 3 and server.ledger.latest().sequence >= first + 3


def test_a_server_started_again_after_stop_streams_again() -> None:
    server = make_server(max_duration=0.3)

    async def twice() -> list[int]:
        statuses = []
        for _ in range(2):
            await server.start()
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(server.urls[-1] + "/ledgers", params={"cursor": "now"}, headers=SSE)
                    statuses.append(response.status_code)
                    assert response.text.endswith('data: "byebye"\n\n')
            finally:
                await server.stop()
        return statuses

    assert asyncio.run(twice()) == [200, 200]
