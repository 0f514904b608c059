"""The worlds' evidence read for the judges: request arrivals from the embedded fault proxy's own log (P35's
"no primary request while open"), refused when the log cannot prove what passed (overflow, non-HTTP bytes)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from harness.faults.client import FaultController
from harness.run.collect import CollectionError
from harness.run.world_evidence import proxy_arrivals
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = pytest.mark.timeout(60)


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def proxy(capacity: int = 1000) -> Iterator[tuple[str, str]]:
    """(API URL, listen address) of an embedded proxy `horizon-primary` in front of a real HTTP server."""
    with upstream() as target, EmbeddedToxiproxy(arrival_capacity=capacity) as server:
        with FaultController(url=server.url) as controller:
            listen = controller.ensure_proxy("horizon-primary", target)
        yield server.url, listen


def test_requests_through_the_proxy_become_primary_arrivals() -> None:
    with proxy() as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        for i in range(3):
            assert client.get(f"/accounts/G{i}").status_code == 200  # one keep-alive connection
        entries = proxy_arrivals(api, "horizon-primary")
    assert [e["path"] for e in entries] == ["/accounts/G0", "/accounts/G1", "/accounts/G2"]
    assert {e["listener"] for e in entries} == {0} and all(e["t"] > 1e9 for e in entries)


def test_a_log_that_cannot_prove_what_passed_is_refused() -> None:
    with proxy() as (api, listen):
        with socket.create_connection(tuple(listen.rsplit(":", 1)), timeout=5) as sock:  # type: ignore[arg-type]
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS ClientHello's first bytes
        with pytest.raises(CollectionError, match="not HTTP/1.x"):
            for _ in range(50):  # the proxy logs the connection once it has read the bytes
                proxy_arrivals(api, "horizon-primary")
                time.sleep(0.05)
    with proxy(capacity=2) as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        for i in range(4):
            client.get(f"/x{i}")
        with pytest.raises(CollectionError, match="overflowed"):
            proxy_arrivals(api, "horizon-primary")
