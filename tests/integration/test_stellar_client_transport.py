"""The service's Horizon HTTP client never resends a request by itself (every retry is the RetryHandler's)."""

from __future__ import annotations

import asyncio

import pytest
from stellar_sdk.client.aiohttp_client import AiohttpClient

from reference_impl.service.stellar_client import RetryFreeAiohttpClient


async def _count_requests_to_a_dropping_server(client_cls: type[AiohttpClient]) -> int:
    """GET a server that reads each request and closes the connection without answering."""
    seen = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        if await reader.readuntil(b"\r\n\r\n"):
            seen += 1
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = client_cls(request_timeout=5)
    try:
        with pytest.raises(Exception):  # noqa: B017 - stellar-sdk wraps the disconnect in its own error
            await client.get(f"http://127.0.0.1:{port}/accounts/x")
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    return seen


@pytest.mark.timeout(30)
def test_plain_aiohttp_client_resends_but_the_service_client_does_not() -> None:
    # aiohttp resends an idempotent request once when the connection drops (RFC 9112 §9.3.1.1)
    assert asyncio.run(_count_requests_to_a_dropping_server(AiohttpClient)) == 2
    assert asyncio.run(_count_requests_to_a_dropping_server(RetryFreeAiohttpClient)) == 1
