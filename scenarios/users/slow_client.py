"""Slow clients: send a part of a request, then go quiet: half of them stop inside the body (after
announcing its length), half inside the headers.

A service that waits for the rest holds the request (and its connection) for as long as the client
likes. The service must give up after its timeout and answer 4xx with a JSON body (the reference
answers 408 `request_timeout`); this client waits at most `PATIENCE_S` and records no answer as
status 0. Raw sockets (gevent-patched under Locust), since an HTTP client always sends the whole
request. Records: endpoint `slow-body` or `slow-head`, `expected="reject"`, judged with the
malformed requests (P32: 4xx JSON, never 5xx, no ledger effect).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from scenarios.users.base import PacedUser, Reply

PATIENCE_S = 30.0
TARGETS = (("settlement", "/settlements"), ("decision", "/agent/decisions"), ("escrow", "/contracts/escrow"),
           ("channel", "/channels/slow-1/updates"))


class SlowClient(PacedUser):
    kind = "slow_client"

    def act(self, intended_s: float) -> None:
        limit_endpoint, path = TARGETS[self.rng.randrange(len(TARGETS))]
        label = self.key("slow", limit_endpoint)
        declared = self.rng.randint(64, 4096)
        sent_part = b'{"amount": "1", "destination": "' + b"G" * self.rng.randint(0, 32)
        url = urlsplit(self.ctx.service_url)
        stall_in_head = self.rng.random() < 0.5
        head = (f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {self.ctx.api_key(label)}\r\nContent-Length: {declared}\r\n").encode()
        sent = head + (b"X-Still-Typing: " if stall_in_head else b"\r\n" + sent_part)
        sent_s = self.ctx.now_s()
        t0 = time.perf_counter()
        headers: dict[str, str] = {}
        status, text, error = 0, "", ""
        try:
            with socket.create_connection((url.hostname, url.port), timeout=PATIENCE_S) as sock:
                sock.sendall(sent)
                status, text, headers = parse_response(read_until_closed(sock, t0 + PATIENCE_S))
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        reply = Reply(status, text, headers, sent_s, (time.perf_counter() - t0) * 1000.0, error)
        endpoint = "slow-head" if stall_in_head else "slow-body"
        self.record(intended_s, endpoint, "POST", path, reply, client_key=label, key_issued=1, expected="reject")


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.perf_counter() < deadline:
        sock.settimeout(max(0.01, deadline - time.perf_counter()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def parse_response(raw: bytes) -> tuple[int, str, dict[str, str]]:
    """(status, body text, headers) of one HTTP/1.1 response; status 0 when there is none."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return 0, "", {}
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return int(parts[1]), body.decode("utf-8", "replace"), {k.strip(): v.strip() for k, v in headers.items()}
