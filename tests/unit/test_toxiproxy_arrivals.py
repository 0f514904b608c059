"""The arrival log (ring buffer) and the request tap (HTTP/1.x request starts on a byte stream), no sockets.

The property test serialises random requests (Content-Length and chunked bodies, bodies that look like
requests, empty lines between messages), cuts the byte stream at random points and feeds the pieces one
by one on a fake clock: the log must hold exactly those requests, each stamped with the time of the piece
that carried its first byte.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.toxiproxy.arrivals import ArrivalLog
from harness.toxiproxy.request_tap import RequestTap


class FakeWall:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def make_tap(capacity: int = 1000) -> tuple[RequestTap, ArrivalLog, FakeWall]:
    wall = FakeWall()
    log = ArrivalLog(capacity, wall)
    conn = log.connection(50_000)
    return RequestTap(log, conn, wall), log, wall


def records(log: ArrivalLog, kind: str | None = None) -> list[dict[str, Any]]:
    return [r for r in log.read(0, 10_000)["records"] if kind is None or r["kind"] == kind]


def feed_all(tap: RequestTap, wall: FakeWall, pieces: list[bytes]) -> None:
    for piece in pieces:
        wall.t += 1.0
        tap.feed(piece)


def test_ring_keeps_the_newest_and_tells_readers_what_they_missed() -> None:
    wall = FakeWall()
    log = ArrivalLog(3, wall)
    for port in range(5):
        log.connection(port)
    page = log.read(0)
    assert [r["client_port"] for r in page["records"]] == [2, 3, 4]
    assert (page["next"], page["dropped"], page["started"]) == (5, 2, wall.t)
    assert log.read(3) == {"records": page["records"][1:], "next": 5, "dropped": 0, "started": wall.t}
    assert log.read(5)["records"] == [] and log.read(5)["next"] == 5
    assert log.read(0, limit=1)["records"] == page["records"][:1] and log.read(0, limit=1)["next"] == 3
    assert log.read(99) == {"records": [], "next": 5, "dropped": 0, "started": wall.t}
    with pytest.raises(ValueError):
        ArrivalLog(0)


def test_keep_alive_pipelining_and_split_heads() -> None:
    tap, log, wall = make_tap()
    stream = (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
              b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 18\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
              b"\r\nPUT /c?q=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n"
              b"DELETE /d HTTP/1.0\r\n\r\n")
    feed_all(tap, wall, [stream[:3], stream[3:40], stream[40:]])
    assert [(r["method"], r["path"], r["t"] - 1_700_000_000.0) for r in records(log, "request")] == [
        ("GET", "/a", 1.0), ("POST", "/b", 2.0), ("PUT", "/c?q=1", 3.0), ("DELETE", "/d", 3.0)]
    assert tap.alive and records(log, "unparsed") == []


@pytest.mark.parametrize(("stream", "reason"), [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "no request method"),  # a TLS ClientHello
    (b"x" * 100, "no request method"),  # no method token within 32 bytes
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP version 2.0"),
    (b"GET / HTTP/1.1\r\n\r\n", "Host"),  # h11 is strict: HTTP/1.1 needs Host
])
def test_non_http_gives_one_unparsed_record_and_detaches(stream: bytes, reason: str) -> None:
    tap, log, wall = make_tap()
    wall.t += 1
    assert tap.feed(stream) is False
    assert tap.feed(b"GET /later HTTP/1.1\r\nHost: h\r\n\r\n") is False
    [unparsed] = records(log, "unparsed")
    assert reason in unparsed["reason"] and unparsed["conn"] == 1
    assert records(log, "request") == []


def test_an_upgrade_ends_parsing_after_its_request() -> None:
    tap, log, wall = make_tap()
    tap.feed(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
    assert [r["path"] for r in records(log, "request")] == ["/ws"]
    assert "protocol switch" in records(log, "unparsed")[0]["reason"] and not tap.alive


def test_long_paths_are_cut() -> None:
    tap, log, _wall = make_tap()
    tap.feed(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert len(records(log, "request")[0]["path"]) == 2048


METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
PATHS = st.from_regex(r"/[a-z0-9/_.?=&-]{0,40}", fullmatch=True)
BODIES = st.one_of(st.just(b""), st.binary(max_size=300),
                   st.just(b"GET /inside-a-body HTTP/1.1\r\nHost: h\r\n\r\n"))


@st.composite
def request_streams(draw: st.DrawFn) -> tuple[list[tuple[str, str, int]], bytes]:
    """[(method, path, offset of its request line)], and the byte stream."""
    requests, stream = [], b""
    for _ in range(draw(st.integers(1, 6))):
        method, path, body = draw(METHODS), draw(PATHS), draw(BODIES)
        head = f"{method} {path} HTTP/1.1\r\nHost: h\r\n"
        if draw(st.booleans()):
            cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
            parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
            payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
            message = head.encode() + b"Transfer-Encoding: chunked\r\n\r\n" + payload
        else:
            message = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        stream += draw(st.sampled_from([b"", b"\r\n"]))
        requests.append((method, path, len(stream)))
        stream += message
    return requests, stream


def disagreement(tap_type: type[RequestTap], sent: list[tuple[str, str, int]], stream: bytes,
                 cuts: list[int]) -> str | None:
    """Feed `stream` cut at `cuts` to a tap; why its log differs from the requests sent, or None."""
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    wall = FakeWall()
    log = ArrivalLog(1000, wall)
    tap = tap_type(log, log.connection(50_000), wall)
    feed_all(tap, wall, pieces)
    logged = records(log, "request")
    if [(r["method"], r["path"]) for r in logged] != [(method, path) for method, path, _ in sent]:
        return f"requests {logged} != {sent}"
    if records(log, "unparsed"):
        return f"unparsed {records(log, 'unparsed')}"
    ends = [sum(len(p) for p in pieces[:i + 1]) for i in range(len(pieces))]
    expected = [1_700_000_001.0 + next(i for i, end in enumerate(ends) if end > start) for _, _, start in sent]
    if [r["t"] for r in logged] != expected:
        return f"times {[r['t'] for r in logged]} != {expected}"
    return None


@settings(max_examples=150, deadline=None)
@given(data=request_streams(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_every_request_is_found_at_the_piece_that_carried_its_first_byte(
        data: tuple[list[tuple[str, str, int]], bytes], cuts: list[int]) -> None:
    assert disagreement(RequestTap, *data, cuts) is None


class _StampsWhenTheHeadEnds(RequestTap):
    """Broken variant: a request's time is when its head was complete, not when its first byte came."""

    def _drain(self, max_events: int) -> bytes | None:
        self._started_at = self.wall()
        return super()._drain(max_events)


class _ScansForRequestLines(RequestTap):
    """Broken variant: greps each piece for request lines instead of following message framing."""

    def feed(self, data: bytes) -> bool:
        for match in re.finditer(rb"([A-Z]+) (\S+) HTTP/1\.[01]\r\n", data):
            self.log.request(self.conn, self.wall(), match[1].decode(), match[2].decode())
        return True


def test_the_property_fails_broken_taps() -> None:
    head = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 38\r\n\r\n"
    stream = head + b"GET /inside-a-body HTTP/1.1\r\nHost: h\r\n\r\n"
    assert disagreement(RequestTap, [("POST", "/p", 0)], stream, [10]) is None
    assert "times" in (disagreement(_StampsWhenTheHeadEnds, [("POST", "/p", 0)], stream, [10]) or "")
    assert "requests" in (disagreement(_ScansForRequestLines, [("POST", "/p", 0)], stream, [len(stream)]) or "")
