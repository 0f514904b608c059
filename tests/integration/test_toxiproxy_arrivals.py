"""Per-proxy arrival logs on real sockets: HTTP clients through the embedded proxy, read back through the
API extension and `FaultController.arrivals` (docs/faults.md "Arrival logs")."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.faults import ArrivalPage, ArrivalsUnavailable, FaultController
from harness.faults.arrivals import within
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = pytest.mark.timeout(60)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[tuple[float, str]] = []

    def _answer(self) -> None:
        _Handler.seen.append((time.time(), self.path))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def tp() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(arrival_capacity=50) as server:
        yield server


def make_proxy(tp: EmbeddedToxiproxy, upstream: str, name: str = "p") -> str:
    resp = requests.post(tp.url + "/proxies", json={"name": name, "upstream": upstream, "listen": "127.0.0.1:0"},
                         timeout=5)
    assert resp.status_code == 201, resp.text
    return f"http://{resp.json()['listen']}"


def arrivals(tp: EmbeddedToxiproxy, name: str = "p", query: str = "") -> dict[str, Any]:
    resp = requests.get(f"{tp.url}/proxies/{name}/arrivals{query}", timeout=5)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_keep_alive_requests_are_logged_on_one_connection_with_wall_clock_times(
        tp: EmbeddedToxiproxy, upstream: str) -> None:
    base = make_proxy(tp, upstream)
    before = time.time()
    with requests.Session() as session:
        assert session.get(base + "/a", timeout=5).text == "ok"
        assert session.post(base + "/b?x=1", data=b"GET /not-a-request HTTP/1.1\r\n\r\n", timeout=5).text == "ok"
        assert session.get(base + "/c", timeout=5).text == "ok"
    after = time.time()
    page = arrivals(tp)
    assert set(page) == {"records", "next", "dropped", "started"} and page["dropped"] == 0
    kinds = [(r["kind"], r.get("method"), r.get("path")) for r in page["records"]]
    assert kinds == [("connection", None, None), ("request", "GET", "/a"), ("request", "POST", "/b?x=1"),
                     ("request", "GET", "/c")]
    assert {r["conn"] for r in page["records"]} == {1}
    times = [r["t"] for r in page["records"]]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after


def test_pipelined_requests_and_the_client_port(tp: EmbeddedToxiproxy, upstream: str) -> None:
    port = int(make_proxy(tp, upstream).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        replies = b""
        while chunk := conn.recv(65536):
            replies += chunk
        client_port = conn.getsockname()[1]
    assert replies.count(b"HTTP/1.1 200 OK") == 3
    records = arrivals(tp)["records"]
    assert records[0]["client_port"] == client_port
    assert [r.get("path") for r in records[1:]] == ["/1", "/2", "/3"]


def test_arrival_is_stamped_at_the_proxy_before_toxics(tp: EmbeddedToxiproxy, upstream: str) -> None:
    base = make_proxy(tp, upstream)
    requests.post(tp.url + "/proxies/p/toxics", json={"type": "latency", "stream": "upstream",
                                                     "attributes": {"latency": 300}}, timeout=5)
    _Handler.seen.clear()
    assert requests.get(base + "/slow", timeout=5).text == "ok"
    [request] = [r for r in arrivals(tp)["records"] if r["kind"] == "request"]
    [(reached, _path)] = _Handler.seen
    assert reached - request["t"] >= 0.25  # the upstream got it a latency later than the proxy did


def test_a_disabled_proxy_refuses_and_logs_nothing(tp: EmbeddedToxiproxy, upstream: str) -> None:
    base = make_proxy(tp, upstream)
    requests.get(base + "/before", timeout=5)
    seen = arrivals(tp)["next"]
    requests.patch(tp.url + "/proxies/p", json={"enabled": False}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/while-down", timeout=5)
    assert arrivals(tp, query=f"?since={seen}") == {"records": [], "next": seen, "dropped": 0,
                                                     "started": arrivals(tp)["started"]}
    requests.patch(tp.url + "/proxies/p", json={"enabled": True}, timeout=5)
    requests.get(base + "/after", timeout=5)
    assert [r.get("path") for r in arrivals(tp, query=f"?since={seen}")["records"]] == [None, "/after"]


def test_the_log_survives_replacement_and_goes_with_delete(tp: EmbeddedToxiproxy, upstream: str) -> None:
    base = make_proxy(tp, upstream)
    requests.get(base + "/one", timeout=5)
    first = arrivals(tp)
    resp = requests.post(tp.url + "/populate", json=[{"name": "p", "upstream": upstream, "listen": "127.0.0.1:0"}],
                         timeout=5)
    assert resp.status_code == 201
    requests.get(f"http://{resp.json()['proxies'][0]['listen']}/two", timeout=5)
    replaced = arrivals(tp)
    assert replaced["started"] == first["started"] and replaced["next"] == first["next"] + 2
    requests.delete(tp.url + "/proxies/p", timeout=5)
    resp = requests.get(tp.url + "/proxies/p/arrivals", timeout=5)
    assert (resp.status_code, resp.json()["error"]) == (404, "proxy not found")
    make_proxy(tp, upstream)
    fresh = arrivals(tp)
    assert fresh["next"] == 0 and fresh["started"] > first["started"]


def test_queries_are_validated_and_pages_are_bounded(tp: EmbeddedToxiproxy, upstream: str) -> None:
    base = make_proxy(tp, upstream)
    for _ in range(4):
        requests.get(base + "/x", timeout=5)  # a new connection each time
    page = arrivals(tp, query="?since=2&limit=3")
    assert [r["seq"] for r in page["records"]] == [2, 3, 4] and page["next"] == 5
    for query in ("?since=-1", "?limit=x", "?limit=10001"):
        resp = requests.get(f"{tp.url}/proxies/p/arrivals{query}", timeout=5)
        assert resp.status_code == 400 and resp.json()["error"].startswith("bad query: ")


def test_the_controller_joins_pages_and_reports_what_the_ring_dropped(upstream: str) -> None:
    with EmbeddedToxiproxy(arrival_capacity=5) as tp, FaultController(tp.url) as ctl:
        base = f"http://{ctl.ensure_proxy('p', upstream)}"
        start = time.time()
        for i in range(4):
            requests.get(f"{base}/{i}", timeout=5)
        page = ctl.arrivals("p")
        assert isinstance(page, ArrivalPage) and page.observable
        assert (len(page.records), page.dropped, page.next) == (5, 3, 8)
        assert [r.path for r in within(page.records, start, time.time())] == ["/1", "/2", "/3"]  # seqs 3-7 kept


class _GorillaNotFound(http.server.BaseHTTPRequestHandler):
    """Stand-in for a real Toxiproxy on a route it lacks: gorilla/mux's NotFound (api.go `Routes`)."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", "19")
        self.end_headers()
        self.wfile.write(b"404 page not found\n")

    def log_message(self, *args: Any) -> None:
        pass


def test_a_server_without_the_extension_is_reported_unobservable() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GorillaNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with FaultController(f"http://127.0.0.1:{server.server_address[1]}") as ctl:
            result = ctl.arrivals("horizon-primary")
        assert isinstance(result, ArrivalsUnavailable) and not result.observable
        assert "no arrivals extension" in result.reason
    finally:
        server.shutdown()
        server.server_close()
