"""Slow clients cannot hold the service: a body that does not arrive within the body timeout is
answered 408 (JSON, connection closed), while other clients keep being served.

The variant without a usable deadline (body timeout far beyond the test's patience) must leave the
slow request unanswered: that is what the deadline is for, and it shows this test can fail.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.integration.test_service_support import running_stack

pytestmark = pytest.mark.timeout(90)
PATIENCE_S = 4.0


def stall_body(url: str, path: str = "/settlements", declared: int = 200, sent: bytes = b'{"amount": ') -> socket.socket:
    """Open a connection, send the head and the start of a body, then go quiet."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE_S)
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"X-API-Key: settle-tests\r\nContent-Length: {declared}\r\n\r\n").encode()
    sock.sendall(head + sent)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_stalled_body_is_answered_408_and_others_are_served_meanwhile():
    with running_stack(body_timeout=1.0) as s:
        slow = [stall_body(s.url) for _ in range(20)]
        started = time.monotonic()
        assert s.http.get("/health").status_code == 200  # not blocked by the stalled bodies
        try:
            answers = [read_answer(sock) for sock in slow]
        finally:
            for sock in slow:
                sock.close()
        assert time.monotonic() - started < PATIENCE_S + 1
        for answer in answers:  # complete answer, then the server closed the connection (recv gave b"")
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"connection: close" in head.lower()
            assert json.loads(body)["error"] == "request_timeout"
        assert len(s.components.engine.store) == 0  # nothing was submitted


def test_without_a_usable_deadline_the_stalled_request_gets_no_answer():
    with running_stack(body_timeout=600.0) as s:
        sock = stall_body(s.url)
        try:
            with pytest.raises(TimeoutError):
                read_answer(sock)
        finally:
            sock.close()
