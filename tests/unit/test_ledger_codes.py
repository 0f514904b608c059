"""Every result code the simulator claims, provoked in-process by a real signed transaction.

Checks run at submission are stellar-core's checkValid (src/transactions/TransactionFrame.cpp
`commonValidPreSeqNum`, `commonValid`, `checkValidWithOptionallyChargedFee`: operations fail fast, so
only the first bad operation shows its code); operation codes at apply come from each operation
frame's doApply (src/transactions/*OpFrame.cpp).
"""

from __future__ import annotations

import pytest
from stellar_sdk import (
    Account,
    Asset,
    Claimant,
    ClaimPredicate,
    Keypair,
    Network,
    Transaction,
    TransactionBuilder,
    TransactionEnvelope,
)
from stellar_sdk.operation import BumpSequence, Payment
from stellar_sdk.xdr import TransactionResult

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock

SEED = 11


@pytest.fixture()
def ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=3, seed=SEED), clock=ManualClock())


def keys(i: int) -> Keypair:
    return generated_keypair(SEED, i)


def builder(ledger: Ledger, kp: Keypair, fee: int = 100, seq_offset: int = 0) -> TransactionBuilder:
    account = ledger.account(kp.public_key)
    assert account is not None
    return TransactionBuilder(Account(kp.public_key, account.seq_num + seq_offset), ledger.passphrase, fee)


def signed(b: TransactionBuilder, *signers: Keypair, timeout: int | None = 300) -> str:
    if timeout is not None:
        b.set_timeout(timeout)
    env = b.build()
    for kp in signers:
        env.sign(kp)
    return env.to_xdr()


def rejected(ledger: Ledger, xdr: str) -> dict:
    result = ledger.submit(xdr)
    assert result.status is SubmitStatus.ERROR, result
    assert result.rejection is not None
    TransactionResult.from_xdr(result.rejection.to_xdr())  # real, decodable bytes
    return result.rejection.result_codes()


def applied(ledger: Ledger, xdr: str) -> dict:
    assert ledger.submit(xdr).status is SubmitStatus.PENDING
    closed = ledger.close_ledger()
    assert len(closed.applied) == 1 and not closed.violations
    decoded = TransactionResult.from_xdr(closed.applied[0].result_xdr)
    assert decoded.fee_charged.int64 == closed.applied[0].result.fee_charged
    return closed.applied[0].result.result_codes()


def test_success_and_fee_goes_to_pool(ledger: Ledger) -> None:
    before = ledger.balance_of(keys(0).public_key)
    xdr = signed(builder(ledger, keys(0)).append_payment_op(keys(1).public_key, Asset.native(), "2.5"), keys(0))
    assert applied(ledger, xdr) == {"transaction": "tx_success", "operations": ["op_success"]}
    assert ledger.balance_of(keys(0).public_key) == before - 25_000_000 - 100
    assert ledger.fee_pool() == 100


def test_op_failure_charges_fee_consumes_seq_applies_nothing(ledger: Ledger) -> None:
    a, b = keys(0), keys(1)
    seq = ledger.account(a.public_key).seq_num
    before_b = ledger.balance_of(b.public_key)
    xdr = signed(builder(ledger, a).append_payment_op(b.public_key, Asset.native(), "1")
                 .append_payment_op(b.public_key, Asset.native(), "999999"), a)
    assert applied(ledger, xdr) == {"transaction": "tx_failed", "operations": ["op_success", "op_underfunded"]}
    assert ledger.balance_of(b.public_key) == before_b
    assert ledger.account(a.public_key).seq_num == seq + 1
    assert ledger.fee_pool() == 200


@pytest.mark.parametrize("case, expected", [
    ("no_destination", ["op_no_destination"]),
    ("src_no_trust", ["op_src_no_trust"]),
    ("dest_no_trust", ["op_no_trust"]),
    ("issuer_no_trust", ["op_no_trust"]),
    ("low_reserve", ["op_low_reserve"]),
    ("already_exists", ["op_already_exists"]),
    ("create_underfunded", ["op_underfunded"]),
    ("claim_missing", ["op_does_not_exist"]),
    ("data_missing", ["op_data_name_not_found"]),
    ("cb_underfunded", ["op_underfunded"]),
    ("cb_credit", ["op_no_trust"]),
    ("cb_credit_underfunded", ["op_underfunded"]),
])
def test_operation_codes_at_apply(ledger: Ledger, case: str, expected: list[str]) -> None:
    a, b = keys(0), keys(1)
    stranger = Keypair.from_raw_ed25519_seed(bytes(32)).public_key
    usd = Asset("USD", keys(2).public_key)
    usdc = Asset("USDC", issuer_keypair(SEED).public_key)
    b_ = builder(ledger, a)
    build = {
        "no_destination": lambda: b_.append_payment_op(stranger, Asset.native(), "1"),
        "src_no_trust": lambda: b_.append_payment_op(keys(2).public_key, usd, "1"),
        "dest_no_trust": lambda: b_.append_payment_op(keys(2).public_key, Asset("EUR", b.public_key), "1"),
        "issuer_no_trust": lambda: builder(ledger, keys(2)).append_payment_op(b.public_key, usd, "1"),
        "low_reserve": lambda: b_.append_create_account_op(stranger, "0.5"),
        "already_exists": lambda: b_.append_create_account_op(b.public_key, "5"),
        "create_underfunded": lambda: b_.append_create_account_op(stranger, "99999"),
        "claim_missing": lambda: b_.append_claim_claimable_balance_op("00000000" + "ab" * 32),
        "data_missing": lambda: b_.append_manage_data_op("absent", None),
        "cb_underfunded": lambda: b_.append_create_claimable_balance_op(
            Asset.native(), "99999", [Claimant(b.public_key)]),
        "cb_credit": lambda: b_.append_create_claimable_balance_op(usd, "1", [Claimant(b.public_key)]),
        "cb_credit_underfunded": lambda: b_.append_create_claimable_balance_op(usdc, "10001", [Claimant(b.public_key)]),
    }[case]()
    signer = keys(2) if case == "issuer_no_trust" else a
    assert applied(ledger, signed(build, signer)) == {"transaction": "tx_failed", "operations": expected}


def test_tx_level_rejections_change_nothing(ledger: Ledger) -> None:
    a, b = keys(0), keys(1)
    stranger = Keypair.random()
    before = ledger.snapshot()
    pay = lambda bb: bb.append_payment_op(b.public_key, Asset.native(), "1")  # noqa: E731
    now = int(ledger.clock.time())
    cases = {
        "tx_bad_seq": signed(pay(builder(ledger, a, seq_offset=-1)), a),
        "tx_bad_auth": signed(pay(builder(ledger, a)), b),
        "tx_insufficient_fee": signed(pay(builder(ledger, a, fee=99)), a),
        "tx_no_source_account": signed(pay(TransactionBuilder(Account(stranger.public_key, 1), ledger.passphrase,
                                                              100)), stranger),
        "tx_bad_auth_extra": signed(pay(builder(ledger, a)), a, b),
        "tx_too_late": signed(pay(builder(ledger, a)).add_time_bounds(0, now - 10), a, timeout=None),
        "tx_too_early": signed(pay(builder(ledger, a)).add_time_bounds(now + 100, 0), a, timeout=None),
    }
    for code, xdr in cases.items():
        assert rejected(ledger, xdr) == {"transaction": code}, code
        # checkValidImpl reports base fee x operations as feeCharged, though nothing is charged
        assert TransactionResult.from_xdr(ledger.submit(xdr).rejection.to_xdr()).fee_charged.int64 == 100
    assert ledger.close_ledger().applied == ()
    after = ledger.snapshot()
    assert after["accounts"] == before["accounts"] and after["fee_pool"] == before["fee_pool"]


def test_wrong_network_passphrase_is_bad_auth(ledger: Ledger) -> None:
    a = keys(0)
    account = ledger.account(a.public_key)
    env = (TransactionBuilder(Account(a.public_key, account.seq_num), Network.TESTNET_NETWORK_PASSPHRASE, 100)
           .append_payment_op(keys(1).public_key, Asset.native(), "1").set_timeout(60).build())
    env.sign(a)
    assert rejected(ledger, env.to_xdr()) == {"transaction": "tx_bad_auth"}


def _raw_envelope(ledger: Ledger, kp: Keypair, operations: list, fee: int) -> str:
    seq = ledger.account(kp.public_key).seq_num + 1
    tx = Transaction(kp.public_key, seq, fee, operations, preconditions=None)
    env = TransactionEnvelope(tx, ledger.passphrase)
    env.sign(kp)
    return env.to_xdr()


def test_structural_codes(ledger: Ledger) -> None:
    a = keys(0)
    assert rejected(ledger, _raw_envelope(ledger, a, [], 100)) == {"transaction": "tx_missing_operation"}
    two_ops = [Payment(keys(1).public_key, Asset.native(), "1")] * 2
    assert rejected(ledger, _raw_envelope(ledger, a, two_ops, 199)) == {"transaction": "tx_insufficient_fee"}
    env = TransactionBuilder(Account(a.public_key, ledger.account(a.public_key).seq_num), ledger.passphrase, 100) \
        .append_payment_op(keys(1).public_key, Asset.native(), "1").set_timeout(60).build()
    env.sign(a)
    with_ledger_bounds = TransactionBuilder(Account(a.public_key, ledger.account(a.public_key).seq_num),
                                            ledger.passphrase, 100).append_payment_op(
        keys(1).public_key, Asset.native(), "1").set_timeout(60).set_ledger_bounds(0, 100).build()
    with_ledger_bounds.sign(a)
    assert rejected(ledger, with_ledger_bounds.to_xdr()) == {"transaction": "tx_not_supported"}


def test_operations_fail_fast_at_submission(ledger: Ledger) -> None:
    """checkValidWithOptionallyChargedFee stops at the first invalid operation; the others keep the
    success code their results were initialised with."""
    a = keys(0)
    xdr = signed(builder(ledger, a).append_payment_op(keys(1).public_key, Asset.native(), "1")
                 .append_create_account_op(a.public_key, "5")
                 .append_manage_data_op("\x01bad", b"1"), a)
    assert rejected(ledger, xdr) == {"transaction": "tx_failed",
                                     "operations": ["op_success", "op_malformed", "op_success"]}


def test_check_time_operation_codes(ledger: Ledger) -> None:
    a, b = keys(0), keys(1)
    stranger = Keypair.random().public_key
    bump = _raw_envelope(ledger, a, [BumpSequence(5)], 100)
    assert rejected(ledger, bump) == {"transaction": "tx_failed", "operations": ["op_not_supported"]}
    other_source = signed(builder(ledger, a).append_payment_op(a.public_key, Asset.native(), "1",
                                                               source=b.public_key), a)
    assert rejected(ledger, other_source) == {"transaction": "tx_failed", "operations": ["op_bad_auth"]}
    unknown_source = signed(builder(ledger, a).append_payment_op(a.public_key, Asset.native(), "1",
                                                                 source=stranger), a)
    assert rejected(ledger, unknown_source) == {"transaction": "tx_failed", "operations": ["op_no_source_account"]}
    to_self = signed(builder(ledger, a).append_create_account_op(a.public_key, "5"), a)
    assert rejected(ledger, to_self) == {"transaction": "tx_failed", "operations": ["op_malformed"]}
    bad_name = signed(builder(ledger, a).append_manage_data_op("\x01bad", b"1"), a)
    assert rejected(ledger, bad_name) == {"transaction": "tx_failed", "operations": ["op_invalid_name"]}
    both_signed = signed(builder(ledger, a).append_payment_op(a.public_key, Asset.native(), "1",
                                                              source=b.public_key), a, b)
    assert applied(ledger, both_signed)["transaction"] == "tx_success"


def test_insufficient_balance_for_fee(ledger: Ledger) -> None:
    a, poor = keys(0), Keypair.random()
    applied(ledger, signed(builder(ledger, a).append_create_account_op(poor.public_key, "1"), a))
    xdr = signed(builder(ledger, poor).append_payment_op(a.public_key, Asset.native(), "0.1"), poor)
    assert rejected(ledger, xdr) == {"transaction": "tx_insufficient_balance"}


def test_escrow_claimable_balance_predicates(ledger: Ledger) -> None:
    payer, payee = keys(0), keys(1)
    deadline = int(ledger.clock.time()) + 100
    claimants = [Claimant(payee.public_key, ClaimPredicate.predicate_before_absolute_time(deadline)),
                 Claimant(payer.public_key, ClaimPredicate.predicate_not(
                     ClaimPredicate.predicate_before_absolute_time(deadline)))]
    env_builder = builder(ledger, payer).append_create_claimable_balance_op(Asset.native(), "7", claimants)
    env = env_builder.set_timeout(300).build()
    env.sign(payer)
    balance_id = env.transaction.get_claimable_balance_id(0)
    payer_before = ledger.balance_of(payer.public_key)
    assert applied(ledger, env.to_xdr())["transaction"] == "tx_success"
    assert ledger.balance_of(payer.public_key) == payer_before - 70_000_000 - 100
    assert ledger.account(payer.public_key).num_sponsoring == 2
    early_reclaim = signed(builder(ledger, payer).append_claim_claimable_balance_op(balance_id), payer)
    assert applied(ledger, early_reclaim)["operations"] == ["op_cannot_claim"]
    payee_before = ledger.balance_of(payee.public_key)
    claim = signed(builder(ledger, payee).append_claim_claimable_balance_op(balance_id), payee)
    assert applied(ledger, claim)["transaction"] == "tx_success"
    assert ledger.balance_of(payee.public_key) == payee_before + 70_000_000 - 100
    assert ledger.claimable_balance(balance_id) is None
    assert ledger.account(payer.public_key).num_sponsoring == 0


def test_escrow_refund_after_deadline(ledger: Ledger) -> None:
    payer, payee = keys(0), keys(1)
    clock = ledger.clock
    assert isinstance(clock, ManualClock)
    claimants = [Claimant(payee.public_key, ClaimPredicate.predicate_before_relative_time(50)),
                 Claimant(payer.public_key, ClaimPredicate.predicate_not(
                     ClaimPredicate.predicate_before_relative_time(50)))]
    env = builder(ledger, payer).append_create_claimable_balance_op(Asset.native(), "3", claimants) \
        .set_timeout(300).build()
    env.sign(payer)
    balance_id = env.transaction.get_claimable_balance_id(0)
    applied(ledger, env.to_xdr())
    clock.advance(60)
    late = signed(builder(ledger, payee).append_claim_claimable_balance_op(balance_id), payee)
    assert applied(ledger, late)["operations"] == ["op_cannot_claim"]
    refund = signed(builder(ledger, payer).append_claim_claimable_balance_op(balance_id), payer)
    assert applied(ledger, refund)["transaction"] == "tx_success"


def test_manage_data_sets_memo_required_and_reserve(ledger: Ledger) -> None:
    a = keys(0)
    applied(ledger, signed(builder(ledger, a).append_manage_data_op("config.memo_required", b"1"), a))
    account = ledger.account(a.public_key)  # a generated account holds one trustline (the offline USDC)
    assert account.data == {"config.memo_required": b"1"} and account.subentry_count == 2
    applied(ledger, signed(builder(ledger, a).append_manage_data_op("config.memo_required", None), a))
    assert ledger.account(a.public_key).subentry_count == 1
