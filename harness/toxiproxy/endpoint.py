"""One socket of a proxied connection, as an asyncio Protocol.

It feeds the link that reads from it (buffering anything that arrives before that link exists) and
paces the link that writes to it through the transport's flow-control callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from harness.toxiproxy.link import Link


class Endpoint(asyncio.Protocol):
    """One socket of a proxied connection: feeds the link that reads it, paces the link writing it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader: Link | None = None
        self.writer: Link | None = None
        self.paused = False
        self.lost = False
        self._writable: asyncio.Future[None] | None = None
        self.on_made: Callable[[Endpoint], None] | None = None
        self._early: list[bytes] = []  # bytes that arrived before a link was attached
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.reader is not None:
            self.reader.feed(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.feed_eof()
        else:
            self._early_eof = True
        return True  # keep the socket: the link closes it once the other direction is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.reader is not None:
            self.reader.feed_eof()
        else:
            self._early_eof = True
        self._wake()

    def attach_reader(self, link: Link) -> None:
        """Start feeding `link`, first with anything that arrived before it existed."""
        self.reader = link
        early, self._early = self._early, []
        for data in early:
            link.feed(data)
        if self._early_eof:
            link.feed_eof()

    def pause_writing(self) -> None:
        self.paused = True
        if self.writer is not None:
            self.writer.pause_source()

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()
        if self.writer is not None:
            self.writer.resume_source()

    def _wake(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    async def writable(self) -> None:
        while self.paused and not self.lost:
            self._writable = asyncio.get_running_loop().create_future()
            await self._writable

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
