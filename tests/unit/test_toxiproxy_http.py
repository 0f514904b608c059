"""The control API's HTTP layer on raw sockets: Go's headers and framing, and slow or oversized clients.

Compatibility is checked against Toxiproxy v2.12.0 `api.go` (gorilla/mux routes, `apiError` -> `http.Error`,
no Server header) and net/http's framing (a body over 2048 bytes written in one go is sent chunked).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = pytest.mark.timeout(60)
READ_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def tp() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(read_timeout_s=READ_TIMEOUT_S) as server:
        yield server


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> tuple[str, dict[str, str], bytes]:
    """Send `raw` on a fresh connection and read until the server closes: status line, headers, body bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def request(method: str, path: str, body: bytes | None = None, extra: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body is not None else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{length}{extra}\r\n").encode() + (body or b"")


def test_headers_are_exactly_gos(tp: EmbeddedToxiproxy) -> None:
    status, headers, body = exchange(tp.port, request("GET", "/proxies"))
    assert (status, body) == ("HTTP/1.1 200 OK", b"{}")
    assert set(headers) == {"Content-Type", "Content-Length", "Date", "X-Toxiproxy-Request-Id", "Connection"}
    status, headers, body = exchange(tp.port, request("POST", "/reset"))
    assert status == "HTTP/1.1 204 No Content" and "Content-Length" not in headers and "Content-Type" not in headers
    status, headers, body = exchange(tp.port, request("PUT", "/proxies"))
    assert (status, body) == ("HTTP/1.1 405 Method Not Allowed", b"")
    assert "X-Toxiproxy-Request-Id" not in headers and "Allow" not in headers and "Content-Type" not in headers
    status, headers, body = exchange(tp.port, request("GET", "/missing"))
    assert (status, body) == ("HTTP/1.1 404 Not Found", b"404 page not found\n")
    assert headers["X-Content-Type-Options"] == "nosniff" and "X-Toxiproxy-Request-Id" not in headers


def test_a_body_over_2048_bytes_is_chunked_as_net_http_does(tp: EmbeddedToxiproxy) -> None:
    with TcpUpstream("echo") as echo:
        names = [f"proxy-with-a-long-name-{i:02d}" for i in range(20)]
        for name in names:
            requests.post(tp.url + "/proxies", json={"name": name, "upstream": echo.address, "enabled": False},
                          timeout=5)
        try:
            status, headers, body = exchange(tp.port, request("GET", "/proxies"))
            assert status == "HTTP/1.1 200 OK" and headers["Transfer-Encoding"] == "chunked"
            assert "Content-Length" not in headers and len(body) > 2048
            assert requests.get(tp.url + "/proxies", timeout=5).json().keys() == set(names)
        finally:
            for name in names:
                requests.delete(f"{tp.url}/proxies/{name}", timeout=5)


def test_oversized_body_and_header_are_refused(tp: EmbeddedToxiproxy) -> None:
    status, _headers, body = exchange(tp.port, request("POST", "/proxies", b" " * (1024 * 1024 + 1)))
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert body == b'{"error":"bad request body: http: request body too large","status":413}\n'
    status, _headers, _body = exchange(tp.port, request("GET", "/proxies", extra=f"X-Big: {'a' * 9000}\r\n"))
    assert status.split(" ")[1] in ("400", "431")
    assert requests.get(tp.url + "/proxies", timeout=5).status_code == 200


def _closed_within(port: int, partial: bytes, wait_s: float) -> bool:
    """Send `partial` (an unfinished request) and report whether the server closes within `wait_s`."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as conn:
        conn.sendall(partial)
        try:
            while conn.recv(4096):
                pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            pass
        return True


def test_a_request_head_that_never_completes_is_cut_off(tp: EmbeddedToxiproxy) -> None:
    closed = _closed_within(tp.port, b"GET /proxies HTTP/1.1\r\nHost: x\r\nX-Slow: ", 10 * READ_TIMEOUT_S)
    assert closed


def test_the_cut_off_check_fails_a_server_without_read_timeout() -> None:
    with EmbeddedToxiproxy(read_timeout_s=60.0) as lax:  # deliberately broken variant: no effective timeout
        closed = _closed_within(lax.port, b"GET /proxies HTTP/1.1\r\nHost: x\r\nX-Slow: ", 4 * READ_TIMEOUT_S)
    assert not closed


def test_a_slow_body_times_out_without_blocking_other_calls() -> None:
    with EmbeddedToxiproxy(read_timeout_s=2.0) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"name\":")
        assert requests.get(server.url + "/proxies", timeout=5).status_code == 200  # not queued behind it
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.recv(1)  # the slow request is still unanswered: the GET did not wait for it
        slow.setblocking(True)
        data = b""
        while chunk := slow.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.endswith(b'{"error":"bad request body: read: i/o timeout","status":400}\n')
