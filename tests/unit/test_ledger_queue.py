"""Submission semantics of stellar-core's transaction queue and Horizon's txsub, one rule per test.

Sources (git snapshots of stellar/stellar-core and stellar/stellar-horizon):
- src/herder/TransactionQueue.cpp: `canAdd` (one queued tx per source account, TRY_AGAIN_LATER,
  older sequence -> txBAD_SEQ, `isDuplicateTx`, the TxQueueLimiter refusal that bans), `removeApplied`
  (applied envelopes banned), `shift` (eviction after TRANSACTION_QUEUE_TIMEOUT_LEDGERS = 4),
  `isBanned` (TRANSACTION_QUEUE_BAN_LEDGERS = 10, src/herder/HerderImpl.cpp).
- src/transactions/TransactionFrame.cpp: `isBadSeq` (strict current + 1), `checkValidImpl` (a
  checkValid refusal's feeCharged = base fee x operations); `createTxErrorResult` (queue refusals: 0).
- src/herder/HerderImpl.cpp `updateTransactionQueue`: after a close, queued txs that became invalid are banned.
- stellar-horizon internal/txsub/system.go `Submit`: a sync submission looks the hash up first.
"""

from __future__ import annotations

import pytest
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder
from stellar_sdk.xdr import TransactionResult

from harness.ledger.config import LedgerConfig
from harness.ledger.errors import MalformedEnvelopeError
from harness.ledger.genesis import generated_keypair
from harness.ledger.ledger import QUEUE_TIMEOUT, Ledger
from harness.ledger.queue import BAN_LEDGERS, PENDING_DEPTH
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock
from tests.unit.mutants_ledger import QUEUE_MUTANTS, VALIDITY_MUTANTS

SEED = 5


def make_ledger(**overrides: object) -> Ledger:
    config = LedgerConfig(auto_close=False, generate_accounts=4, seed=SEED, **overrides)  # type: ignore[arg-type]
    return Ledger(config, clock=ManualClock())


def payment(ledger: Ledger, kp: Keypair, seq: int, amount: str = "1", memo: str | None = None, fee: int = 100,
            extra_signer: Keypair | None = None) -> str:
    """A signed payment to account 1 with transaction sequence number `seq`."""
    b = TransactionBuilder(Account(kp.public_key, seq - 1), ledger.passphrase, fee)
    b.append_payment_op(generated_keypair(SEED, 1).public_key, Asset.native(), amount).set_timeout(600)
    if memo:
        b.add_text_memo(memo)
    env = b.build()
    env.sign(kp)
    if extra_signer is not None:
        env.sign(extra_signer)
    return env.to_xdr()


def next_seq(ledger: Ledger, kp: Keypair) -> int:
    return ledger.account(kp.public_key).seq_num + 1


def fee_charged(rejection: object) -> int:
    return TransactionResult.from_xdr(rejection.to_xdr()).fee_charged.int64  # type: ignore[attr-defined]


def test_one_queued_transaction_per_source_account() -> None:
    """canAdd: a second transaction from a source with one queued is TRY_AGAIN_LATER, whatever its sequence."""
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    seq = next_seq(ledger, a)
    assert ledger.submit(payment(ledger, a, seq)).status is SubmitStatus.PENDING
    for other in (payment(ledger, a, seq + 1), payment(ledger, a, seq, memo="same seq, other tx")):
        result = ledger.submit(other)
        assert result.status is SubmitStatus.TRY_AGAIN_LATER and result.rejection is None
    assert ledger.pending_count() == 1
    assert [t.seq for t in ledger.close_ledger().applied] == [seq]
    assert ledger.submit(payment(ledger, a, seq + 1)).status is SubmitStatus.PENDING


def test_older_than_the_queued_one_is_bad_seq_with_no_fee() -> None:
    """canAdd: tx->getSeqNum() < currentTx->getSeqNum() -> ERROR txBAD_SEQ from createTxErrorResult (fee 0)."""
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    seq = next_seq(ledger, a)
    ledger.submit(payment(ledger, a, seq))
    older = ledger.submit(payment(ledger, a, seq - 1))
    assert older.status is SubmitStatus.ERROR and older.rejection.code == "tx_bad_seq"
    assert fee_charged(older.rejection) == 0


def test_a_sequence_gap_is_refused_at_once() -> None:
    """isBadSeq: anything but current + 1 fails checkValid; its result reports base fee x ops (checkValidImpl)."""
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    for seq in (next_seq(ledger, a) + 1, next_seq(ledger, a) + 10, next_seq(ledger, a) - 1):
        result = ledger.submit(payment(ledger, a, seq))
        assert result.status is SubmitStatus.ERROR and result.rejection.code == "tx_bad_seq"
        assert fee_charged(result.rejection) == 100
    assert ledger.pending_count() == 0 and ledger.close_ledger().applied == ()


def test_duplicate_is_the_same_envelope_not_the_same_transaction() -> None:
    """isDuplicateTx compares full hashes: the same tx with one more signature is a different envelope."""
    ledger = make_ledger()
    a, b = generated_keypair(SEED, 0), generated_keypair(SEED, 2)
    seq = next_seq(ledger, a)
    xdr = payment(ledger, a, seq)
    first = ledger.submit(xdr)
    assert ledger.submit(xdr).status is SubmitStatus.DUPLICATE
    resigned = ledger.submit(payment(ledger, a, seq, extra_signer=b))
    assert resigned.hash == first.hash and resigned.status is SubmitStatus.TRY_AGAIN_LATER
    outcomes = [r["outcome"] for r in ledger.history() if r["kind"] == "submission"]
    assert outcomes == ["queued", "duplicate", "try_again_later"]


def test_applied_envelope_is_banned_then_bad_seq_async_and_known_sync() -> None:
    """removeApplied bans applied envelopes for BAN_LEDGERS closes (async: TRY_AGAIN_LATER), then checkValid
    says txBAD_SEQ; Horizon's sync txsub finds the stored result first (KNOWN) and never reapplies."""
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    xdr = payment(ledger, a, next_seq(ledger, a))
    ledger.submit(xdr)
    applied = ledger.close_ledger().applied[0]
    for _ in range(BAN_LEDGERS - 1):
        assert ledger.submit(xdr).status is SubmitStatus.TRY_AGAIN_LATER
        ledger.close_ledger()
    late = ledger.submit(xdr)
    assert late.status is SubmitStatus.ERROR and late.rejection.code == "tx_bad_seq"
    sync = ledger.submit(xdr, endpoint="sync")
    assert sync.status is SubmitStatus.KNOWN and sync.applied == applied
    assert len([r for r in ledger.history() if r["kind"] == "applied"]) == 1


def test_full_queue_refuses_and_bans_the_envelope() -> None:
    """TxQueueLimiter full: TRY_AGAIN_LATER and ban({tx}); the same bytes stay refused, a rebuilt tx is fine."""
    ledger = make_ledger(max_pending=2)
    keys = [generated_keypair(SEED, i) for i in range(3)]
    envelopes = [payment(ledger, kp, next_seq(ledger, kp)) for kp in keys]
    assert [ledger.submit(x).status for x in envelopes] == [SubmitStatus.PENDING, SubmitStatus.PENDING,
                                                             SubmitStatus.TRY_AGAIN_LATER]
    ledger.close_ledger()
    assert ledger.submit(envelopes[2]).status is SubmitStatus.TRY_AGAIN_LATER  # banned
    rebuilt = payment(ledger, keys[2], next_seq(ledger, keys[2]), memo="rebuilt")
    assert ledger.submit(rebuilt).status is SubmitStatus.PENDING


def test_surge_pricing_and_eviction_after_pending_depth() -> None:
    """The tx set takes the highest fee per operation when ops exceed max_tx_set_size; a tx left out for
    PENDING_DEPTH closes is evicted and banned (shift)."""
    ledger = make_ledger(max_tx_set_size=1)
    cheap, rich = generated_keypair(SEED, 0), [generated_keypair(SEED, i) for i in (2, 3)]
    stuck = ledger.submit(payment(ledger, cheap, next_seq(ledger, cheap)))
    dropped = []
    for close in range(PENDING_DEPTH):
        kp = rich[close % 2]
        bid = ledger.submit(payment(ledger, kp, next_seq(ledger, kp), fee=1000))
        closed = ledger.close_ledger()
        assert [t.hash for t in closed.applied] == [bid.hash]
        dropped += closed.dropped
    assert [(d.hash, d.result.code) for d in dropped] == [(stuck.hash, QUEUE_TIMEOUT)]
    assert ledger.pending_count() == 0
    again = ledger.submit(payment(ledger, cheap, next_seq(ledger, cheap)))
    assert again.hash == stuck.hash and again.status is SubmitStatus.TRY_AGAIN_LATER


def test_invalid_after_a_close_is_dropped() -> None:
    """updateTransactionQueue: a queued tx that became invalid (time bounds passed) is banned, never applied."""
    ledger = make_ledger()
    a = generated_keypair(SEED, 0)
    clock = ledger.clock
    assert isinstance(clock, ManualClock)
    b = TransactionBuilder(Account(a.public_key, ledger.account(a.public_key).seq_num), ledger.passphrase, 100)
    env = b.append_payment_op(generated_keypair(SEED, 1).public_key, Asset.native(), "1") \
        .add_time_bounds(0, int(clock.time()) + 5).build()
    env.sign(a)
    seen: list[tuple[str, str]] = []
    ledger.add_listener(lambda h, o: seen.append((h, type(o).__name__)))
    assert ledger.submit(env.to_xdr()).status is SubmitStatus.PENDING
    clock.advance(10)
    closed = ledger.close_ledger()
    assert closed.applied == () and [d.result.code for d in closed.dropped] == ["tx_too_late"]
    assert seen == [(env.hash_hex(), "Dropped")] and ledger.fee_pool() == 0
    assert [r["reason"] for r in ledger.history() if r["kind"] == "dropped"] == ["tx_too_late"]


def test_a_fee_source_must_cover_every_queued_fee() -> None:
    """canAdd's last check: available balance - new fee < fees already queued for that fee source -> ERROR
    txINSUFFICIENT_BALANCE (fee 0), even when each fee alone is affordable."""
    ledger = make_ledger(generated_balance=100_000_000)
    payer, a, c = (generated_keypair(SEED, i) for i in (1, 0, 2))
    spare = ledger._state.available(ledger._state.accounts[payer.public_key])
    bumps = []
    for kp in (a, c):
        inner = TransactionBuilder(Account(kp.public_key, ledger.account(kp.public_key).seq_num), ledger.passphrase,
                                   100).append_payment_op(payer.public_key, Asset.native(), "1").set_timeout(60).build()
        inner.sign(kp)
        bump = TransactionBuilder.build_fee_bump_transaction(payer, spare // 2 - 1000, inner, ledger.passphrase)
        bump.sign(payer)
        bumps.append(bump.to_xdr())
    assert ledger.submit(bumps[0]).status is SubmitStatus.PENDING
    second = ledger.submit(bumps[1])
    assert second.status is SubmitStatus.ERROR and second.rejection.code == "tx_insufficient_balance"
    assert fee_charged(second.rejection) == 0


def test_malformed_input_is_recorded_and_changes_nothing() -> None:
    ledger = make_ledger()
    before = ledger.snapshot()
    for bad in ["", "not base64 !!", "AAAA", "QUJD" * 10]:
        with pytest.raises(MalformedEnvelopeError):
            ledger.submit(bad)
    after = ledger.snapshot()
    assert after["accounts"] == before["accounts"] and after["queue"]["queued"] == []
    assert [r["outcome"] for r in ledger.history()] == ["malformed"] * 4


def test_close_time_never_goes_backwards_and_headers_chain() -> None:
    ledger = make_ledger()
    first = ledger.close_ledger().header
    second = ledger.close_ledger().header
    assert second.prev_hash == first.hash and second.sequence == first.sequence + 1
    assert second.close_time >= first.close_time
    assert [h.sequence for h in ledger.headers(descending=True, limit=2, cursor=None)] == [3, 2]
    assert [h.sequence for h in ledger.headers(descending=False, limit=2, cursor=1)] == [2, 3]


def test_friendbot_root_is_one_source_account_too() -> None:
    """Friendbot's envelopes come from the root: one per close (the HTTP handler waits and rebuilds)."""
    ledger = make_ledger()
    new = [Keypair.random().public_key for _ in range(2)]
    first = ledger.submit(ledger.friendbot_envelope(new[0]), endpoint="friendbot")
    assert first.status is SubmitStatus.PENDING
    assert ledger.queued_for(ledger.root.public_key) == first.hash
    assert ledger.submit(ledger.friendbot_envelope(new[1]), endpoint="friendbot").status \
        is SubmitStatus.TRY_AGAIN_LATER
    ledger.close_ledger()
    assert ledger.submit(ledger.friendbot_envelope(new[1]), endpoint="friendbot").status is SubmitStatus.PENDING
    ledger.close_ledger()
    assert all(ledger.balance_of(addr) == ledger.config.friendbot_amount for addr in new)
    ledger.submit(ledger.friendbot_envelope(new[0]))
    assert ledger.close_ledger().applied[0].result.result_codes()["operations"] == ["op_already_exists"]


RULE_TESTS = {
    "admits-busy-accounts": test_one_queued_transaction_per_source_account,
    "forgets-applied-envelopes": test_applied_envelope_is_banned_then_bad_seq_async_and_known_sync,
    "tolerates-gaps": test_a_sequence_gap_is_refused_at_once,
}


@pytest.mark.parametrize("mutant", sorted(RULE_TESTS))
def test_rule_tests_fail_on_lenient_variants(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule test above must catch the leniency it guards against (tests/unit/mutants_ledger.py)."""
    if mutant in QUEUE_MUTANTS:
        monkeypatch.setattr("harness.ledger.ledger.TxQueue", QUEUE_MUTANTS[mutant])
    else:
        module, name, wrap = VALIDITY_MUTANTS[mutant]
        monkeypatch.setattr(module, name, wrap(getattr(module, name)))
    with pytest.raises(AssertionError):
        RULE_TESTS[mutant]()
