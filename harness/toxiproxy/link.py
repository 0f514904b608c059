"""Data plane: one proxied connection = two one-way links, each a chain of toxic stages.

A link reads its source socket (Protocol callbacks, no task switch), and with no toxics writes each read
straight to its destination. With toxics, reads are cut into chunks of at most 32 KiB stamped with their
arrival time and pushed through the direction's chain of `ToxicStub`s (one task each, bounded channels
between them), the last of which writes to the destination. On source EOF or error an EOF marker follows
the data; when it reaches the end, the destination is fully closed, which ends the opposite link too.

Live changes follow Toxiproxy §4.1: a new toxic is appended to every live link; an update restarts the
stage (toxicity redrawn, held data released); a removed stage turns into a passthrough and is spliced
out by its producer once it is idle and empty, so no byte is lost or reordered and the control API never
waits for data to move.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.toxiproxy.endpoint import Endpoint

if TYPE_CHECKING:
    from harness.toxiproxy.toxics import ToxicWrapper

CHUNK_SIZE = 32 * 1024
INTERRUPTED: Any = object()  # recv() result: the stage was interrupted (update, removal)
TIMED_OUT: Any = object()  # recv(timeout) result: nothing arrived in time


class Chunk:
    """Bytes read from the source in one go, with the loop time they arrived at."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Channel:
    """A bounded FIFO between stages (like a buffered Go channel); `None` items mark EOF."""

    __slots__ = ("_items", "_maxsize", "getter", "_putters", "_on_space")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Chunk | None] = deque()
        self._maxsize = maxsize
        self.getter: asyncio.Future[Any] | None = None  # the consumer waiting in recv()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._on_space: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self._maxsize

    def put_nowait(self, item: Chunk | None) -> None:
        """Append even when full (the socket reader pauses itself instead of waiting)."""
        self._items.append(item)
        if self.getter is not None and not self.getter.done():
            self.getter.set_result(None)

    async def put(self, item: Chunk | None) -> None:
        while self.full():
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            await fut
        self.put_nowait(item)

    def notify_when_space(self, callback: Callable[[], None]) -> None:
        self._on_space = callback

    def pop(self) -> Chunk | None:
        item = self._items.popleft()
        if not self.full():
            while self._putters:
                fut = self._putters.popleft()
                if not fut.done():
                    fut.set_result(None)
                    break
            if self._on_space is not None:
                callback, self._on_space = self._on_space, None
                callback()
        return item


class ToxicStub:
    """One toxic's place in one link: input channel, interruptible waits, output to the next stage."""

    def __init__(self, link: Link, wrapper: ToxicWrapper) -> None:
        self.link = link
        self.wrapper = wrapper
        self.channel = Channel(wrapper.toxic.buffer_size)
        self.next: ToxicStub | None = None
        self.state: dict[str, Any] = {}  # per-link toxic state kept across restarts (limit_data count)
        self.rng: random.Random = link.rng
        self.interrupted = False
        self.removed = False
        self.closed = False
        self.idle = False
        self._waiter: asyncio.Future[Any] | None = None
        self.task = asyncio.get_running_loop().create_task(self._run())

    def now(self) -> float:
        return self.link.loop.time()

    async def recv(self, timeout: float | None = None) -> Any:
        """Next chunk, `None` at EOF, INTERRUPTED, or TIMED_OUT when `timeout` seconds pass first."""
        if self.interrupted:
            return INTERRUPTED
        if len(self.channel):
            return self.channel.pop()
        loop = self.link.loop
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiter = fut
        self.channel.getter = fut
        timer = loop.call_later(timeout, _resolve, fut, TIMED_OUT) if timeout is not None else None
        self.idle = True
        try:
            result = await fut
        finally:
            self.idle = False
            self._waiter = None
            self.channel.getter = None
            if timer is not None:
                timer.cancel()
        if result is INTERRUPTED or result is TIMED_OUT:
            return result
        if self.interrupted:
            return INTERRUPTED
        return self.channel.pop() if len(self.channel) else await self.recv(timeout)

    async def sleep(self, seconds: float) -> bool:
        """Sleep; False when interrupted first. `inf` waits for an interrupt only."""
        if self.interrupted:
            return False
        if seconds <= 0:
            return True
        loop = self.link.loop
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiter = fut
        timer = loop.call_later(seconds, _resolve, fut, None) if seconds != float("inf") else None
        try:
            result = await fut
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        return result is not INTERRUPTED

    async def sleep_through(self, seconds: float) -> None:
        """Sleep, ignoring interrupts (reset_peer's countdown)."""
        await asyncio.sleep(max(0.0, seconds))

    async def send(self, chunk: Chunk | None) -> None:
        """Forward to the next live stage, or write to the destination when last."""
        if self.closed:
            return
        self.next = self.link.skip_removed(self.next)
        if self.next is None:
            await self.link.write(chunk)
        else:
            await self.next.channel.put(chunk)

    async def close(self) -> None:
        """End this link's data here: EOF goes on, later input is discarded (Go's stub.Close)."""
        if not self.closed:
            await self.send(None)
            self.closed = True

    def interrupt(self) -> None:
        self.interrupted = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(INTERRUPTED)

    def restart(self) -> None:
        """Apply an update: the running pipe returns and restarts with a fresh toxicity draw."""
        self.interrupt()

    def remove(self) -> None:
        self.removed = True
        self.interrupt()

    async def _run(self) -> None:
        from harness.toxiproxy.toxics import NoopToxic

        while not self.closed:
            self.interrupted = False
            toxic = self.wrapper.toxic
            if self.removed:
                if toxic.closes_on_remove:
                    await self.close()
                    break
                toxic = NoopToxic()
            elif self.rng.random() >= self.wrapper.toxicity:
                toxic = NoopToxic()
            await toxic.pipe(self)
        while True:  # closed: keep draining so producers never block
            if await self.recv() is INTERRUPTED:
                self.interrupted = False


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


class Link:
    """One direction of a connection: source endpoint -> toxic chain -> destination endpoint."""

    def __init__(self, direction: str, source: Endpoint, dest: Endpoint, wrappers: list[ToxicWrapper],
                 rng: random.Random, on_done: Callable[[Link], None]) -> None:
        self.direction = direction
        self.source = source
        self.dest = dest
        self.rng = rng
        self.loop = asyncio.get_running_loop()
        self.received = 0
        self.sent = 0
        self.eof = False
        self.done = False
        self._on_done = on_done
        self.stubs: dict[str, ToxicStub] = {}
        self.head: ToxicStub | None = None
        self.tap: Callable[[bytes], bool] | None = None  # observer of the bytes read; False = detach
        dest.writer = self
        for wrapper in wrappers:
            self.append(wrapper)

    def start(self) -> None:
        """Begin reading the source (after the connection has registered both links)."""
        self.source.attach_reader(self)

    def append(self, wrapper: ToxicWrapper) -> None:
        stub = ToxicStub(self, wrapper)
        if self.head is None:
            self.head = stub
        else:
            node = self.head
            while node.next is not None:
                node = node.next
            node.next = stub
            if not node.removed:
                node.restart()  # Toxiproxy restarts the previous last stage (toxicity redrawn)
        self.stubs[wrapper.name] = stub

    def update(self, name: str) -> None:
        if name in self.stubs:
            self.stubs[name].restart()

    def remove(self, name: str) -> None:
        stub = self.stubs.pop(name, None)
        if stub is None:
            return
        stub.remove()
        node = self.head
        while node is not None and node.next is not stub:
            node = node.next
        if node is not None and not node.removed:
            node.restart()  # as in Toxiproxy, the stage before a removed one restarts

    def skip_removed(self, stub: ToxicStub | None) -> ToxicStub | None:
        """Splice out removed stages that hold nothing; the caller is their only producer."""
        while stub is not None and stub.removed and stub.idle and not len(stub.channel):
            stub.task.cancel()
            stub = stub.next
        return stub

    def feed(self, data: bytes) -> None:
        """Called from the source's data_received; the tap sees the bytes after they are passed on."""
        if self.eof:
            return
        self.received += len(data)
        self.head = self.skip_removed(self.head)
        if self.head is None:
            if not self.done:
                self.sent += len(data)
                assert self.dest.transport is not None
                self.dest.transport.write(data)
        else:
            ts = self.loop.time()
            channel = self.head.channel
            for start in range(0, len(data), CHUNK_SIZE):
                channel.put_nowait(Chunk(data[start:start + CHUNK_SIZE], ts))
            if channel.full():
                self.pause_source()
                channel.notify_when_space(self.resume_source)
        if self.tap is not None and not self.tap(data):
            self.tap = None

    def feed_eof(self) -> None:
        if self.eof:
            return
        self.eof = True
        self.head = self.skip_removed(self.head)
        if self.head is None:
            self._finish()
        else:
            self.head.channel.put_nowait(None)

    async def write(self, chunk: Chunk | None) -> None:
        """The end of the chain: write to the destination, honouring its flow control."""
        if self.done:
            return
        if chunk is None:
            self._finish()
            return
        if self.dest.lost or self.dest.transport is None:
            return
        self.sent += len(chunk.data)
        self.dest.transport.write(chunk.data)
        if self.dest.paused:
            await self.dest.writable()

    def pause_source(self) -> None:
        if self.source.transport is not None and not self.source.lost:
            self.source.transport.pause_reading()

    def resume_source(self) -> None:
        if self.source.transport is not None and not self.source.lost and not self.source.transport.is_closing():
            self.source.transport.resume_reading()

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            self.dest.close()
            self._on_done(self)

    def cancel(self) -> None:
        """Stop every stage task (connection teardown)."""
        node = self.head
        while node is not None:
            node.task.cancel()
            node = node.next
        for stub in self.stubs.values():
            stub.task.cancel()
