"""The worlds' evidence read for the judges: request arrivals from the embedded fault proxy's own log (P35's
"no primary request while open"), drained during the run past the log's ring (harness/run/arrival_drain.py),
refused when the log cannot prove what passed (overflow, non-HTTP bytes, a re-created proxy)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from harness.faults.arrivals import ArrivalPage
from harness.faults.client import FaultController
from harness.judges.observability import PROXY_ARRIVALS
from harness.run.arrival_drain import ArrivalDrain
from harness.run.collect import CollectionError
from harness.run.world_evidence import LISTENERS, WorldEvidence, _read_arrivals, proxy_arrivals
from harness.run.worlds import OFFLINE, Worlds
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = pytest.mark.timeout(60)


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall each

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


PRIMARY = "horizon-primary"


def _judged(drain: ArrivalDrain) -> WorldEvidence:
    """What a run makes of the drained arrivals (the offline worlds' fallback is never reached here)."""
    ev = WorldEvidence()
    _read_arrivals(ev, cast(Worlds, SimpleNamespace(kind=OFFLINE, evidence_url="http://127.0.0.1:9")), drain)
    return ev


def _wait_drained(drain: ArrivalDrain, records: int) -> None:
    for _ in range(400):  # bounded: 20 s at most
        if drain.logs[PRIMARY].next >= records:
            return
        time.sleep(0.05)
    raise AssertionError(f"the drain read {drain.logs[PRIMARY].next} of {records} records")


def test_a_drain_running_with_the_load_keeps_every_arrival_past_the_ring(tmp_path: Path) -> None:
    """300 requests through a proxy whose arrival ring holds 50 records: the background drain (reading the
    API's `since` cursor page by page, harness/toxiproxy/arrivals.py `ArrivalLog.read`) keeps each exactly once."""
    with proxy(capacity=50) as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        drain = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path, interval_s=0.02, page_limit=7).start()
        try:
            for burst in range(15):  # 20 requests a burst, fewer than the ring holds; the drain catches up between
                for i in range(burst * 20, burst * 20 + 20):
                    assert client.get(f"/r/{i}").status_code == 200  # one keep-alive connection
                _wait_drained(drain, 1 + burst * 20 + 20)  # the connection's record, then the requests'
            ev = _judged(drain)
        finally:
            drain.close()
        with FaultController(url=api) as controller:
            once = controller.arrivals(PRIMARY)  # the control: read once after the load, the ring lost most
    assert isinstance(once, ArrivalPage) and once.dropped == 301 - 50
    assert ev.unavailable == {} and PROXY_ARRIVALS in ev.sources
    assert [a["path"] for a in ev.arrivals] == [f"/r/{i}" for i in range(300)]  # every one, once, in order
    assert {a["listener"] for a in ev.arrivals} == {0} and all(a["t"] > 1e9 for a in ev.arrivals)
    assert drain.logs[PRIMARY].pages > 300 // 7 and not drain._thread.is_alive()


def test_a_drain_that_falls_behind_makes_the_arrivals_unavailable_with_the_dropped_count(tmp_path: Path) -> None:
    with proxy(capacity=10) as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        drain = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path)  # passes by hand: no timing
        for i in range(5):
            client.get(f"/early/{i}")
        drain.drain()  # caught up: 6 records read
        for i in range(30):  # 30 records while the drain sleeps: 20 of them are overwritten unread
            client.get(f"/late/{i}")
        ev = _judged(drain)
    kept = [a["path"] for a in drain.entries()]
    assert kept == [f"/early/{i}" for i in range(5)] + [f"/late/{i}" for i in range(20, 30)]  # what the ring kept
    assert ev.arrivals == [] and PROXY_ARRIVALS not in ev.sources
    assert ev.unavailable[PROXY_ARRIVALS] == ("the arrival log of horizon-primary overflowed (20 records dropped "
                                              "before the harness read them)")


def test_a_proxy_re_created_during_the_run_makes_the_arrivals_unavailable(tmp_path: Path) -> None:
    with proxy() as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        drain = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path)
        client.get("/before")
        drain.drain()
        upstream_addr = httpx.get(f"{api}/proxies/{PRIMARY}").json()["upstream"]
        assert httpx.delete(f"{api}/proxies/{PRIMARY}").status_code == 204  # a new log, seqs from 0: what the
        with FaultController(url=api) as controller:                       # old one held after the last read
            controller.ensure_proxy(PRIMARY, upstream_addr)                 # is gone
        ev = _judged(drain)
    assert ev.unavailable[PROXY_ARRIVALS] == ("the arrival log of horizon-primary was replaced during the run "
                                              "(the proxy was re-created)")


def test_a_drain_stops_its_loop_and_reads_nothing_after_finish(tmp_path: Path) -> None:
    with proxy() as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        drain = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path, interval_s=0.01).start()
        assert drain.problem() == "the arrival logs were not read after the load"  # not yet: never a silent pass
        client.get("/one")
        drain.stop()
        drain.stop()  # idempotent, as every exit path of a run calls it
        assert not drain._thread.is_alive()
        drain.finish()
        client.get("/after")
        drain.drain()  # a finished drain does not read again
    assert [a["path"] for a in drain.entries()] == ["/one"] and drain.problem() is None


def test_what_a_ring_lost_before_the_run_started_is_no_loss_and_after_it_is(tmp_path: Path) -> None:
    """Borrowed worlds (`harness up`) serve many runs: their rings may have wrapped before this run began."""
    with proxy(capacity=10) as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        for i in range(30):  # 31 records: 21 overwritten before any read
            client.get(f"/earlier-run/{i}")
        before = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path / "a").start(pre_run_until=time.time() + 60)
        late = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY]}, tmp_path / "b").start(pre_run_until=time.time() - 1)
        client.get("/this-run")
        ev_before, ev_late = _judged(before), _judged(late)
    assert ev_before.unavailable == {} and "21 records overwritten before the run" in ev_before.sources[PROXY_ARRIVALS]
    assert [a["path"] for a in ev_before.arrivals][-2:] == ["/earlier-run/29", "/this-run"]
    assert ev_late.unavailable[PROXY_ARRIVALS].startswith("the arrival log of horizon-primary overflowed (21 records")


def test_a_read_that_fails_during_the_run_is_retried_from_the_cursor(tmp_path: Path) -> None:
    with proxy() as (api, listen), httpx.Client(base_url=f"http://{listen}", timeout=5) as client:
        drain = ArrivalDrain(api, {PRIMARY: LISTENERS[PRIMARY], "not-created-yet": 1}, tmp_path)
        client.get("/one")
        drain.drain()  # the second proxy does not exist yet: 404, counted, nothing lost
        with FaultController(url=api) as controller:
            controller.ensure_proxy("not-created-yet", httpx.get(f"{api}/proxies/{PRIMARY}").json()["upstream"])
        client.get("/two")
        ev = _judged(drain)
    assert ev.unavailable == {} and [a["path"] for a in ev.arrivals] == ["/one", "/two"]
    assert drain.read_errors == 1 and "1 reads failed during the run" in ev.sources[PROXY_ARRIVALS]
