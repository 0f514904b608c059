"""JudgeContext normalises evidence and refuses malformed input with JudgingError."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.judges.context import Check, FaultWindow, JudgeContext, JudgingError, JudgingParams
from harness.outputs import Event, RequestRecord

EPOCH = 1_764_300_000.0


def rec(sent: float, status: int = 200, latency: float = 10.0) -> RequestRecord:
    return RequestRecord(sent, sent, "channel", "POST", "/c", status, latency, latency)


def test_build_converts_epoch_stamps_and_sorts() -> None:
    ctx = JudgeContext.build(
        [rec(2.0), rec(1.0)],
        events=[{"t": EPOCH + 5.0, "source": "service", "kind": "alert", "data": {}}, Event(1.0, "harness", "note")],
        access_log=[{"t": EPOCH + 3.5, "listener": "0", "method": "GET", "path": "/", "status": 200}],
        faults=[{"at_s": 5, "end_s": 9, "proxy": "horizon-primary", "toxic": "down", "extra": "ignored"}],
        run_start_epoch=EPOCH)
    assert [e.t for e in ctx.events] == [1.0, 5.0]
    assert ctx.access_log[0]["t"] == pytest.approx(3.5) and ctx.access_log[0]["listener"] == 0
    assert ctx.faults[0].is_outage and ctx.faults[0].label == "horizon-primary/down"
    assert ctx.duration_s == pytest.approx(9.0)
    assert ctx.records["ratelimit_headers_ok"].tolist() == [-1, -1]


@pytest.mark.parametrize("bad", [
    {"faults": [{"at_s": 9, "end_s": 5, "proxy": "p", "toxic": "down"}]},
    {"faults": [{"at_s": 1, "end_s": 5, "proxy": "p", "toxic": "down", "toxicity": 2.0}]},
    {"phases": [{"name": "x", "start_s": 0, "end_s": float("nan")}]},
    {"thresholds_ms": {"channel.latency": -1}},
    {"params": {"window_s": 0}},
    {"params": {"no_such_knob": 1}},
    {"rate_limits": {"decision": {"limit": 0, "window_s": 10}}},
    {"access_log": [{"t": 1.0}]},
    {"access_log": [{"t": "soon", "listener": 0}]},
    {"events": [{"t": 1.0, "data": {}}]},
])
def test_bad_input_is_a_typed_error(bad: dict) -> None:
    with pytest.raises(JudgingError) as info:
        JudgeContext.build([rec(1.0)], **bad)
    assert isinstance(info.value, HarnessError) and isinstance(info.value, ValueError)


def test_records_without_required_columns_are_refused() -> None:
    row = {"intended_s": 0, "sent_s": 0, "endpoint": "x", "method": "GET", "path": "/", "status": 200,
           "latency_from_intended_ms": 1}
    with pytest.raises(JudgingError, match="latency_ms"):
        JudgeContext.build([row])
    with pytest.raises(JudgingError, match="'status' is not numeric"):
        JudgeContext.build([{**row, "latency_ms": 1.0, "status": "OK"}])


def test_service_feed_events_are_accepted() -> None:
    feed = {"seq": 3, "t": EPOCH + 2.5, "kind": "breaker.transition", "data": {"breaker": "horizon-primary"}}
    ctx = JudgeContext.build([rec(1.0)], events=[feed], run_start_epoch=EPOCH)
    assert ctx.events[0] == Event(2.5, "service", "breaker.transition", {"breaker": "horizon-primary"})


def test_check_refuses_unknown_verdict_and_kind() -> None:
    with pytest.raises(JudgingError):
        Check("P30", "property", "n", "maybe", "r")
    with pytest.raises(JudgingError):
        Check("P30", "vibe", "n", "pass", "r")


def test_enabled_matches_exact_ids_and_prefixes() -> None:
    prm = JudgingParams(enabled=("target.", "P35"))
    assert prm.is_enabled("target.channel.latency") and prm.is_enabled("P35")
    assert not prm.is_enabled("P3") and not prm.is_enabled("recovery.0")
    assert JudgingParams().is_enabled("anything")


def test_repr_never_shows_known_secrets() -> None:
    ctx = JudgeContext.build([rec(1.0)], known_secrets=["tok-very-secret-value"])
    assert "tok-very-secret-value" not in repr(ctx)


def test_fault_window_overlap() -> None:
    f = FaultWindow(10.0, 20.0, "horizon-primary", "latency", attributes={"latency": 800})
    assert f.overlaps(19.9, 30) and not f.overlaps(20.0, 30) and not f.is_outage
    assert f.label == "horizon-primary/latency(latency=800)"
