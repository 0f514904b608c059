"""Slow and oversized clients cannot hold the service: a body that does not arrive within the body
timeout, or a request head within the head timeout, is answered 408 (JSON, connection closed); a
head over 64 KiB is answered 431; other clients keep being served meanwhile.

The variants without a usable deadline (far beyond the test's patience) must leave the slow request
unanswered: that is what the deadlines are for, and it shows these tests can fail. (uvicorn itself
bounds neither the head's time nor its size: `reference_impl/service/server.py`.)
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from stellar_sdk import Keypair

from harness.ledger.config import OFFLINE_PASSPHRASE
from reference_impl.service.app import create_app
from reference_impl.service.server import ServiceServer
from reference_impl.service.settings import ServiceAccounts, ServiceSettings
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


@contextlib.contextmanager
def bare_service(head_timeout: float):
    """The service alone (no ledger: only /health is asked), with the given head timeout."""
    keys = [Keypair.random() for _ in range(2)]
    settings = ServiceSettings(accounts=ServiceAccounts((keys[0],), keys[1].public_key, keys[1]),
                               horizon_primary="http://127.0.0.1:9", network_passphrase=OFFLINE_PASSPHRASE,
                               log_console=False)
    with ServiceServer(create_app(settings), head_timeout=head_timeout).run_in_thread() as url:
        yield url


def open_head(url: str, head: bytes) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE_S)
    sock.sendall(head)
    return sock


def test_a_slow_or_huge_request_head_is_refused_and_others_are_served():
    with bare_service(head_timeout=1.0) as url:
        slow = [open_head(url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1") for _ in range(10)]
        huge = open_head(url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n")
        with httpx.Client(base_url=url, timeout=5) as http:  # keep-alive: requests on one connection
            assert http.get("/health").status_code == 200 and http.get("/health").status_code == 200

        try:
            answers = [read_answer(sock) for sock in [*slow, huge]]
        finally:
            for sock in [*slow, huge]:
                sock.close()
    for answer in answers[:-1]:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"] == "request_timeout", answer[:200]
    head, _, body = answers[-1].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and json.loads(body)["error"] == "headers_too_large"


def test_a_body_answered_early_is_not_taken_for_the_next_head():
    """A 413 comes before the body is read; the rest of that body is not the next request's head."""
    with bare_service(head_timeout=5.0) as url:
        big = b"x" * 300_000
        sock = open_head(url, b"POST /settlements HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big)
                         + big + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            answer = read_answer(sock)
        finally:
            sock.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"413", b"200"], answer[:300]


def test_without_a_usable_head_deadline_the_slow_head_gets_no_answer():
    with bare_service(head_timeout=600.0) as url:
        sock = open_head(url, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:
            with pytest.raises(TimeoutError):
                read_answer(sock)
        finally:
            sock.close()
