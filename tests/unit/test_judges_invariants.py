"""Reconciliation, the secret scan, the rate-limit proof and P30's alert matching, on small hand-made evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from stellar_sdk import Keypair

from harness.judges import judge_secret_scan, reconcile
from harness.judges.alerting import judge_alerting
from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, JudgeContext, RateLimit
from harness.judges.nothing_lost import judge_nothing_lost
from harness.judges.rate_limits import max_excess
from harness.judges.secret_scan import OVERLAP_BYTES, scan_file
from harness.outputs import Event, RequestRecord


def settle(key: str, status: int, tx: str) -> RequestRecord:
    return RequestRecord(1.0, 1.0, "settlement", "POST", "/settlements", status, 900.0, 900.0,
                         idempotency_key=key, tx_hash=tx)


def applied(tx: str, key: str, ok: bool = True) -> dict:
    return {"kind": "applied", "hash": tx, "successful": ok,
            "memo": {"type": "hash", "value": hashlib.sha256(key.encode()).hexdigest()}}


def test_reconcile_counts_every_category() -> None:
    records = [settle("a", 200, "aa" * 32), settle("b", 200, "bb" * 32), settle("c", 200, "cc" * 32),
               settle("d", 504, "dd" * 32), settle("a", 200, "aa" * 32)]  # "a" acknowledged twice: one settlement
    history = [applied("aa" * 32, "a"), applied("b1" * 32, "b"), applied("b2" * 32, "b"),  # b double-paid
               applied("dd" * 32, "d"), applied("ee" * 32, "stranger"),
               {"kind": "submission", "hash": "cc" * 32, "outcome": "queued"}]  # c never applied: lost
    result = reconcile(JudgeContext.build(records, ledger_history=history))
    assert {k: result[k] for k in ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved",
                                   "unattributed")} == {"acknowledged": 3, "applied": 3, "lost": 1, "duplicated": 1,
                                                        "unknown_resolved": 1, "unattributed": 1}
    assert result["lost_keys"] == ["c"] and result["duplicated_keys"] == ["b"]


def test_nothing_lost_verdicts() -> None:
    ok = JudgeContext.build([settle("a", 200, "aa" * 32)], ledger_history=[applied("aa" * 32, "a")])
    assert judge_nothing_lost(ok).verdict == VERDICT_PASS
    lost = JudgeContext.build([settle("a", 200, "aa" * 32)], ledger_history=[applied("ff" * 32, "z")])
    assert judge_nothing_lost(lost).verdict == VERDICT_FAIL
    failed_tx = JudgeContext.build([settle("a", 200, "aa" * 32)], ledger_history=[applied("aa" * 32, "a", ok=False)])
    assert judge_nothing_lost(failed_tx).verdict == VERDICT_FAIL  # a failed tx is not an applied settlement
    assert judge_nothing_lost(JudgeContext.build([settle("a", 200, "aa" * 32)])).verdict == VERDICT_INCONCLUSIVE


def test_secret_scan_finds_a_real_seed_without_revealing_it(tmp_path: Path) -> None:
    seed = Keypair.random().secret
    (tmp_path / "charts").mkdir()
    (tmp_path / "summary.json").write_text('{"verdict": "pass", "note": "tx ' + "ab" * 32 + '"}')
    (tmp_path / "charts" / "log.txt").write_text("x" * 100 + " " + seed + "\n")
    (tmp_path / "token.txt").write_text("the service said: admin-token-value-123 was used\n")
    check = judge_secret_scan(JudgeContext.build([], run_dir=tmp_path, known_secrets=["admin-token-value-123"]))
    assert check.verdict == VERDICT_FAIL and check.figures == {"files": 3, "findings": 2}
    text = repr(check.to_dict())
    assert seed not in text and "admin-token-value-123" not in text
    assert {e["path"] for e in check.evidence} == {"charts/log.txt", "token.txt"}
    (tmp_path / "charts" / "log.txt").unlink()
    (tmp_path / "token.txt").unlink()
    assert judge_secret_scan(JudgeContext.build([], run_dir=tmp_path)).verdict == VERDICT_PASS
    assert judge_secret_scan(JudgeContext.build([])).verdict == VERDICT_INCONCLUSIVE


def test_secret_split_across_chunks_is_found_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.judges.secret_scan as scan

    seed = Keypair.random().secret
    monkeypatch.setattr(scan, "CHUNK_BYTES", 1024)
    path = tmp_path / "big.csv"
    path.write_text("y" * (1024 - 21) + " " + seed + " " + "z" * 3000)
    findings = scan_file(path)
    assert [(f.kind, f.count) for f in findings] == [("stellar-seed", 1)]
    assert OVERLAP_BYTES > len(seed)


@pytest.mark.parametrize("algorithm, count, spacing, expect_excess", [
    ("sliding-window", 10, 0.9, 0),  # 10 within 10 s: at the limit
    ("sliding-window", 11, 0.9, 1),  # 11 within 9.9 s: one over
    ("sliding-window", 20, 1.0, 0),  # one per second never exceeds 10 per 10 s
    ("token-bucket", 15, 0.5, 0),  # 10 + 1/s * 7 s allows 17
    ("token-bucket", 25, 0.1, 13),  # 25 in 2.4 s where 10 + 2.4 tokens allow 12
])
def test_rate_limit_proof(algorithm: str, count: int, spacing: float, expect_excess: int) -> None:
    sent = np.arange(count) * spacing
    excess, _, _ = max_excess(sent, sent + 0.005, RateLimit(10, 10.0, algorithm))
    assert excess == expect_excess


def test_rate_limit_proof_respects_response_time() -> None:
    sent = np.arange(11) * 0.9
    slow_last = sent + 0.005
    slow_last[-1] = sent[-1] + 1.0  # may have been admitted after the first one left the window
    assert max_excess(sent, slow_last, RateLimit(10, 10.0))[0] == 0


def alert_ctx(latencies: list[float], alerts: list[tuple[float, float]]) -> JudgeContext:
    records = [RequestRecord(t, t, "channel", "POST", "/c", 200, lat, lat, server_ms=lat - 2.0) for t, lat in
               ((i * 0.5, lat) for i, lat in enumerate(latencies))]
    events = [Event(t, "service", "alert", {"metric": "channel.latency", "value_ms": v, "threshold_ms": 100.0})
              for t, v in alerts]
    return JudgeContext.build(records, events=events, params={"min_samples": 10, "window_s": 10.0})


def test_alert_matching_rules() -> None:
    lat = [20.0] * 40
    lat[10] = 180.0  # completes at 5.18 s
    assert judge_alerting(alert_ctx(lat, [(5.5, 178.0)])).verdict == VERDICT_PASS
    late = judge_alerting(alert_ctx(lat, [(12.0, 178.0)]))
    assert late.verdict == VERDICT_FAIL and late.figures["missed_alerts"] == 1
    inflated = judge_alerting(alert_ctx(lat, [(5.5, 178.0), (6.0, 400.0)]))
    assert inflated.verdict == VERDICT_FAIL and inflated.figures["false_alerts"] == 1
    assert judge_alerting(alert_ctx([20.0] * 40, [])).verdict == VERDICT_INCONCLUSIVE
    assert judge_alerting(alert_ctx([20.0] * 40, [(3.0, 150.0)])).verdict == VERDICT_FAIL
