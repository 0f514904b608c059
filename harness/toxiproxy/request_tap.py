"""Finds HTTP/1.x request starts in one connection's client->upstream bytes, for the arrival log.

The link calls `feed(data)` after it has forwarded `data`, so parsing never alters or delays the bytes.
Message framing is h11's (a server-role parser: heads, chunked bodies with trailers, size limits); a fresh
h11 connection parses each request, so keep-alive and pipelining (HTTP/1.0 and 1.1) need no response
bookkeeping. A body framed by Content-Length (validated by h11) is skipped by counting, without copying it
through the parser. Empty lines between requests are skipped (RFC 9112 §2.2). The first thing that is not
a well-formed HTTP/1.x request (TLS, HTTP/2, a bad header, an Upgrade/CONNECT switch) ends parsing for
the connection with one `unparsed` record; the tap then reports itself dead so the link stops calling it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import h11

from harness.toxiproxy.arrivals import ArrivalLog

MAX_HEAD = 64 * 1024  # longest request head (line + headers) accepted before giving up
_METHOD_PREFIX = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}(?: |\Z)")  # RFC 9110 token, then SP
_LINE_ENDS = b"\r\n"


class RequestTap:
    """Feeds one connection's upstream bytes to h11 and logs each request's arrival; never raises."""

    def __init__(self, log: ArrivalLog, conn: int, wall: Callable[[], float]) -> None:
        self.log = log
        self.conn = conn
        self.wall = wall
        self._parser: h11.Connection | None = None  # None between requests
        self._started_at = 0.0  # when the current request's first byte was read
        self._head: bytes | None = b""  # first bytes of the current request, until its method is seen
        self._body_left = 0  # bytes of a Content-Length body still to pass
        self.alive = True

    def feed(self, data: bytes) -> bool:
        """Parse bytes the link has already forwarded; returns False once the tap has given up."""
        if not self.alive:
            return False
        now = self.wall()
        try:
            self._feed(data, now)
        except (h11.ProtocolError, ValueError) as exc:
            self._give_up(now, f"not HTTP/1.x: {exc}")
        except Exception as exc:  # a parser bug must never break the link
            self._give_up(now, f"parser error: {type(exc).__name__}: {exc}")
        return self.alive

    def _feed(self, data: bytes, now: float) -> None:
        for _ in range(len(data) + 1):  # each pass ends a request (>= 1 byte) or returns
            if self._body_left:
                skipped = min(self._body_left, len(data))
                self._body_left -= skipped
                data = data[skipped:]
            if self._parser is None:
                data = data.lstrip(_LINE_ENDS)
                if not data:
                    return
                self._parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
                self._started_at, self._head = now, b""
            if self._head is not None:
                self._check_method(data)
            self._parser.receive_data(data)
            rest = self._drain(len(data) + 3)
            if rest is None or not self.alive:
                return
            data = rest

    def _check_method(self, data: bytes) -> None:
        """Give up at once on bytes that cannot start a request line (h11 would wait for a line end)."""
        assert self._head is not None
        self._head = (self._head + data)[:33]
        match = _METHOD_PREFIX.match(self._head)
        if match is None or (not match.group().endswith(b" ") and len(self._head) > 32):
            raise ValueError(f"no request method in {self._head[:16]!r}")
        if match.group().endswith(b" "):
            self._head = None

    def _drain(self, max_events: int) -> bytes | None:
        """Handle the parser's events; the bytes after the request when it ended, else None."""
        assert self._parser is not None
        for _ in range(max_events):  # every event but the last consumes at least one byte
            event = self._parser.next_event()
            if isinstance(event, h11.Request):
                if event.http_version not in (b"1.0", b"1.1"):
                    raise ValueError(f"HTTP version {event.http_version.decode('latin-1')}")
                self.log.request(self.conn, self._started_at, event.method.decode("latin-1"),
                                 event.target.decode("latin-1"))
                names = {name for name, _value in event.headers}
                if event.method == b"CONNECT" or b"upgrade" in names:
                    self._give_up(self.wall(), "protocol switch requested (Upgrade or CONNECT)")
                    return None
                if b"transfer-encoding" not in names:  # Content-Length framing (absent: no body)
                    return self._skip_body(int(dict(event.headers).get(b"content-length", b"0")))
            elif isinstance(event, h11.EndOfMessage):
                rest = self._parser.trailing_data[0]
                self._parser = None
                return bytes(rest)
            elif event is h11.NEED_DATA:
                return None
        raise RuntimeError("parser produced more events than bytes")

    def _skip_body(self, length: int) -> bytes:
        """Leave h11 after the head: count the body off; returns what follows it in the bytes fed so far."""
        assert self._parser is not None
        buffered = self._parser.trailing_data[0]
        self._parser = None
        self._body_left = max(0, length - len(buffered))
        return bytes(buffered[length:])

    def _give_up(self, now: float, reason: str) -> None:
        self.alive = False
        self._parser = None
        self.log.unparsed(self.conn, now, reason)
