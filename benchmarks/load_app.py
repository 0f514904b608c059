"""The cheap loopback endpoint of `python -m benchmarks load`: a raw ASGI app answering `200 ok` to anything.

Served by uvicorn (httptools, uvloop) in its own process, so what limits the request rate is the load
generator under test, or this one server process, never a framework's routing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

BODY = b"ok"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
