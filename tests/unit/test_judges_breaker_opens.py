"""P35 breaker truth: an open of a Horizon breaker needs a reason the judge can see (a fault on its proxy
active, or a 5xx on its path just before); one with neither is a finding, on either breaker."""

from __future__ import annotations

from dataclasses import replace

from harness.judges.breaker import judge_breaker, unexplained_opens
from harness.judges.context import VERDICT_FAIL, VERDICT_PASS
from harness.outputs import Event
from tests.fixtures.synthetic import make_evidence


def with_opens(*opens: tuple[float, str], arrivals: tuple[dict, ...] = ()):
    ctx = make_evidence(seed=3).context()
    extra = []
    for t, breaker in opens:
        extra += [Event(t, "service", "breaker.transition", {"breaker": breaker, "from": "closed", "to": "open"}),
                  Event(t + 10.0, "service", "breaker.transition", {"breaker": breaker, "from": "open", "to": "half_open"}),
                  Event(t + 10.2, "service", "breaker.transition", {"breaker": breaker, "from": "half_open", "to": "closed"})]
    events = tuple(sorted((*ctx.events, *extra), key=lambda e: e.t))
    log = tuple(sorted((*ctx.access_log, *arrivals), key=lambda a: a["t"]))
    return replace(ctx, events=events, access_log=log)


def test_the_scheduled_outages_explain_every_open_of_a_correct_service():
    ctx = make_evidence(seed=3).context()
    assert unexplained_opens(ctx) == [] and judge_breaker(ctx).verdict == VERDICT_PASS


def test_an_open_with_no_fault_and_no_failure_fails_p35_for_either_breaker():
    for breaker in ("horizon-primary", "horizon-secondary"):
        check = judge_breaker(with_opens((20.0, breaker)))
        assert check.verdict == VERDICT_FAIL and "no fault active and no failure seen" in check.reason
        assert check.figures["unexplained_opens"] == 1
        assert any(e.get("breaker") == breaker and e.get("t") == 20.0 for e in check.evidence if isinstance(e, dict))


def test_a_failed_answer_on_the_breakers_path_explains_an_open():
    failing = tuple({"index": 10_000 + i, "t": 18.0 + 0.3 * i, "listener": 1, "method": "POST",
                     "path": "/transactions", "status": 503} for i in range(5))
    assert unexplained_opens(with_opens((20.0, "horizon-secondary"), arrivals=failing)) == []
    # a 5xx on the other breaker's path explains nothing, nor does one long before the open
    assert len(unexplained_opens(with_opens((20.0, "horizon-primary"), arrivals=failing))) == 1
    assert len(unexplained_opens(with_opens((40.0, "horizon-secondary"), arrivals=failing))) == 1
