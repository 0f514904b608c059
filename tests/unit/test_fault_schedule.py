"""Fault schedule parsing and playback, and the fault controller, against the embedded server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import HarnessConfigurationError
from harness.faults.client import FaultControlError, FaultController, FaultSpec, fault_windows
from harness.faults.schedule import FaultSchedule, ScheduleError
from harness.outputs import Event
from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy
from reference_impl.clock import ManualClock

pytestmark = pytest.mark.timeout(60)


def entry(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"at": 1, "duration": 2, "proxy": "p", "toxic": "latency",
                            "attributes": {"latency": 50}}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(("bad", "field"), [
    ({"at": None}, "at"),
    ({"at": -1}, "at"),
    ({"at": "soon"}, "at"),
    ({"duration": 0}, "duration"),
    ({"duration": float("inf")}, "duration"),
    ({"proxy": ""}, "proxy"),
    ({"toxic": "meteor"}, "toxic"),
    ({"stream": "sideways"}, "stream"),
    ({"toxicity": 1.5}, "toxicity"),
    ({"attributes": {"latncy": 5}}, "attributes.latncy"),
    ({"attributes": {"latency": 2.5}}, "attributes"),
    ({"toxic": "bandwidth", "attributes": {"rate": -1}}, "attributes"),
    ({"toxic": "down", "attributes": {"latency": 1}}, "attributes"),
    ({"name": "a/b"}, "name"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_entries_name_index_and_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(ScheduleError) as info:
        FaultSchedule.parse([entry(), entry(**bad)])
    assert (info.value.index, info.value.field) == (1, field)
    assert isinstance(info.value, HarnessConfigurationError)
    assert str(info.value).startswith(f"fault schedule entry 1: {field}: ")


def test_schedule_must_be_a_list_and_same_name_windows_must_not_overlap() -> None:
    with pytest.raises(ScheduleError):
        FaultSchedule.parse({"at": 1})  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="overlaps entry 0"):
        FaultSchedule.parse([entry(name="x"), entry(at=2, name="x")])
    FaultSchedule.parse([entry(name="x"), entry(at=3, name="x")])  # back to back is fine


def test_defaults_unique_names_active_at_and_action_order() -> None:
    schedule = FaultSchedule.parse([
        entry(at=0, duration=5, proxy="a"),
        entry(at=2, duration=1, proxy="a", toxic="down", attributes={}),
        entry(at=5, duration=1, proxy="b", toxic="timeout", stream="upstream", attributes={}),
    ])
    assert [e.spec.fault_name for e in schedule.entries] == ["latency_downstream_0", "down_a_1", "timeout_upstream_2"]
    assert schedule.entries[0].spec.toxicity == 1.0 and schedule.end_s == 6
    assert schedule.active_at(2.5) == ["latency_downstream_0", "down_a_1"]
    assert schedule.active_at(3.0, proxy="a") == ["latency_downstream_0"]
    assert schedule.active_at(5.0) == ["timeout_upstream_2"]  # windows are [at, at + duration)
    assert schedule.active_at(6.0) == []
    order = [(t, kind, e.index) for t, kind, e in schedule.actions()]
    assert order == [(0, 1, 0), (2, 1, 1), (3, 0, 1), (5, 0, 0), (5, 1, 2), (6, 0, 2)]


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as tp:
        yield tp


@pytest.fixture(scope="module")
def echo() -> Iterator[TcpUpstream]:
    with TcpUpstream("echo") as upstream:
        yield upstream


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture()
def controller(toxiproxy: EmbeddedToxiproxy, echo: TcpUpstream, clock: ManualClock) -> Iterator[FaultController]:
    seen: list[Event] = []
    with FaultController(toxiproxy.url, clock=clock, on_event=seen.append) as ctl:
        ctl.ensure_proxy("primary", echo.address)
        ctl.ensure_proxy("secondary", echo.address)
        ctl.seen = seen  # type: ignore[attr-defined]
        yield ctl
        ctl.reset()


def test_ensure_proxy_is_idempotent_and_recreates_on_a_new_upstream(controller: FaultController,
                                                                    echo: TcpUpstream) -> None:
    first = controller.ensure_proxy("primary", echo.address)
    assert controller.ensure_proxy("primary", echo.address) == first
    with socket.create_connection(("127.0.0.1", int(first.rsplit(":", 1)[1])), timeout=5) as conn:
        conn.sendall(b"hi")
        assert conn.recv(10) == b"hi"
    controller.ensure_proxy("other", "127.0.0.1:1")
    moved = controller.ensure_proxy("other", echo.address)
    assert moved.startswith("127.0.0.1:")


def test_apply_remove_events_and_active(controller: FaultController, clock: ManualClock) -> None:
    clock.advance(1.5)
    name = controller.apply(FaultSpec("primary", "latency", "upstream", {"latency": 20}, 0.5))
    assert name == "latency_upstream"
    active = controller.active()
    assert [(f.proxy, f.name, f.toxic, f.stream, f.toxicity) for f in active] == [
        ("primary", "latency_upstream", "latency", "upstream", 0.5)]
    assert active[0].attributes == {"latency": 20, "jitter": 0}
    with pytest.raises(FaultControlError, match="already active"):
        controller.apply(FaultSpec("primary", "latency", "upstream", {"latency": 20}))
    clock.advance(2.0)
    controller.remove("latency_upstream")
    assert controller.active() == []
    assert [(e.t, e.kind, e.source, e.data["name"]) for e in controller.events] == [
        (1.5, "fault.applied", "toxiproxy", "latency_upstream"), (3.5, "fault.removed", "toxiproxy", "latency_upstream")]
    assert controller.events[0].data == {"proxy": "primary", "toxic": "latency", "stream": "upstream",
                                         "attributes": {"latency": 20}, "toxicity": 0.5, "name": "latency_upstream"}
    assert controller.seen == controller.events  # type: ignore[attr-defined]


def test_errors_are_typed_and_change_nothing(controller: FaultController) -> None:
    with pytest.raises(FaultControlError, match="no proxy named 'nope'"):
        controller.apply(FaultSpec("nope", "latency"))
    with pytest.raises(FaultControlError, match="invalid toxic type"):
        controller.apply(FaultSpec("primary", "meteor"))
    with pytest.raises(FaultControlError, match="not active"):
        controller.remove(FaultSpec("primary", "latency"))
    assert controller.active() == [] and controller.events == []


def test_overlapping_downs_are_reference_counted(controller: FaultController) -> None:
    controller.apply(FaultSpec("primary", "down", name="d1"))
    controller.apply(FaultSpec("primary", "down", name="d2"))
    assert [f.name for f in controller.active()] == ["d1", "d2"]
    controller.remove("d1")
    assert [(f.proxy, f.toxic) for f in controller.active()] == [("primary", "down")]
    controller.remove("d2")
    assert controller.active() == []
    controller.down("secondary")
    controller.up("secondary")
    assert controller.active() == []


def test_reset_records_a_removal_for_each_active_fault(controller: FaultController) -> None:
    controller.apply(FaultSpec("primary", "timeout", attributes={"timeout": 0}))
    controller.down("secondary")
    controller.reset()
    assert controller.active() == []
    removed = [e for e in controller.events if e.kind == "fault.removed"]
    assert {e.data["name"] for e in removed} == {"timeout_downstream", "down_secondary"}
    assert all(e.data["reset"] for e in removed)


def test_schedule_plays_overlapping_windows_on_the_clock(controller: FaultController, clock: ManualClock) -> None:
    schedule = FaultSchedule.parse([
        {"at": 1, "duration": 3, "proxy": "primary", "toxic": "latency", "attributes": {"latency": 100}},
        {"at": 2, "duration": 1, "proxy": "primary", "toxic": "down"},
        {"at": 2.5, "duration": 2, "proxy": "primary", "toxic": "down"},
        {"at": 2, "duration": 0.5, "proxy": "secondary", "toxic": "bandwidth", "stream": "upstream",
         "attributes": {"rate": 10}, "toxicity": 0.5},
    ])
    snapshots: list[tuple[float, list[str]]] = []
    real_apply = controller.apply

    def spy(spec: FaultSpec) -> str:
        name = real_apply(spec)
        snapshots.append((clock.now() - 100.0, sorted(f.name for f in controller.active())))
        return name

    controller.apply = spy  # type: ignore[method-assign]
    assert schedule.run(controller, clock) is True
    assert clock.now() == pytest.approx(104.5)
    assert snapshots == [
        (1.0, ["latency_downstream_0"]),
        (2.0, ["down_primary_1", "latency_downstream_0"]),
        (2.0, ["bandwidth_upstream_3", "down_primary_1", "latency_downstream_0"]),
        (2.5, ["down_primary_1", "down_primary_2", "latency_downstream_0"]),
    ]
    windows = fault_windows(controller.events)
    assert [(w["name"], w["at_s"], w["end_s"]) for w in windows] == [
        ("latency_downstream_0", 1.0, 4.0), ("down_primary_1", 2.0, 3.0),
        ("bandwidth_upstream_3", 2.0, 2.5), ("down_primary_2", 2.5, 4.5)]
    assert controller.active() == []
    assert max(clock.sleeps) <= 0.1


def test_stop_event_ends_early_and_cleans_up(controller: FaultController, clock: ManualClock) -> None:
    stop = threading.Event()
    schedule = FaultSchedule.parse([{"at": 0, "duration": 100, "proxy": "primary", "toxic": "down"}])
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds)
        if clock.now() >= 110.0:
            stop.set()

    clock.sleep = sleep  # type: ignore[method-assign]
    assert schedule.run(controller, clock, stop) is False
    assert 110.0 <= clock.now() <= 110.2
    assert controller.active() == []
    assert [e.kind for e in controller.events] == ["fault.applied", "fault.removed"]


def test_failure_mid_schedule_still_resets(controller: FaultController, clock: ManualClock) -> None:
    schedule = FaultSchedule.parse([
        {"at": 0, "duration": 5, "proxy": "primary", "toxic": "latency", "attributes": {"latency": 1}},
        {"at": 1, "duration": 5, "proxy": "missing", "toxic": "down"},
    ])
    with pytest.raises(FaultControlError, match="no proxy named 'missing'"):
        schedule.run(controller, clock)
    assert controller.active() == []


def test_url_from_environment_and_bad_urls(monkeypatch: pytest.MonkeyPatch, toxiproxy: EmbeddedToxiproxy) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", toxiproxy.url)
    with FaultController() as ctl:
        assert ctl.url == toxiproxy.url and ctl._embedded is None
    monkeypatch.setenv("TOXIPROXY_URL", "ftp://nowhere")
    with pytest.raises(HarnessConfigurationError, match="TOXIPROXY_URL"):
        FaultController()


def test_without_url_an_embedded_server_is_started_and_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    ctl = FaultController()
    port = int(ctl.url.rsplit(":", 1)[1])
    assert ctl.active() == []
    ctl.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
