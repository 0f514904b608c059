"""Every judge passes on clean synthetic evidence, fails on evidence with its bug, and is inconclusive on thin data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.judges import judge
from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS
from harness.outputs import read_records, write_records
from tests.fixtures.synthetic import make_evidence, write_metrics_export

BUG_BREAKS = {
    "slow-channel": "target.channel.latency",
    "slow-recovery": "recovery.0",
    "missed-alert": "P30",
    "false-alert": "P30",
    "logger-drops": "P31",
    "fuzz-5xx": "P32",
    "fuzz-wrong-field": "P32",
    "health-always-ok": "health",
    "tamper-accepted": "P33",
    "replay-race-served-twice": "P33",
    "limiter-double": "P34",
    "retry-after-short": "P34",
    "remaining-lies": "P34",
    "breaker-never-opens": "P35",
    "leak-while-open": "P35",
    "spurious-open": "P35",
    "no-failover": "P36",
    "both-down-hang": "P36",
    "double-pay": "nothing-lost",
    "lost": "nothing-lost",
    "state-unbounded": "state-bounds",
    "resubmits-failed": "fees",
    "conflict-accepted": "channels",
    "escrow-lost": "nothing-lost",
    "x402-lost": "nothing-lost",
    "x402-unserved": "nothing-lost",
    # the mutant table of the x402 v2 tamperers: any one kind accepted fails P33
    **{f"v2-accepts-{kind}": "P33" for kind in ("wrong_amount", "wrong_pay_to", "wrong_asset", "expired",
                                                "wrong_network", "replay")},
}


@pytest.fixture(scope="module")
def clean_checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "summary.json").write_text('{"verdict": "pass"}')
    evidence = make_evidence(seed=3)
    write_metrics_export(evidence, run_dir)
    return {c.id: c for c in judge(evidence.context(run_dir=run_dir))}


def test_clean_evidence_passes_every_check(clean_checks: dict) -> None:
    assert {cid: c.verdict for cid, c in clean_checks.items() if c.verdict != VERDICT_PASS} == {}
    expected = {f"target.{m}" for m in ("settlement.finality", "channel.latency", "x402.handshake",
                                        "x402.handshake.v2", "agent.decision", "contract.execution")}
    expected |= {"recovery.0", "recovery.1", "recovery.2", "nothing-lost", "fees", "percentiles",
                 "channels", "state-bounds", "health"}
    expected |= {f"P3{i}" for i in range(7)}
    assert set(clean_checks) == expected


@pytest.mark.parametrize("bug", sorted(BUG_BREAKS))
def test_each_bug_fails_exactly_its_check(bug: str, tmp_path: Path) -> None:
    checks = judge(make_evidence(seed=3, bugs={bug}).context(run_dir=tmp_path / "absent"))
    failed = {c.id for c in checks if c.verdict == VERDICT_FAIL}
    assert failed == {BUG_BREAKS[bug]}
    reason = next(c.reason for c in checks if c.id == BUG_BREAKS[bug])
    assert reason and len(reason) < 600


def test_thin_evidence_is_inconclusive_never_pass() -> None:
    ev = make_evidence(seed=3)
    ev.records = [r for r in ev.records if r.sent_s < 12.0]
    ev.events, ev.history, ev.access_log = [], [], []
    checks = judge(ev.context(min_samples=50))
    assert all(c.verdict == VERDICT_INCONCLUSIVE for c in checks), [(c.id, c.verdict) for c in checks]


def test_failing_check_names_its_evidence() -> None:
    checks = {c.id: c for c in judge(make_evidence(seed=3, bugs={"double-pay"}).context())}
    lost = checks["nothing-lost"]
    assert lost.figures["duplicated"] > 0 and lost.figures["lost"] == 0
    assert all(len(item["tx_hashes"]) == 2 for item in lost.evidence)


def test_enabled_limits_the_checks() -> None:
    checks = judge(make_evidence(seed=3).context(enabled=["target.", "P34"]))
    assert {c.id for c in checks} == {"P34", "target.settlement.finality", "target.channel.latency",
                                      "target.x402.handshake", "target.x402.handshake.v2", "target.agent.decision",
                                      "target.contract.execution"}


def _p30(ev: object, **params: object) -> object:
    return next(c for c in judge(ev.context(enabled=["P30"], **params)) if c.id == "P30")  # type: ignore[attr-defined]


def test_p30_matches_each_alert_to_a_server_value() -> None:
    p30 = _p30(make_evidence(seed=3))
    assert p30.verdict == VERDICT_PASS, p30.reason
    assert p30.figures["breaching_samples"] == p30.figures["alerted_samples"] == p30.figures["alerts"] > 0
    assert p30.figures["server_timed_samples"] == p30.figures["samples"] > 0


def test_p30_fails_when_server_values_breach_without_alerts() -> None:
    """alert-threshold-x10-like: the service recorded values above the threshold and stayed silent."""
    ev = make_evidence(seed=3)
    ev.events = [e for e in ev.events if e.kind != "alert"]
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_FAIL and p30.figures["missed_alerts"] == p30.figures["breaching_samples"] > 0


def test_p30_fails_on_alert_whose_value_no_sample_recorded() -> None:
    ev = make_evidence(seed=3)
    alert = next(e for e in ev.events if e.kind == "alert")
    alert.data["value_ms"] = float(alert.data["value_ms"]) + 0.5  # no sample has this server value
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_FAIL
    assert p30.figures["false_alerts"] == 1 and p30.figures["missed_alerts"] == 1


def test_p30_fails_on_alert_far_from_its_sample() -> None:
    ev = make_evidence(seed=3)
    alert = next(e for e in ev.events if e.kind == "alert")
    alert.t += 30.0
    assert _p30(ev).verdict == VERDICT_FAIL


def test_p30_client_only_breach_without_alert_passes() -> None:
    """Client latency over the threshold from queueing outside the service's span: no alert is due."""
    ev = make_evidence(seed=3)
    slow = [r for r in ev.records if r.endpoint == "channel" and r.status == 200][10:15]
    for r in slow:
        r.latency_ms = 140.0  # threshold 100 ms; the service recorded r.server_ms (about 20 ms)
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_PASS, p30.reason
    assert p30.figures["client_only_breaches"] == 5 and all(r.server_ms < 100.0 for r in slow)


def test_p30_fails_when_a_server_value_exceeds_the_client_latency() -> None:
    ev = make_evidence(seed=3)
    rec = next(r for r in ev.records if r.endpoint == "decision" and r.status == 200)
    rec.server_ms = rec.latency_ms + 50.0
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_FAIL and p30.figures["inconsistent_samples"] == 1


def test_p30_without_server_values_is_not_observable_even_when_alerts_are_missing() -> None:
    """No Server-Timing (server_ms = -1): what the target recorded is unknown, so P30 neither passes nor
    fails on client latency; through `judge` the evidence contract names the missing piece."""
    ev = make_evidence(seed=3)
    for r in ev.records:
        r.server_ms = -1.0
    ev.events = [e for e in ev.events if e.kind != "alert"]  # would be "missed alerts" on client latency
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_INCONCLUSIVE and "not observable" in p30.reason
    assert p30.figures["server_timed_samples"] == 0 and p30.figures["missed_alerts"] == 0
    settled = next(c for c in judge(ev.context()) if c.id == "P30")
    assert settled.verdict == VERDICT_INCONCLUSIVE and settled.not_observable.keys() == {"server-timing"}


def test_p30_old_csvs_read_back_untimed_and_one_untimed_metric_keeps_p30_from_passing(tmp_path: Path) -> None:
    """Records written before `server_ms` existed read back with -1; a metric without any server value
    is listed in `untimed_metrics` and P30 is inconclusive even though the timed metrics hold."""
    ev = make_evidence(seed=3)
    write_records(tmp_path / "new.csv", ev.records)
    with (tmp_path / "new.csv").open(newline="") as src, (tmp_path / "old.csv").open("w", newline="") as dst:
        rows = list(csv.reader(src))
        cut = rows[0].index("server_ms")
        csv.writer(dst).writerows([row[:cut] + row[cut + 1:] for row in rows])
    old = list(read_records(tmp_path / "old.csv"))
    assert len(old) == len(ev.records) and {r.server_ms for r in old} == {-1.0}
    for r in ev.records:
        if r.endpoint == "decision":
            r.server_ms = -1.0
    p30 = _p30(ev)
    assert p30.verdict == VERDICT_INCONCLUSIVE and p30.figures["untimed_metrics"] == "agent.decision", p30.reason


def test_p35_times_the_half_open_from_the_real_open_when_the_breaker_was_already_open() -> None:
    """A second outage that starts while the breaker is still open (a long breaker timeout): the timeout
    runs from the earlier open, so a half-open 30 s after it is correct and 3 s after it is not."""
    from harness.judges.breaker import Transition, _judge_fault
    from harness.judges.context import FaultWindow

    ctx = make_evidence(seed=3).context(breaker_timeout_s=30.0)
    second = FaultWindow(at_s=52.0, end_s=57.0, proxy="horizon-primary", toxic="down")
    correct = [Transition(25.0, "CLOSED", "OPEN"), Transition(55.1, "OPEN", "HALF_OPEN"),
               Transition(55.1, "HALF_OPEN", "OPEN")]
    problems, _ = _judge_fault(ctx, second, correct)
    assert not any("half-opened" in p for p in problems), problems
    early = [Transition(50.0, "CLOSED", "OPEN"), Transition(53.0, "OPEN", "HALF_OPEN"),
             Transition(53.0, "HALF_OPEN", "OPEN")]
    problems, _ = _judge_fault(ctx, second, early)
    assert any("half-opened 3.0 s after opening" in p for p in problems), problems
