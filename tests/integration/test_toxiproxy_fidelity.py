"""Timing and behaviour of the embedded server's toxics on real TCP, after Toxiproxy's own tests (§5).

Timings use the median of several trials where that makes sense, because the machine is shared.
"""

from __future__ import annotations

import statistics
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.toxiproxy.echo import TcpUpstream, connect, round_trip, wait_for
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = [pytest.mark.fidelity, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=7) as tp:
        yield tp


@pytest.fixture()
def echo() -> Iterator[TcpUpstream]:
    with TcpUpstream("echo") as upstream:
        yield upstream


@pytest.fixture()
def sink() -> Iterator[TcpUpstream]:
    with TcpUpstream("sink") as upstream:
        yield upstream


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None) -> requests.Response:
        resp = requests.request(method, self.url + path, json=body, timeout=10)
        assert resp.status_code < 300, resp.text
        return resp

    def proxy(self, upstream: TcpUpstream, name: str = "f") -> int:
        listen = self("POST", "/proxies", {"name": name, "upstream": upstream.address}).json()["listen"]
        return int(listen.rsplit(":", 1)[1])

    def toxic(self, type_: str, stream: str = "downstream", proxy: str = "f", **attrs: Any) -> None:
        self("POST", f"/proxies/{proxy}/toxics", {"type": type_, "stream": stream, "attributes": attrs})


@pytest.fixture()
def api(server: EmbeddedToxiproxy) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    for name in requests.get(server.url + "/proxies", timeout=5).json():
        requests.delete(f"{server.url}/proxies/{name}", timeout=5)








@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_100ms_one_way_within_10ms(api: Api, echo: TcpUpstream, stream: str) -> None:
    port = api.proxy(echo)
    payload = b"L" * 40_000  # more than one 32 KiB chunk
    with connect(port) as conn:
        base = statistics.median(round_trip(conn, payload) for _ in range(5))
    api.toxic("latency", stream, latency=100)
    with connect(port) as conn:
        slow = statistics.median(round_trip(conn, payload) for _ in range(5))
    assert abs((slow - base) * 1000 - 100) <= 10, (slow, base)


def test_chained_latencies_add_up(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    with connect(port) as conn:
        base = statistics.median(round_trip(conn, b"c") for _ in range(5))
    api("POST", "/proxies/f/toxics", {"type": "latency", "name": "a", "stream": "upstream",
                                      "attributes": {"latency": 50}})
    api("POST", "/proxies/f/toxics", {"type": "latency", "name": "b", "stream": "upstream",
                                      "attributes": {"latency": 50}})
    with connect(port) as conn:
        slow = statistics.median(round_trip(conn, b"c") for _ in range(5))
    assert abs((slow - base) * 1000 - 100) <= 10, (slow, base)


def test_no_toxic_overhead_is_small(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    with connect(echo.port) as direct, connect(port) as proxied:
        for conn in (direct, proxied):
            round_trip(conn, b"warm")
        base = statistics.median(round_trip(direct, b"o" * 64) for _ in range(300))
        through = statistics.median(round_trip(proxied, b"o" * 64) for _ in range(300))
    assert (through - base) / 2 < 300e-6, (through, base)  # Toxiproxy: < 300 us one way


def test_jitter_stays_within_range(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("latency", latency=100, jitter=20)
    with connect(port) as conn:
        times = sorted(round_trip(conn, b"j") * 1000 for _ in range(15))
    assert times[0] >= 80 - 1, times  # never early: delay is 100 + U[-20, 19] ms
    assert times[-2] <= 120 + 10, times  # one scheduling outlier tolerated on a shared machine
    assert times[-2] - times[0] >= 8, times  # the delay really varies


def test_bandwidth_1000_kbps_on_480000_bytes_within_10_percent(api: Api, sink: TcpUpstream) -> None:
    port = api.proxy(sink)
    api.toxic("bandwidth", "upstream", rate=1000)
    payload = bytes(range(250)) * 1920  # 480 000 B
    durations = []
    for trial in range(3):
        with connect(port) as conn:
            assert wait_for(lambda n=trial: len(sink.received) > n, 2.0)
            start = time.perf_counter()
            conn.sendall(payload)
            assert wait_for(lambda n=trial: len(sink.received[n]) >= len(payload), 5.0)
            durations.append(time.perf_counter() - start)
            assert bytes(sink.received[trial]) == payload
    assert 0.432 <= statistics.median(durations) <= 0.528, durations


def test_reset_peer_gives_econnreset_then_eof(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("reset_peer", timeout=100)

    def trial() -> float:
        with connect(port) as conn:
            start = time.perf_counter()
            conn.sendall(b"hello")
            with pytest.raises(ConnectionResetError):
                conn.recv(100)
            elapsed = time.perf_counter() - start
            assert conn.recv(100) == b""
        return elapsed

    elapsed = statistics.median(trial() for _ in range(3))
    assert 0.09 <= elapsed <= 0.21, elapsed


def test_timeout_zero_drops_and_removal_closes_both_sides(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("timeout", "upstream", timeout=0)
    with connect(port, timeout=0.3) as conn:
        conn.sendall(b"dropped")
        with pytest.raises(TimeoutError):
            conn.recv(100)
        conn.settimeout(1.0)
        api("DELETE", "/proxies/f/toxics/timeout_upstream")
        assert conn.recv(100) == b""
    assert echo.closed[0].wait(1.0)


def test_timeout_n_closes_after_n_ms_idle(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("timeout", timeout=100)

    def trial() -> float:
        with connect(port) as conn:
            start = time.perf_counter()
            assert conn.recv(100) == b""
            return time.perf_counter() - start

    elapsed = statistics.median(trial() for _ in range(3))
    assert 0.09 <= elapsed <= 0.2, elapsed


def test_slicer_keeps_bytes_intact(api: Api, sink: TcpUpstream) -> None:
    port = api.proxy(sink)
    api.toxic("slicer", "upstream", average_size=1024, size_variation=512, delay=10)
    payload = bytes(i * 7 % 251 for i in range(480_000))
    with connect(port) as conn:
        conn.sendall(payload)
        assert wait_for(lambda: len(sink.received) == 1 and len(sink.received[0]) >= len(payload), 10.0)
    assert bytes(sink.received[0]) == payload


def test_limit_data_passes_exact_byte_count_then_closes(api: Api, sink: TcpUpstream) -> None:
    port = api.proxy(sink)
    api.toxic("limit_data", "upstream", bytes=100)
    with connect(port, timeout=2.0) as conn:
        conn.sendall(b"a" * 90)
        assert wait_for(lambda: len(sink.received) == 1 and len(sink.received[0]) == 90, 2.0)
        conn.sendall(b"b" * 20)
        assert sink.closed[0].wait(2.0)
        assert conn.recv(100) == b""
    assert bytes(sink.received[0]) == b"a" * 90 + b"b" * 10


def test_toxicity_zero_passes_and_update_to_one_applies_at_once(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)

    def trial(index: int) -> float:
        name = f"t{index}"
        api("POST", "/proxies/f/toxics", {"type": "timeout", "name": name, "toxicity": 0,
                                          "attributes": {"timeout": 100}})
        with connect(port, timeout=2.0) as conn:
            for _ in range(3):
                assert round_trip(conn, b"pass") < 0.1
            time.sleep(0.15)  # longer than the timeout: an inactive toxic never fires
            assert round_trip(conn, b"still") < 0.1
            api("PATCH", f"/proxies/f/toxics/{name}", {"toxicity": 1})
            start = time.perf_counter()
            assert conn.recv(100) == b""
            elapsed = time.perf_counter() - start
        api("DELETE", f"/proxies/f/toxics/{name}")
        return elapsed

    assert statistics.median(trial(i) for i in range(3)) <= 0.15


def test_disable_refuses_new_and_closes_live_connections(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("latency", latency=1000)
    with connect(port, timeout=2.0) as conn:
        conn.sendall(b"held in the latency toxic")
        time.sleep(0.05)
        api("POST", "/proxies/f", {"enabled": False})
        try:
            assert conn.recv(100) == b""
        except ConnectionResetError:
            pass
    with pytest.raises(ConnectionRefusedError):
        connect(port)


def test_65535_small_writes_arrive_in_order_while_latency_is_toggled(api: Api, sink: TcpUpstream) -> None:
    port = api.proxy(sink)
    expected = b"".join(struct.pack(">H", i) for i in range(65535))
    done = threading.Event()
    errors: list[BaseException] = []

    def write_all() -> None:
        try:
            with connect(port) as conn:
                for i in range(65535):
                    conn.sendall(expected[2 * i:2 * i + 2])
                assert wait_for(lambda: len(sink.received) == 1 and len(sink.received[0]) >= len(expected), 20)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    toggles = 0
    while not done.is_set() and toggles < 5000:
        api.toxic("latency", "upstream", latency=1)
        api("DELETE", "/proxies/f/toxics/latency_upstream")
        toggles += 1
    writer.join(30)
    assert not errors, errors
    assert sink.closed[0].wait(5.0)
    assert toggles >= 3, toggles
    assert bytes(sink.received[0]) == expected


def timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_removing_toxics_under_traffic_never_blocks_the_api(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("bandwidth", rate=0)
    payload = b"s" * 2_000_000
    with connect(port, timeout=5.0) as conn:
        sender = threading.Thread(target=conn.sendall, args=(payload,), daemon=True)
        sender.start()
        time.sleep(0.2)  # the downstream is stalled and buffers fill up
        assert timed(lambda: api("GET", "/proxies")) < 1.0
        assert timed(lambda: api("DELETE", "/proxies/f/toxics/bandwidth_downstream")) < 1.0
        got = 0
        while got < len(payload):
            data = conn.recv(1 << 20)
            assert data
            got += len(data)
        sender.join(5)
    api.toxic("latency", "upstream", latency=1000)
    api.toxic("timeout", "upstream", timeout=0)
    with connect(port, timeout=2.0) as conn:
        conn.sendall(b"x" * 100_000)
        time.sleep(0.05)
        assert timed(lambda: api("DELETE", "/proxies/f/toxics/latency_upstream")) < 1.0
        assert timed(lambda: api("DELETE", "/proxies/f/toxics/timeout_upstream")) < 1.0
        assert conn.recv(100) == b""


def test_removing_reset_peer_during_its_countdown_returns_at_once(api: Api, echo: TcpUpstream) -> None:
    port = api.proxy(echo)
    api.toxic("reset_peer", timeout=500)
    with connect(port, timeout=2.0) as conn:
        conn.sendall(b"trigger")
        time.sleep(0.05)
        assert timed(lambda: api("DELETE", "/proxies/f/toxics/reset_peer_downstream")) < 0.3
        with pytest.raises(ConnectionResetError):
            conn.recv(100)
