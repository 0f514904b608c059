"""Submission semantics: duplicates, stored outcomes, sequence gaps, bounded queues, closes."""

from __future__ import annotations

import pytest
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from harness.ledger.config import LedgerConfig
from harness.ledger.errors import MalformedEnvelopeError
from harness.ledger.genesis import generated_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock

SEED = 5


def make_ledger(**overrides: object) -> Ledger:
    config = LedgerConfig(auto_close=False, generate_accounts=3, seed=SEED, **overrides)  # type: ignore[arg-type]
    return Ledger(config, clock=ManualClock())


def payment(ledger: Ledger, kp: Keypair, seq: int, amount: str = "1", memo: str | None = None) -> str:
    """A signed payment to account 1 with transaction sequence number `seq`."""
    b = TransactionBuilder(Account(kp.public_key, seq - 1), ledger.passphrase, 100)
    b.append_payment_op(generated_keypair(SEED, 1).public_key, Asset.native(), amount).set_timeout(600)
    if memo:
        b.add_text_memo(memo)
    env = b.build()
    env.sign(kp)
    return env.to_xdr()


def next_seq(ledger: Ledger, kp: Keypair) -> int:
    return ledger.account(kp.public_key).seq_num + 1


def test_same_bytes_twice_applies_once_and_replays_outcome() -> None:
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    xdr = payment(ledger, a, next_seq(ledger, a))
    first = ledger.submit(xdr)
    assert first.status is SubmitStatus.PENDING
    assert ledger.submit(xdr).status is SubmitStatus.DUPLICATE
    closed = ledger.close_ledger()
    assert len(closed.applied) == 1
    again = ledger.submit(xdr)
    assert again.status is SubmitStatus.KNOWN and again.applied == closed.applied[0]
    assert ledger.close_ledger().applied == ()
    applied = [r for r in ledger.history() if r["kind"] == "applied"]
    assert len(applied) == 1 and applied[0]["hash"] == first.hash
    outcomes = [r["outcome"] for r in ledger.history() if r["kind"] == "submission"]
    assert outcomes == ["queued", "duplicate", "known"]


def test_sequence_gap_waits_then_fills_in_order() -> None:
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    seq = next_seq(ledger, a)
    later = ledger.submit(payment(ledger, a, seq + 1))
    assert later.status is SubmitStatus.PENDING
    assert ledger.close_ledger().applied == ()  # gap: waits
    first = ledger.submit(payment(ledger, a, seq))
    closed = ledger.close_ledger()
    assert [t.hash for t in closed.applied] == [first.hash, later.hash]
    assert ledger.account(a.public_key).seq_num == seq + 1


def test_gap_limits_and_same_sequence_conflict() -> None:
    ledger = make_ledger(max_seq_gap=3, max_account_queue=2)
    a = generated_keypair(SEED, 0)
    seq = next_seq(ledger, a)
    assert ledger.submit(payment(ledger, a, seq + 3)).rejection.code == "tx_bad_seq"  # too far ahead
    assert ledger.submit(payment(ledger, a, seq)).status is SubmitStatus.PENDING
    conflict = ledger.submit(payment(ledger, a, seq, memo="other"))
    assert conflict.status is SubmitStatus.ERROR and conflict.rejection.code == "tx_bad_seq"
    assert ledger.submit(payment(ledger, a, seq + 1)).status is SubmitStatus.PENDING
    assert ledger.submit(payment(ledger, a, seq + 2)).status is SubmitStatus.TRY_AGAIN_LATER


def test_unfilled_gap_is_dropped_after_ttl() -> None:
    ledger = make_ledger(pending_ttl_ledgers=3)
    a = generated_keypair(SEED, 0)
    stuck = ledger.submit(payment(ledger, a, next_seq(ledger, a) + 1))
    dropped = []
    for _ in range(3):
        dropped += ledger.close_ledger().dropped
    assert [(d.hash, d.result.code) for d in dropped] == [(stuck.hash, "tx_bad_seq")]
    assert ledger.pending_count() == 0
    assert [r["reason"] for r in ledger.history() if r["kind"] == "dropped"] == ["tx_bad_seq"]


def test_bounded_pending_queue() -> None:
    ledger = make_ledger(max_pending=2)
    keys = [generated_keypair(SEED, i) for i in range(3)]
    statuses = [ledger.submit(payment(ledger, kp, next_seq(ledger, kp))).status for kp in keys]
    assert statuses == [SubmitStatus.PENDING, SubmitStatus.PENDING, SubmitStatus.TRY_AGAIN_LATER]


def test_tx_set_size_limit_carries_over() -> None:
    ledger = make_ledger(max_tx_set_size=2)
    a = generated_keypair(SEED, 0)
    seq = next_seq(ledger, a)
    for i in range(3):
        ledger.submit(payment(ledger, a, seq + i))
    assert len(ledger.close_ledger().applied) == 2
    assert len(ledger.close_ledger().applied) == 1


def test_malformed_input_is_recorded_and_changes_nothing() -> None:
    ledger = make_ledger()
    before = ledger.snapshot()
    for bad in ["", "not base64 !!", "AAAA", "QUJD" * 10]:
        with pytest.raises(MalformedEnvelopeError):
            ledger.submit(bad)
    after = ledger.snapshot()
    assert after["accounts"] == before["accounts"] and after["pending"] == []
    assert [r["outcome"] for r in ledger.history()] == ["malformed"] * 4


def test_close_time_never_goes_backwards_and_headers_chain() -> None:
    ledger = make_ledger()
    first = ledger.close_ledger().header
    second = ledger.close_ledger().header
    assert second.prev_hash == first.hash and second.sequence == first.sequence + 1
    assert second.close_time >= first.close_time
    assert [h.sequence for h in ledger.headers(descending=True, limit=2, cursor=None)] == [3, 2]
    assert [h.sequence for h in ledger.headers(descending=False, limit=2, cursor=1)] == [2, 3]


def test_friendbot_creates_accounts_with_successive_root_sequences() -> None:
    ledger = make_ledger()
    new = [Keypair.random().public_key for _ in range(3)]
    results = [ledger.submit(ledger.friendbot_envelope(addr), endpoint="friendbot") for addr in new]
    assert all(r.status is SubmitStatus.PENDING for r in results)
    closed = ledger.close_ledger()
    assert [t.successful for t in closed.applied] == [True] * 3
    assert all(ledger.balance_of(addr) == ledger.config.friendbot_amount for addr in new)
    again = ledger.submit(ledger.friendbot_envelope(new[0]))
    assert again.status is SubmitStatus.PENDING
    assert ledger.close_ledger().applied[0].result.result_codes()["operations"] == ["op_already_exists"]


def test_outcome_listener_sees_applied_and_dropped() -> None:
    ledger = make_ledger(pending_ttl_ledgers=1)
    a = generated_keypair(SEED, 0)
    seen: list[tuple[str, str]] = []
    ledger.add_listener(lambda h, o: seen.append((h, type(o).__name__)))
    ok = ledger.submit(payment(ledger, a, next_seq(ledger, a)))
    gap = ledger.submit(payment(ledger, a, next_seq(ledger, a) + 5))
    ledger.close_ledger()
    assert seen == [(ok.hash, "AppliedTx"), (gap.hash, "Dropped")]
