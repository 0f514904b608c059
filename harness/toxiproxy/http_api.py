"""The Toxiproxy 2.12 HTTP API on aiohttp.web, answering as Toxiproxy's gorilla/mux + net/http stack does.

Compatibility (Toxiproxy v2.12.0 `api.go`, `Routes`): routed responses carry `X-Toxiproxy-Request-Id`;
a `User-Agent` starting with `Mozilla/` gets 403 `User agent not allowed`; an unknown path gets 404
`404 page not found` (text, no request id); a known path with another method gets 405 with an empty body
(no request id); errors are `{"error","status"}` + newline as `text/plain; charset=utf-8` (`apiError` ends in
`http.Error`). Bodies over 2048 bytes are sent chunked, as net/http does when a handler's output
overflows its 2048-byte buffer before the handler returns (Toxiproxy's TimeoutHandler writes it in one go).

Safety: request heads are limited in size (line, field, header count) and must arrive within
`read_timeout_s` (aiohttp's keep-alive timer also closes a connection whose head never completes); bodies
are limited to `MAX_BODY` bytes and must arrive within `read_timeout_s`, and are read before the
collection lock is taken, so a slow client cannot stall other API calls.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import HttpVersion11, web

from harness.toxiproxy.api_models import ApiError, encode
from harness.toxiproxy.arrivals import DEFAULT_READ_LIMIT, MAX_READ_LIMIT

if TYPE_CHECKING:
    from harness.toxiproxy.server import ToxiproxyServer

MAX_BODY = 1024 * 1024
MAX_LINE = 8190
MAX_HEADERS = 100
READ_TIMEOUT_S = 15.0  # Toxiproxy's http.Server ReadTimeout
CHUNKING_THRESHOLD = 2048  # net/http's bufferBeforeChunkingSize
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"

NO_REQUEST_ID = web.ResponseKey("no_request_id", bool)  # unrouted answers (404, 405) carry no request id
Handler = Callable[["ToxiproxyServer", web.Request, bytes], Awaitable[web.Response]]


def text_response(status: int, text: str, request_id: bool = True) -> web.Response:
    """A text body as Go's http.Error writes it (nosniff, trailing newline already in `text`)."""
    response = web.Response(status=status, body=text.encode(), headers={
        "Content-Type": TEXT_TYPE, "X-Content-Type-Options": "nosniff"})
    if not request_id:
        response[NO_REQUEST_ID] = True
    return response


def error_response(exc: ApiError) -> web.Response:
    return text_response(exc.status, exc.body().decode())


def json_response(status: int, value: Any) -> web.Response:
    return web.Response(status=status, body=encode(value), headers={"Content-Type": JSON_TYPE})


def empty_response(status: int) -> web.Response:
    return web.Response(status=status)


class BodyReadError(ApiError):
    """The body did not arrive in time or was too large: answered, then the connection is closed."""


async def read_body(request: web.Request, timeout_s: float) -> bytes:
    """The whole body within `timeout_s` and `MAX_BODY` bytes, else BodyReadError."""
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise BodyReadError("bad request body: read: i/o timeout", 400) from None
    except web.HTTPRequestEntityTooLarge:
        raise BodyReadError("bad request body: http: request body too large", 413) from None


def routed(server: ToxiproxyServer, handler: Handler, with_body: bool) -> Callable[[web.Request], Awaitable[Any]]:
    """Read the body (outside the lock), then run `handler` under the collection lock."""

    async def route(request: web.Request) -> web.StreamResponse:
        body = await read_body(request, server.read_timeout_s) if with_body else b""
        async with server.lock:
            return await handler(server, request, body)

    return route


@web.middleware
async def compatibility(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
    """404/405 as gorilla/mux, the browser block, typed errors and chunking as Toxiproxy's stack does."""
    route_error = request.match_info.http_exception
    if isinstance(route_error, web.HTTPMethodNotAllowed):
        response = empty_response(405)
        response[NO_REQUEST_ID] = True
        return response
    if route_error is not None:
        return text_response(404, "404 page not found\n", request_id=False)
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return text_response(403, "User agent not allowed\n")
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc)
        if isinstance(exc, BodyReadError):
            response.force_close()
    except Exception as exc:  # a bug must not kill the API connection
        response = error_response(ApiError(f"{type(exc).__name__}: {exc}", 500))
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes) and len(body) > CHUNKING_THRESHOLD and request.version >= HttpVersion11:
        response.enable_chunked_encoding()
    return response


async def finish_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: Go sends no Server header; routed responses get a request id."""
    response.headers.popall("Server", None)
    if not response.get(NO_REQUEST_ID):
        response.headers["X-Toxiproxy-Request-Id"] = uuid.uuid4().hex[:20]


def query_int(request: web.Request, key: str, default: int, maximum: int | None = None) -> int:
    """A non-negative integer query parameter (400 `bad query: ...` otherwise)."""
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or (maximum is not None and int(raw) > maximum):
        bound = f" at most {maximum}" if maximum is not None else ""
        raise ApiError(f"bad query: {key} must be a non-negative integer{bound}", 400)
    return int(raw)


async def arrivals(server: ToxiproxyServer, request: web.Request, _body: bytes) -> web.Response:
    """Extension: `GET /proxies/{proxy}/arrivals?since=N&limit=M` (see harness.toxiproxy.arrivals)."""
    proxy = server.get_proxy(request.match_info["proxy"])
    since = query_int(request, "since", 0)
    limit = query_int(request, "limit", DEFAULT_READ_LIMIT, MAX_READ_LIMIT)
    return json_response(200, proxy.arrivals.read(since, limit))


def build_app(server: ToxiproxyServer, handlers: dict[tuple[str, str], tuple[Handler, bool]]) -> web.Application:
    """The aiohttp application: `handlers` maps (method, path pattern) to (handler, reads a body)."""
    app = web.Application(middlewares=[compatibility], client_max_size=MAX_BODY)
    for (method, path), (handler, with_body) in handlers.items():
        app.router.add_route(method, path, routed(server, handler, with_body))
    app.on_response_prepare.append(finish_headers)
    return app


async def serve(app: web.Application, host: str, port: int, read_timeout_s: float) -> tuple[web.AppRunner, int]:
    """Start the API on host:port; returns the runner (for cleanup) and the bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                           keepalive_timeout=read_timeout_s, max_line_size=MAX_LINE, max_field_size=MAX_LINE,
                           max_headers=MAX_HEADERS, auto_decompress=False, lingering_time=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
