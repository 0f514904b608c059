"""Fee-bump transactions, as stellar-core's FeeBumpTransactionFrame and TransactionQueue handle them.

Sources (stellar/stellar-core): src/transactions/FeeBumpTransactionFrame.cpp (`commonValidPreSeqNum`:
outer fee >= base fee x (inner ops + 1) and no lower fee rate than the inner tx, else txINSUFFICIENT_FEE
with feeCharged = the fee needed; `commonValid`: fee source exists, signs, can pay; `checkValidImpl`:
all outer signatures used, then the inner checkValid without fee checks; `processFeeSeqNum`: the fee
source pays min(fee, base fee x ops); protocol < 25 reports the inner tx's own fee in the inner
result); src/transactions/MutableTransactionResult.cpp (FeeBumpMutableTransactionResult: inner
result pair, txFEE_BUMP_INNER_SUCCESS / txFEE_BUMP_INNER_FAILED); src/herder/TransactionQueue.cpp
(`canReplaceByFee`, FEE_MULTIPLIER = 10; `isDuplicateTx`).
"""

from __future__ import annotations

import pytest
from stellar_sdk import (
    Account,
    Asset,
    FeeBumpTransaction,
    FeeBumpTransactionEnvelope,
    Keypair,
    TransactionBuilder,
)
from stellar_sdk.xdr import TransactionResult, TransactionResultCode

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock

SEED = 17
A, B, PAYER = (generated_keypair(SEED, i) for i in range(3))


@pytest.fixture()
def ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=3, seed=SEED), clock=ManualClock())


def inner(ledger: Ledger, kp: Keypair = A, fee: int = 100, amount: str = "1", seq_offset: int = 0,
          ops: int = 1) -> object:
    b = TransactionBuilder(Account(kp.public_key, ledger.account(kp.public_key).seq_num + seq_offset),
                           ledger.passphrase, fee)
    for _ in range(ops):
        b.append_payment_op(B.public_key, Asset.native(), amount)
    env = b.set_timeout(600).build()
    env.sign(kp)
    return env


def bump(ledger: Ledger, env: object, fee_per_op: int, payer: Keypair = PAYER, *signers: Keypair) -> str:
    """A fee bump whose outer fee is `fee_per_op` x (inner ops + 1), built without the SDK's own fee
    checks (TransactionBuilder.build_fee_bump_transaction refuses what core must refuse itself)."""
    ops = len(env.transaction.operations)  # type: ignore[attr-defined]
    fb = FeeBumpTransactionEnvelope(FeeBumpTransaction(payer.public_key, fee_per_op * (ops + 1), env),
                                    ledger.passphrase)
    for kp in signers or (payer,):
        fb.sign(kp)
    return fb.to_xdr()


def result_of(rejection: object) -> TransactionResult:
    return TransactionResult.from_xdr(rejection.to_xdr())  # type: ignore[attr-defined]


def test_applied_fee_bump_charges_the_fee_source_and_applies_the_inner_tx(ledger: Ledger) -> None:
    env = inner(ledger)
    a_before, payer_before = ledger.balance_of(A.public_key), ledger.balance_of(PAYER.public_key)
    submitted = ledger.submit(bump(ledger, env, 150))
    assert submitted.status is SubmitStatus.PENDING
    applied = ledger.close_ledger().applied[0]
    assert applied.hash == submitted.hash and applied.inner_hash == env.hash_hex()
    assert applied.fee_account == PAYER.public_key and applied.outer_fee == 300
    assert applied.result.result_codes() == {"transaction": "tx_fee_bump_inner_success",
                                             "inner_transaction": "tx_success", "operations": ["op_success"]}
    decoded = TransactionResult.from_xdr(applied.result_xdr)
    assert decoded.result.code is TransactionResultCode.txFEE_BUMP_INNER_SUCCESS
    assert decoded.fee_charged.int64 == 200  # base fee x (1 inner op + 1)
    pair = decoded.result.inner_result_pair
    assert pair.transaction_hash.hash.hex() == env.hash_hex() and pair.result.fee_charged.int64 == 100
    assert ledger.balance_of(PAYER.public_key) == payer_before - 200
    assert ledger.balance_of(A.public_key) == a_before - 10_000_000  # the inner source pays no fee
    assert ledger.account(A.public_key).seq_num == env.transaction.sequence
    assert ledger.transaction(env.hash_hex()) is applied  # Horizon finds a fee bump by its inner hash
    assert ledger.check_invariants() == []


def test_outer_fee_below_base_fee_times_ops_plus_one(ledger: Ledger) -> None:
    rejected = ledger.submit(bump(ledger, inner(ledger, ops=2), 66))  # 198 < 100 x 3
    assert rejected.rejection.result_codes() == {"transaction": "tx_insufficient_fee"}
    assert result_of(rejected.rejection).fee_charged.int64 == 300


def test_outer_fee_rate_below_the_inner_rate_reports_the_fee_needed(ledger: Ledger) -> None:
    rejected = ledger.submit(bump(ledger, inner(ledger, fee=1000), 700))  # 1400 for 2 ops < 1000 for 1
    assert rejected.rejection.code == "tx_insufficient_fee"
    assert result_of(rejected.rejection).fee_charged.int64 == 2000  # ceil(1000 x 200 / 100)


@pytest.mark.parametrize("case, code", [("no_fee_source", "tx_no_source_account"), ("unsigned", "tx_bad_auth"),
                                        ("extra_signature", "tx_bad_auth_extra")])
def test_outer_checks(ledger: Ledger, case: str, code: str) -> None:
    env = inner(ledger)
    stranger = Keypair.random()
    xdr = {"no_fee_source": lambda: bump(ledger, env, 150, stranger),
           "unsigned": lambda: bump(ledger, env, 150, PAYER, B),
           "extra_signature": lambda: bump(ledger, env, 150, PAYER, PAYER, B)}[case]()
    rejected = ledger.submit(xdr)
    assert rejected.status is SubmitStatus.ERROR and rejected.rejection.result_codes() == {"transaction": code}
    assert result_of(rejected.rejection).fee_charged.int64 == 200


def test_fee_source_that_cannot_pay(ledger: Ledger) -> None:
    poor = Keypair.random()
    fund = TransactionBuilder(Account(B.public_key, ledger.account(B.public_key).seq_num), ledger.passphrase, 100) \
        .append_create_account_op(poor.public_key, "1").set_timeout(600).build()
    fund.sign(B)
    ledger.submit(fund.to_xdr())
    ledger.close_ledger()
    rejected = ledger.submit(bump(ledger, inner(ledger), 150, poor))
    assert rejected.rejection.result_codes() == {"transaction": "tx_insufficient_balance"}


def test_invalid_inner_tx_is_fee_bump_inner_failed(ledger: Ledger) -> None:
    env = inner(ledger, seq_offset=1)  # a gap: the inner checkValid says txBAD_SEQ
    rejected = ledger.submit(bump(ledger, env, 150))
    assert rejected.rejection.result_codes() == {"transaction": "tx_fee_bump_inner_failed",
                                                 "inner_transaction": "tx_bad_seq"}
    assert rejected.rejection.result_codes(env.hash_hex()) == {"transaction": "tx_bad_seq"}  # seen by inner hash
    decoded = result_of(rejected.rejection)
    assert decoded.fee_charged.int64 == 200 and decoded.result.inner_result_pair.result.fee_charged.int64 == 0


def test_failed_inner_operations_still_charge_the_fee_source(ledger: Ledger) -> None:
    env = inner(ledger, amount="999999")
    payer_before = ledger.balance_of(PAYER.public_key)
    ledger.submit(bump(ledger, env, 150))
    applied = ledger.close_ledger().applied[0]
    assert not applied.successful
    assert applied.result.result_codes() == {"transaction": "tx_fee_bump_inner_failed",
                                             "inner_transaction": "tx_failed", "operations": ["op_underfunded"]}
    assert ledger.balance_of(PAYER.public_key) == payer_before - 200
    assert ledger.account(A.public_key).seq_num == env.transaction.sequence


def test_replace_by_fee_needs_ten_times_the_fee_rate(ledger: Ledger) -> None:
    """canReplaceByFee: new fee x old ops >= 10 x old fee x new ops; else ERROR with the minimum full fee."""
    env = inner(ledger)
    plain = ledger.submit(env.to_xdr())
    assert plain.status is SubmitStatus.PENDING
    assert ledger.submit(env.to_xdr()).status is SubmitStatus.DUPLICATE
    low = ledger.submit(bump(ledger, env, 999))  # 1998 for 2 ops < 10 x 100 x 2
    assert low.status is SubmitStatus.ERROR and low.rejection.code == "tx_insufficient_fee"
    assert result_of(low.rejection).fee_charged.int64 == 2000
    replacing = ledger.submit(bump(ledger, env, 1000))
    assert replacing.status is SubmitStatus.PENDING and ledger.pending_count() == 1
    assert ledger.submit(env.to_xdr()).status is SubmitStatus.DUPLICATE  # the inner of the queued fee bump
    applied = ledger.close_ledger().applied
    assert [t.hash for t in applied] == [replacing.hash] and applied[0].inner_hash == plain.hash


def test_a_fee_bump_of_another_sequence_number_waits(ledger: Ledger) -> None:
    ledger.submit(inner(ledger).to_xdr())
    later = inner(ledger, seq_offset=1)
    assert ledger.submit(bump(ledger, later, 5000)).status is SubmitStatus.TRY_AGAIN_LATER


def test_fee_bump_history_record_and_meta(ledger: Ledger) -> None:
    from stellar_sdk.xdr import LedgerEntryChanges, TransactionMeta

    ledger.submit(bump(ledger, inner(ledger), 150))
    applied = ledger.close_ledger().applied[0]
    record = [r for r in ledger.history() if r["kind"] == "applied"][0]
    assert record["fee_account"] == PAYER.public_key and record["inner_hash"] == applied.inner_hash
    fee_changes = LedgerEntryChanges.from_xdr(applied.fee_meta_xdr).ledger_entry_changes
    assert [c.type.name for c in fee_changes] == ["LEDGER_ENTRY_STATE", "LEDGER_ENTRY_UPDATED"]
    payer_before, payer_after = (c.state or c.updated for c in fee_changes)
    assert payer_before.data.account.balance.int64 - payer_after.data.account.balance.int64 == 200
    meta = TransactionMeta.from_xdr(applied.result_meta_xdr).v3
    seq_bump = meta.tx_changes_before.ledger_entry_changes
    assert seq_bump[1].updated.data.account.seq_num.sequence_number.int64 == applied.seq
