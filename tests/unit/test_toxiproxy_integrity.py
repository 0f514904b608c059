"""Data integrity: random payloads through every non-destructive toxic come back byte-exact (Hypothesis)."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy

pytestmark = pytest.mark.timeout(90)

# name -> toxics (type, stream, attributes, toxicity); each is applied to both directions unless stated
CONFIGS: dict[str, list[tuple[str, str, dict[str, int], float]]] = {
    "noop": [("noop", "downstream", {}, 1.0)],
    "latency": [("latency", "upstream", {"latency": 1, "jitter": 1}, 1.0),
                ("latency", "downstream", {"latency": 1}, 1.0)],
    "bandwidth": [("bandwidth", "upstream", {"rate": 100_000}, 1.0),
                  ("bandwidth", "downstream", {"rate": 100_000}, 1.0)],
    "slicer": [("slicer", "upstream", {"average_size": 64, "size_variation": 32}, 1.0),
               ("slicer", "downstream", {"average_size": 700, "size_variation": 300}, 1.0)],
    # bounds Toxiproxy accepts at the edge (toxics/slicer.go): equal average and variation (empty pieces
    # happen), and a negative variation
    "slicer_edge_bounds": [("slicer", "upstream", {"average_size": 16, "size_variation": 16}, 1.0),
                           ("slicer", "downstream", {"average_size": 40, "size_variation": -8}, 1.0)],
    "slow_close": [("slow_close", "downstream", {"delay": 5}, 1.0)],
    "limit_data_above_payload": [("limit_data", "upstream", {"bytes": 10**9}, 1.0)],
    "half_toxicity_chain": [("latency", "upstream", {"latency": 1}, 0.5),
                            ("slicer", "upstream", {"average_size": 100, "size_variation": 50}, 0.5),
                            ("bandwidth", "downstream", {"rate": 50_000}, 0.5),
                            ("slicer", "downstream", {"average_size": 10, "size_variation": 5}, 0.5)],
}

payloads = st.one_of(
    st.binary(min_size=1, max_size=2048),
    st.builds(lambda seed, size: random.Random(seed).randbytes(size),
              st.integers(0, 2**32 - 1), st.integers(1, 300_000)),
)


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    with TcpUpstream("echo") as echo, EmbeddedToxiproxy(seed=3) as tp:
        out = {}
        for name, toxics in CONFIGS.items():
            listen = requests.post(tp.url + "/proxies", json={"name": name, "upstream": echo.address},
                                   timeout=5).json()["listen"]
            for i, (type_, stream, attrs, toxicity) in enumerate(toxics):
                resp = requests.post(f"{tp.url}/proxies/{name}/toxics", timeout=5, json={
                    "name": f"t{i}", "type": type_, "stream": stream, "attributes": attrs, "toxicity": toxicity})
                assert resp.status_code == 200, resp.text
            out[name] = int(listen.rsplit(":", 1)[1])
        yield out


def echo_through(port: int, payload: bytes) -> bytes:
    """Send and receive concurrently (no half-close: a FIN would tear the connection down)."""
    errors: list[BaseException] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        def send() -> None:
            try:
                conn.sendall(payload)
            except OSError as exc:
                errors.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            data = conn.recv(1 << 20)
            if not data:
                break
            received += data
        sender.join(10)
    assert not errors, errors
    return bytes(received)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_payload_arrives_byte_exact(ports: dict[str, int], config: str) -> None:
    @given(payload=payloads)
    def check(payload: bytes) -> None:
        assert echo_through(ports[config], payload) == payload

    check()


def test_configs_cover_every_non_destructive_toxic() -> None:
    used: set[Any] = {t[0] for toxics in CONFIGS.values() for t in toxics}
    assert used == {"noop", "latency", "bandwidth", "slicer", "slow_close", "limit_data"}
