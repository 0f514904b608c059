"""A hung Toxiproxy cannot hang the fault-control layer: every call ends in FaultControlError naming the URL
and the timeout. Two real black holes: a listener that never accepts (the kernel completes the handshake
and buffers the request, nobody answers), and a working server behind a proxy whose answers a `timeout`
toxic swallows (taken down mid-run, after faults were applied)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from harness.faults import FaultControlError, FaultController, FaultSchedule, FaultSpec
from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy
from reference_impl.clock import ManualClock

pytestmark = pytest.mark.timeout(60)
TIMEOUT_S = 0.5


@pytest.fixture()
def black_hole() -> Iterator[str]:
    """A TCP listener that never accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_every_call_on_a_black_hole_fails_in_bounded_time(black_hole: str) -> None:
    ctl = FaultController(black_hole, timeout_s=TIMEOUT_S)
    calls = {"reset": ctl.reset, "active": ctl.active, "apply": lambda: ctl.apply(FaultSpec("p", "latency")),
             "down": lambda: ctl.down("p"), "ensure_proxy": lambda: ctl.ensure_proxy("p", "127.0.0.1:1"),
             "arrivals": lambda: ctl.arrivals("p")}
    for name, call in calls.items():
        with pytest.raises(FaultControlError) as info:
            call()
        assert black_hole in str(info.value) and "0.5 s timeout" in str(info.value), (name, str(info.value))
    assert ctl.events == []


def test_toxiproxy_python_alone_would_hang_on_it(black_hole: str) -> None:
    """The check above can fail: toxiproxy-python's own calls take no timeout and block until the peer goes."""
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = "127.0.0.1", int(black_hole.rsplit(":", 1)[1])
    outcome: list[BaseException | bool] = []
    worker = threading.Thread(target=lambda: _capture(outcome, Toxiproxy().reset), daemon=True)
    try:
        worker.start()
        worker.join(4 * TIMEOUT_S)
        assert worker.is_alive() and outcome == []  # still blocked long after our timeout
    finally:
        APIConsumer.host, APIConsumer.port = saved


def _capture(outcome: list[BaseException | bool], call: object) -> None:
    try:
        outcome.append(call())  # type: ignore[operator]
    except requests.RequestException as exc:
        outcome.append(exc)


@pytest.fixture()
def hangable() -> Iterator[tuple[str, EmbeddedToxiproxy, EmbeddedToxiproxy]]:
    """(API URL through a proxy, the real server, the server holding that proxy)."""
    with EmbeddedToxiproxy() as real, EmbeddedToxiproxy() as front:
        resp = requests.post(front.url + "/proxies", json={"name": "api", "upstream": f"127.0.0.1:{real.port}"},
                             timeout=5)
        yield f"http://{resp.json()['listen']}", real, front


def test_a_server_that_stops_answering_mid_run_cannot_hang_remove_or_the_schedule_cleanup(
        hangable: tuple[str, EmbeddedToxiproxy, EmbeddedToxiproxy]) -> None:
    url, real, front = hangable
    with TcpUpstream("echo") as echo:
        ctl = FaultController(url, clock=ManualClock(0.0), timeout_s=TIMEOUT_S)
        ctl.ensure_proxy("p", echo.address)
        ctl.apply(FaultSpec("p", "latency", attributes={"latency": 10}))
        requests.post(front.url + "/proxies/api/toxics", json={"type": "timeout", "attributes": {"timeout": 0}},
                      timeout=5)  # from now on every answer of the real server is swallowed
        with pytest.raises(FaultControlError, match=f"{url}.*0.5 s timeout"):
            ctl.remove("latency_downstream")
        schedule = FaultSchedule.parse([{"at": 0, "duration": 1, "proxy": "p", "toxic": "down"}])
        with pytest.raises(FaultControlError, match="0.5 s timeout"):
            schedule.run(ctl, ManualClock(0.0))  # the apply fails, then the cleanup's reset: both bounded
        requests.delete(front.url + "/proxies/api/toxics/timeout_downstream", timeout=5)
        ctl.reset()  # answers again: the server itself was never stuck
        assert ctl.active() == []
        ctl.close()
