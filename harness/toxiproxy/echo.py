"""A small TCP upstream for proxy tests and benchmarks: echo or sink, on 127.0.0.1 and a free port,
plus the client-side probes both use (`connect`, `round_trip`, `wait_for`).

Runs in background threads; `stop()` closes the listener and every connection and joins the threads.
In sink mode the bytes of each connection are kept in `received[i]` and `closed[i]` is set at its EOF.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

JOIN_TIMEOUT_S = 5.0


class TcpUpstream:
    """Echo (`mode="echo"`) or record (`mode="sink"`) every connection's bytes."""

    def __init__(self, mode: str = "echo") -> None:
        if mode not in ("echo", "sink"):
            raise ValueError(f"mode must be echo or sink, got {mode!r}")
        self.mode = mode
        self.received: list[bytearray] = []
        self.closed: list[threading.Event] = []
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._listener is not None, "not started"
        return int(self._listener.getsockname()[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpUpstream:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(None)
            with self._lock:
                index = len(self._conns)
                self._conns.append(conn)
                self.received.append(bytearray())
                self.closed.append(threading.Event())
            self._spawn(self._serve, conn, index)

    def _serve(self, conn: socket.socket, index: int) -> None:
        try:
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    break
                if self.mode == "echo":
                    conn.sendall(data)
                else:
                    self.received[index] += data
        except OSError:
            pass
        finally:
            self.closed[index].set()
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)

    def __enter__(self) -> TcpUpstream:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    """A client connection to 127.0.0.1:`port` with TCP_NODELAY, as a proxy's clients use."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def round_trip(conn: socket.socket, payload: bytes) -> float:
    """Seconds to send `payload` through an echo path and read it all back."""
    start = time.perf_counter()
    conn.sendall(payload)
    got = 0
    while got < len(payload):
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("connection closed early")
        got += len(data)
    return time.perf_counter() - start


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` every 2 ms until it holds or `timeout` seconds pass; its final value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return bool(predicate())
