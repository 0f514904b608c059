"""Run the app on uvicorn[standard] (uvloop, httptools; access log off) on a socket bound before
start-up, so port 0 works and the URL is known; SIGTERM/SIGINT shut it down cleanly (exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from reference_impl.errors import ReferenceImplError

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0


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

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.config = uvicorn.Config(
            app,
            loop="auto",
            http="auto",
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
