"""The evidence contract on the judges' side: missing evidence makes the checks that need it inconclusive
("not observable: ..."), never pass, and never fail on the absence alone; every check states what it used."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.judges import judge, observability_table
from harness.judges.context import (
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    JudgeContext,
    JudgingError,
)
from harness.judges.observability import (
    EVIDENCE,
    FAULT_PATH,
    FEED_ALERTS,
    FEED_BREAKER,
    FEED_ERRORS,
    LEDGER_HISTORY,
    PROXY_ARRIVALS,
    RATE_LIMITS,
    SERVER_TIMING,
    STATE_SIZES,
    needs,
)
from harness.outputs import EXIT_INCONCLUSIVE, EXIT_MONEY_LOST
from harness.run.verdict import decide
from tests.fixtures.synthetic import make_evidence, write_metrics_export

FEED_OFF = {FEED_BREAKER: "GET /admin/events answered 404", FEED_ALERTS: "GET /admin/events answered 404",
            FEED_ERRORS: "GET /admin/events answered 404"}
ALL_IDS = ("target.settlement.finality", "recovery.0", "P30", "P31", "P32", "P33", "P34", "P35", "P36",
           "nothing-lost", "fees", "percentiles", "channels", "state-bounds")


def verdicts(ctx: JudgeContext) -> dict[str, str]:
    return {c.id: c.verdict for c in judge(ctx)}


def with_evidence(ctx: JudgeContext, **changes: object) -> JudgeContext:
    return replace(ctx, **changes)


def test_full_evidence_states_what_each_check_used_and_changes_no_verdict(tmp_path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    evidence = make_evidence(seed=5)
    write_metrics_export(evidence, tmp_path)
    ctx = evidence.context(run_dir=tmp_path)
    checks = {c.id: c for c in judge(ctx)}
    assert set(ALL_IDS) <= set(checks)
    for cid, check in checks.items():
        assert check.verdict == VERDICT_PASS, (cid, check.reason)
        assert tuple(check.evidence_used) == needs(cid) and check.not_observable == {}
        assert "partial_verdict" not in check.figures
    assert all(row["available"] == "yes" for row in observability_table(ctx).values())
    assert set(observability_table(ctx)) == set(EVIDENCE)


def test_admin_feed_off_makes_exactly_the_feed_checks_not_observable_and_the_run_inconclusive(tmp_path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    evidence = make_evidence(seed=5)
    write_metrics_export(evidence, tmp_path)
    ctx = with_evidence(evidence.context(run_dir=tmp_path), unavailable=FEED_OFF)
    checks = {c.id: c for c in judge(ctx)}
    feed_checks = {"P30", "P31", "P33", "P35"}
    for cid in feed_checks:
        assert checks[cid].verdict == VERDICT_INCONCLUSIVE
        assert checks[cid].reason.startswith("not observable: feed:")
        assert "GET /admin/events answered 404" in checks[cid].reason
        assert checks[cid].figures["partial_verdict"] in (VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE)
    assert {cid for cid, c in checks.items() if c.verdict != VERDICT_PASS} == feed_checks
    verdict = decide(list(checks.values()))
    assert verdict.exit_code == EXIT_INCONCLUSIVE and all(cid in verdict.reason for cid in feed_checks)


def test_an_absent_feed_cannot_fake_a_failure() -> None:
    """Without the feed no breaker transition is seen, which alone would read "never opened": not a failure."""
    ctx = with_evidence(make_evidence(seed=5).context(), unavailable=FEED_OFF)
    ctx = with_evidence(ctx, events=tuple(e for e in ctx.events if e.source != "service"))
    p35 = next(c for c in judge(ctx) if c.id == "P35")
    assert p35.verdict == VERDICT_INCONCLUSIVE and p35.figures["partial_verdict"] == VERDICT_FAIL
    assert p35.not_observable.keys() == {FEED_BREAKER}


def test_p35_needs_the_arrival_log_and_fails_on_a_leak_it_shows() -> None:
    gone = {PROXY_ARRIVALS: "a real Toxiproxy has no arrival log"}
    assert verdicts(with_evidence(make_evidence(seed=5).context(), unavailable=gone))["P35"] == VERDICT_INCONCLUSIVE
    leak = verdicts(make_evidence(seed=5, bugs={"leak-while-open"}).context())
    assert leak["P35"] == VERDICT_FAIL


def test_fault_checks_need_the_fault_path() -> None:
    gone = {FAULT_PATH: "the target was not started with the run's worlds"}
    result = verdicts(with_evidence(make_evidence(seed=5, bugs={"no-failover"}).context(), unavailable=gone))
    assert {cid for cid, v in result.items() if v == VERDICT_INCONCLUSIVE} >= {"P35", "P36", "recovery.0"}
    assert result["P36"] == VERDICT_INCONCLUSIVE  # would fail, but the faults may never have reached the target
    assert result["target.channel.latency"] == VERDICT_PASS


def test_without_ledger_history_money_checks_are_inconclusive_not_money_lost() -> None:
    gone = {LEDGER_HISTORY: "Horizon answered 503"}
    ctx = with_evidence(make_evidence(seed=5, bugs={"lost"}).context(), unavailable=gone)
    checks = judge(ctx)
    result = {c.id: c.verdict for c in checks}
    assert {cid for cid in ("P31", "P32", "P33", "nothing-lost") if result[cid] == VERDICT_INCONCLUSIVE} == {
        "P31", "P32", "P33", "nothing-lost"}
    assert decide(checks).exit_code == EXIT_INCONCLUSIVE
    assert decide(judge(make_evidence(seed=5, bugs={"lost"}).context())).exit_code == EXIT_MONEY_LOST


def test_missing_server_timing_and_rate_limits_are_read_from_the_evidence() -> None:
    ev = make_evidence(seed=5)
    for r in ev.records:
        r.server_ms = -1.0
    ctx = with_evidence(ev.context(), rate_limits={})
    checks = {c.id: c for c in judge(ctx)}
    assert checks["P30"].not_observable.keys() == {SERVER_TIMING}
    assert checks["P34"].not_observable.keys() == {RATE_LIMITS}
    table = observability_table(ctx)
    assert table[SERVER_TIMING]["available"] == "no" and "Server-Timing" in table[SERVER_TIMING]["why"]


def test_state_bounds_needs_the_store_sizes_the_target_announces() -> None:
    """A target whose /health announces no `state` leaves state-bounds not observable (never pass), even where
    the unbounded store would have failed it; the run's own reason (the poller's) wins over the derived one."""
    unbounded = make_evidence(seed=5, bugs={"state-unbounded"}).context()
    assert verdicts(unbounded)["state-bounds"] == VERDICT_FAIL
    silent = with_evidence(unbounded, events=tuple(e for e in unbounded.events if e.kind != "state"))
    check = next(c for c in judge(silent) if c.id == "state-bounds")
    assert check.verdict == VERDICT_INCONCLUSIVE and check.not_observable.keys() == {STATE_SIZES}
    assert check.reason.startswith("not observable: state-sizes") and "GET /health" in check.reason
    assert observability_table(silent)[STATE_SIZES]["available"] == "no"
    polled = with_evidence(silent, unavailable={STATE_SIZES: "none of 70 GET /health answers announced store sizes"})
    assert "none of 70 GET /health answers" in next(c for c in judge(polled) if c.id == "state-bounds").reason


def test_sources_name_where_evidence_came_from_and_unknown_names_are_refused() -> None:
    ev = make_evidence(seed=5)
    ctx = JudgeContext.build(ev.records, events=ev.events, sources={PROXY_ARRIVALS: "fault proxy arrival log"})
    p35 = next(c for c in judge(ctx) if c.id == "P35")
    assert p35.evidence_used[PROXY_ARRIVALS] == "fault proxy arrival log"
    with pytest.raises(JudgingError, match="unknown evidence"):
        JudgeContext.build(ev.records, unavailable={"feed:everything": "?"})


@pytest.mark.parametrize("check_id", [*ALL_IDS, "capacity", "secret-scan", "target.x402.handshake", "recovery.7"])
def test_every_check_id_has_a_declared_need(check_id: str) -> None:
    from harness.judges.observability import NEEDS

    assert check_id in NEEDS or any(p.endswith(".") and check_id.startswith(p) for p in NEEDS)
