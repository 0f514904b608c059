"""The /health contract judge (harness/judges/health.py) and the service's own answer (service/health.py)."""

from __future__ import annotations

import pytest

from harness.judges.context import JudgeContext
from harness.judges.health import all_open_intervals, judge_health
from harness.outputs import Event
from reference_impl.service.faults import always_healthy
from reference_impl.service.health import health_summary

BOTH_DOWN = [{"at_s": 20.0, "end_s": 30.0, "proxy": p, "toxic": "down"} for p in ("horizon-primary", "horizon-secondary")]
OPENED = [(21.0, "horizon-primary", "closed", "open"), (21.5, "horizon-secondary", "closed", "open"),
          (31.5, "horizon-primary", "open", "half_open"), (31.6, "horizon-primary", "half_open", "closed"),
          (32.0, "horizon-secondary", "open", "half_open"), (32.1, "horizon-secondary", "half_open", "closed")]


def breakers_at(t: float) -> dict[str, str]:
    state = {"horizon-primary": "closed", "horizon-secondary": "closed"}
    for at, name, _, to in OPENED:
        if at <= t:
            state[name] = to
    return state


def context(answer=health_summary, report_breakers: bool = True, faults=BOTH_DOWN) -> JudgeContext:
    events = [Event(at, "service", "breaker.transition", {"breaker": b, "from": f, "to": to}) for at, b, f, to in OPENED]
    for k in range(40):
        breakers = breakers_at(k + 0.5)
        status, ready = answer(breakers)
        events.append(Event(k + 0.51, "service", "health", {"status": status, "ready": ready, "asked_at": k + 0.5,
                                                            "breakers": breakers if report_breakers else {}}))
    return JudgeContext.build([], events=events, faults=faults, duration_s=40.0)


@pytest.mark.parametrize(("breakers", "expected"), [
    ({"a": "closed", "b": "closed"}, ("ok", True)), ({"a": "open", "b": "closed"}, ("degraded", True)),
    ({"a": "open", "b": "half_open"}, ("degraded", True)), ({"a": "open", "b": "open"}, ("degraded", False))])
def test_the_service_reads_ready_unless_every_breaker_is_open(breakers, expected):
    assert health_summary(breakers) == expected


def test_answers_following_the_breakers_pass():
    check = judge_health(context())
    assert check.verdict == "pass", check.reason
    assert check.figures["answers_while_both_down"] >= 5 and check.figures["answers_while_all_open"] >= 8


def test_always_ok_fails_on_its_own_breakers():
    check = judge_health(context(always_healthy))
    assert check.verdict == "fail" and "not closed" in check.reason


def test_always_ok_without_breakers_fails_on_the_feed_and_the_schedule():
    check = judge_health(context(always_healthy, report_breakers=False))
    assert check.verdict == "fail"
    assert {e["problem"] for e in check.evidence} >= {"healthy or ready while the feed shows every breaker open"}
    no_feed = JudgeContext.build([], events=[e for e in context(always_healthy, report_breakers=False).events
                                             if e.kind == "health"], faults=BOTH_DOWN, duration_s=40.0)
    assert judge_health(no_feed).evidence[0]["problem"] == "healthy and ready while both Horizons are down"


def test_no_outage_and_no_open_breakers_is_inconclusive():
    ctx = context(faults=[])
    clean = JudgeContext.build([], events=[e for e in ctx.events if e.kind == "health" and e.t < 20],
                               duration_s=20.0)
    assert judge_health(clean).verdict == "inconclusive"
    assert all_open_intervals(ctx) == [(21.5, 31.5)]
