"""Server-Sent Events as Horizon streams them: framing, the per-request stream loop, and bounded resources.

Framing and lifecycle follow Horizon `internal/render/sse/main.go` (`WritePreamble`: headers and the
`retry: 1000` / `event: open` / `data: "hello"` message; `WriteEvent`: `retry:`, `id:`, `event:`, `data:`
lines; `goodbyeEvent`: `retry: 10` / `event: close` / `data: "byebye"`; errors as `event: error`),
`stream.go` (a problem before the preamble is a normal HTTP problem) and `stream_handler.go`
(`ServeStream`: at most `limit` events per connection, then goodbye; otherwise wait for the next ledger;
the request's deadline ends it with goodbye). Horizon sends no keep-alive comments: its streams end after
`--connection-timeout` (55 s by default) and clients reconnect with `Last-Event-ID`; so do these.

Bounds: at most `max_streams` open streams (more get 503 server_over_capacity); one page of events in
memory per stream and at most `send_buffer` bytes in its socket's kernel buffer; a write that does not
drain within `write_timeout` closes the stream; `close()` ends every stream with goodbye; streams only
read the ledger, never hold up a close.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from harness.ledger.paging import ProblemError

Event = tuple[str | None, Any]  # (id, data)
Fetch = Callable[[str], Sequence[Event]]  # cursor -> the next events (raises ProblemError)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Bounds of the streams one server holds open."""

    max_streams: int = 256
    max_duration: float = 55.0  # Horizon's --connection-timeout default
    write_timeout: float = 10.0
    poll_interval: float = 0.25  # how often a waiting stream looks for a ledger closed by another thread
    send_buffer: int = 256 * 1024  # SO_SNDBUF of a stream's socket: the kernel may not buffer more for it

    def __post_init__(self) -> None:
        if min(self.max_streams, self.send_buffer) < 1 or \
                min(self.max_duration, self.write_timeout, self.poll_interval) <= 0:
            raise ValueError("stream limits must be positive")


def sse_frame(data: Any, event_id: str | None = None, event: str | None = None, retry: int | None = None) -> bytes:
    """One message in Horizon's order (sse.WriteEvent): retry, id, event, then the JSON data line."""
    lines = [f"retry: {retry}"] if retry else []
    if event_id:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


def sse_error(message: str) -> bytes:
    """An `event: error` message (its data is the error text, not JSON)."""
    return f"event: error\ndata: {message}\n\n".encode()


HELLO = sse_frame("hello", event="open", retry=1000)
GOODBYE = sse_frame("byebye", event="close", retry=10)
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
               "Connection": "keep-alive", "Access-Control-Allow-Origin": "*"}


class _StreamEnded(Exception):
    """The client went away or stopped reading."""


class StreamHub:
    """Open streams of one server: admission, wake-up on new ledgers, and shutdown."""

    def __init__(self, latest: Callable[[], int], limits: StreamLimits | None = None) -> None:
        self.limits = limits or StreamLimits()
        self._latest = latest
        self.active = 0
        self._closing = False
        self._changed: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None

    def notify(self) -> None:
        """A ledger closed: wake every waiting stream (call from the event loop)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def close(self, timeout: float = 5.0) -> None:
        """End every stream with goodbye and wait (bounded) until they have all returned."""
        self._closing = True
        self.notify()
        if self.active and self._idle is not None:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                pass

    async def serve(self, request: web.Request, cursor: str, limit: int, fetch: Fetch) -> web.StreamResponse:
        """Stream events from `cursor` on; raises ProblemError (answered as HTTP) before the preamble."""
        if self._closing or self.active >= self.limits.max_streams:
            raise ProblemError("server_over_capacity", detail="Too many open streams; try again later.")
        if self._changed is None:
            self._changed, self._idle = asyncio.Event(), asyncio.Event()
        events = fetch(cursor)  # a problem here is still an ordinary HTTP answer
        self.active += 1
        assert self._idle is not None
        self._idle.clear()
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer)
        try:
            await response.prepare(request)
            await self._write(response, HELLO)
            await self._loop(request, response, cursor, limit, events, fetch)
        except (_StreamEnded, ConnectionError):
            if request.transport is not None:
                request.transport.abort()  # drop what a client that stopped reading left buffered
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()
        return response

    async def _loop(self, request: web.Request, response: web.StreamResponse, cursor: str, limit: int,
                    events: Sequence[Event], fetch: Fetch) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.max_duration
        current = self._latest()
        while True:
            for event_id, data in events[:limit]:
                await self._write(response, sse_frame(data, event_id))
            limit -= min(limit, len(events))
            if events and events[-1][0]:
                cursor = events[-1][0]
            if limit <= 0:
                break
            newer = await self._next_ledger(request, current, deadline)
            if newer is None:
                break
            current = newer
            try:
                events = fetch(cursor)
            except ProblemError as exc:
                await self._write(response, sse_error(f"problem: {exc.slug}. full details: {exc.detail or ''}"))
                return
        await self._write(response, GOODBYE)

    async def _next_ledger(self, request: web.Request, current: int, deadline: float) -> int | None:
        """The next ledger after `current`, or None at the deadline, on shutdown or when the client left."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            latest = self._latest()
            if latest > current:
                return latest
            transport = request.transport
            if transport is None or transport.is_closing():
                raise _StreamEnded
            left = deadline - loop.time()
            if left <= 0:
                return None
            assert self._changed is not None
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, self.limits.poll_interval))
            except TimeoutError:
                pass
        return None

    async def _write(self, response: web.StreamResponse, frame: bytes) -> None:
        try:
            await asyncio.wait_for(response.write(frame), self.limits.write_timeout)
        except TimeoutError:
            raise _StreamEnded from None
