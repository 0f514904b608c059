"""Run the app on uvicorn[standard] (uvloop, httptools; access log off) on a socket bound before
start-up, so port 0 works and the URL is known; SIGTERM/SIGINT shut it down cleanly (exit 0).

uvicorn bounds neither the time nor the size of a request head: a client sending its headers a
byte at a time, or megabytes of them, holds the connection (and memory) as long as it likes.
`HeadGuardProtocol` adds both: a head must be complete within `head_timeout` seconds of the
connection opening (or of the previous response) and within MAX_HEAD_BYTES, else the answer is
408 or 431 with a JSON body and the connection closes. Slow bodies are the app's (`read_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reference_impl.errors import ReferenceImplError

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
HEAD_TIMEOUT = 10.0
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; one network read more may pass before the check
LINGER_S = 2.0  # after a refusal: read and drop what the client still sends, so it can read the answer


def raw_json_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": code, "message": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode() + body


class HeadGuardProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head.

    The deadline runs from the connection opening, or from the previous response while nothing else
    is queued, to the end of the next head; the size counts from the start of a message (not the
    rest of a body the app answered early, e.g. with 413) to the end of its head."""

    def __init__(self, *args: Any, head_timeout: float = HEAD_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering close: dropped
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)  # a head is still incomplete after this read
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "Request Header Fields Too Large", "headers_too_large",
                             f"the request head must be at most {MAX_HEAD_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse(408, "Request Timeout", "request_timeout",
                         f"the request head was not received within {self.head_timeout:g} s")

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        """Answer, half-close, and drop the rest for LINGER_S: closing with unread input would reset the
        connection and could destroy the answer before the client reads it."""
        self._disarm()
        self._refused = True
        self.transport.write(raw_json_response(status, reason, code, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


class ServerStartError(ReferenceImplError):
    """The service did not start accepting connections."""


class _Server(uvicorn.Server):
    """uvicorn's server, but a signal only asks for a graceful exit (uvicorn re-raises it afterwards,
    which would turn a clean SIGTERM shutdown into a non-zero exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self._request_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def _request_exit(self, sig: int, frame: Any) -> None:
        self.should_exit = True


class ServiceServer:
    """One uvicorn server for `app` on `host:port` (0 = a free port chosen by the OS)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, head_timeout: float = HEAD_TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.config = uvicorn.Config(
            app,
            loop="auto",
            http=functools.partial(HeadGuardProtocol, head_timeout=head_timeout),  # type: ignore[arg-type]
            lifespan="on",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
        self.server = _Server(self.config)

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        return self.config.get_loop_factory()

    async def serve(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until `stop()` or a signal; `on_ready(url)` runs once connections are accepted."""
        task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        for _ in range(int(STARTUP_TIMEOUT / 0.01)):
            if self.server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not self.server.started:
            self.server.should_exit = True
            await asyncio.wait([task], timeout=SHUTDOWN_TIMEOUT)
            raise ServerStartError("the service did not start accepting connections")
        if on_ready is not None:
            on_ready(self.url)
        await task

    def stop(self) -> None:
        self.server.should_exit = True

    def run_until_signal(self) -> int:
        """Serve in this thread until SIGTERM/SIGINT, announcing `LISTENING <url>` on stdout once ready;
        the process exit code: 0 after a clean stop, 1 when the server could not start."""
        try:
            with asyncio.Runner(loop_factory=self.loop_factory()) as runner:
                runner.run(self.serve(lambda url: print(f"LISTENING {url}", flush=True)))
        except ServerStartError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            pass
        return 0

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[str]:
        """Serve in a background thread (own event loop) for tests and benchmarks; yields the URL."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def target() -> None:
            try:
                with asyncio.Runner(loop_factory=self.loop_factory()) as runner:
                    runner.run(self.serve(lambda _url: ready.set()))
            except BaseException as error:  # reported to the caller below
                failure.append(error)
                ready.set()

        thread = threading.Thread(target=target, name="service-server", daemon=True)
        thread.start()
        try:
            if not ready.wait(STARTUP_TIMEOUT) or failure:
                raise ServerStartError(
                    f"service failed to start: {failure[0]!r}" if failure else "startup timeout"
                )
            yield self.url
        finally:
            self.stop()
            thread.join(SHUTDOWN_TIMEOUT)
            self.sock.close()
