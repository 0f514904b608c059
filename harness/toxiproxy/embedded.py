"""`EmbeddedToxiproxy`: the server on its own event loop in a daemon thread, for in-process use."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from harness.errors import ProcessStartError
from harness.toxiproxy.arrivals import DEFAULT_CAPACITY
from harness.toxiproxy.exposure import check_api_host
from harness.toxiproxy.http_api import READ_TIMEOUT_S
from harness.toxiproxy.server import ToxiproxyServer

START_TIMEOUT_S = 10.0
T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (lower per-chunk overhead), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def cancel_pending_tasks() -> None:
    """Cancel and await every other task of the running loop (connection stages, dials)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class EmbeddedToxiproxy:
    """Runs a `ToxiproxyServer` in a background thread; `url` is its API base URL once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int | None = None,
                 proxy_metrics: bool = False, allow_remote: bool = False,
                 arrival_capacity: int = DEFAULT_CAPACITY, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        check_api_host(host, allow_remote)
        self.host = host
        self.port = port
        self._new_server = functools.partial(
            ToxiproxyServer, seed=seed, proxy_metrics=proxy_metrics, allow_remote=allow_remote,
            arrival_capacity=arrival_capacity, read_timeout_s=read_timeout_s)
        self.server: ToxiproxyServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise ProcessStartError("embedded toxiproxy is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedToxiproxy:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready, errors), name="toxiproxy", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S) or errors:
            self.stop()
            raise ProcessStartError(f"embedded toxiproxy did not start: {errors[0] if errors else 'timeout'}")
        return self

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported to start(); the thread must not die silently
            errors.append(exc)
            ready.set()
        finally:
            self._loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        server = self._new_server()
        self.port = await server.start(self.host, self.port)
        self._stopped = asyncio.Event()
        self.server = server
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            await server.close()
            await cancel_pending_tasks()

    def call(self, coro_factory: Callable[[ToxiproxyServer], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run `coro_factory(server)` on the server's loop and return its result (tests, tools)."""
        if self._loop is None or self.server is None:
            raise ProcessStartError("embedded toxiproxy is not running")
        server = self.server

        async def run() -> T:
            return await coro_factory(server)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def stop(self) -> None:
        """Close every listener and connection, then end the thread."""
        if self._loop is not None and self._stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)
        self._thread = None
        self.server = None
        self._stopped = None

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
