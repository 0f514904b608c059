"""Soroban transactions at ledger close, as stellar-core v21.3.1 applies them:
src/transactions/TransactionFrame.cpp (`commonValidPreSeqNum`'s Soroban checks -> txSOROBAN_INVALID,
`validateSorobanOpsConsistency` / `XDRProvidesValidFee` -> txMALFORMED, `getFee`, `processRefund` /
`refundSorobanFee`), src/transactions/InvokeHostFunctionOpFrame.cpp (`doApply`: read bytes before the
host, instructions after it, write bytes and events, `consumeRefundableSorobanResources`; host failures
-> INVOKE_HOST_FUNCTION_TRAPPED), and the SAC of rs-soroban-env v21.0.0 (balance.rs, event.rs).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from stellar_sdk import Asset, Keypair, Network, StrKey, TransactionBuilder, TransactionEnvelope, scval
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorize_entry

from harness.ledger.soroban.contracts import key_id
from harness.ledger.soroban.fees import transaction_resource_fee
from harness.ledger.soroban.network import SETTINGS
from harness.ledger.soroban.sac import BALANCE_EXTEND_AMOUNT, StellarAssetContract
from harness.ledger.soroban.transaction import declared_resources, pre_apply_fee
from tests.soroban_support import (
    ISSUER,
    PAYEE,
    PAYER,
    SUBMITTER,
    prepared,
    sac,
    signed_transfer,
    simulated,
    soroban_ledger,
    transfer,
    usdc_balance,
)
from tests.unit.mutants_soroban import SOROBAN_MUTANTS

START = 10_000 * 10**7


def _apply(ledger: Any, env: TransactionEnvelope) -> Any:
    result = ledger.submit(env.to_xdr(), endpoint="rpc")
    assert result.status.value == "PENDING", result.rejection
    closed = ledger.close_ledger()
    assert closed.violations == ()
    (applied,) = closed.applied
    return applied


def _codes(applied: Any) -> tuple[str, list[str]]:
    return applied.result.code, [o.code for o in applied.result.op_results]


def _diagnostics(applied: Any) -> str:
    from harness.ledger.soroban.values import display_event

    meta = X.TransactionMeta.from_xdr(applied.result_meta_xdr).v3.soroban_meta
    return "\n".join(display_event(e) for e in meta.diagnostic_events) if meta else ""


def _resign(env: TransactionEnvelope, signer: Keypair = SUBMITTER) -> TransactionEnvelope:
    env.signatures = []
    env.sign(signer)
    return env


def _resources(env: TransactionEnvelope) -> X.SorobanResources:
    return env.transaction.soroban_data.resources


def test_sac_transfer_moves_trustlines_and_pays_the_fee_it_used() -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 25_000_000)
    declared = env.transaction.soroban_data.resource_fee.int64
    before = ledger.balance_of(SUBMITTER.public_key)
    applied = _apply(ledger, env)
    assert _codes(applied) == ("tx_success", ["op_success"])
    assert usdc_balance(ledger, PAYER.public_key) == START - 25_000_000
    assert usdc_balance(ledger, PAYEE.public_key) == START + 25_000_000
    meta = X.TransactionMeta.from_xdr(applied.result_meta_xdr)
    soroban = meta.v3.soroban_meta
    fees = soroban.ext.v1
    spent = fees.total_non_refundable_resource_fee_charged.int64 + fees.total_refundable_resource_fee_charged.int64
    assert applied.result.fee_charged == 100 + spent < 100 + declared
    assert ledger.balance_of(SUBMITTER.public_key) == before - applied.result.fee_charged
    assert fees.total_non_refundable_resource_fee_charged.int64 == pre_apply_fee(_parsed(ledger, env).soroban)[0]
    refund = meta.v3.tx_changes_after.ledger_entry_changes
    assert [c.type for c in refund] == [X.LedgerEntryChangeType.LEDGER_ENTRY_STATE, X.LedgerEntryChangeType.LEDGER_ENTRY_UPDATED]
    assert refund[1].updated.data.account.balance.int64 - refund[0].state.data.account.balance.int64 == 100 + declared - applied.result.fee_charged
    (event,) = soroban.events
    topics = event.body.v0.topics
    assert [scval.to_native(t) if t.type != X.SCValType.SCV_ADDRESS else scval.from_address(t).address for t in topics] == [
        "transfer", PAYER.public_key, PAYEE.public_key, f"USDC:{ISSUER.public_key}"]
    assert scval.from_int128(event.body.v0.data) == 25_000_000
    assert StrKey.encode_contract(event.contract_id.contract_id.hash) == sac(ledger)
    assert soroban.return_value.type == X.SCValType.SCV_VOID
    result = X.TransactionResult.from_xdr(applied.result_xdr)
    success = result.result.results[0].tr.invoke_host_function_result.success.hash
    assert success == hashlib.sha256(X.InvokeHostFunctionSuccessPreImage(soroban.return_value, [event]).to_xdr_bytes()).digest()
    (described,) = applied.operations
    assert (described["function"], described["from"], described["destination"], described["amount"], described["asset"]) == (
        "transfer", PAYER.public_key, PAYEE.public_key, "2.5000000", f"USDC:{ISSUER.public_key}")


def _parsed(ledger: Any, env: TransactionEnvelope) -> Any:
    from harness.ledger.envelope import parse_envelope

    return parse_envelope(env.to_xdr(), ledger.passphrase)


def test_the_source_account_may_transfer_its_own_funds() -> None:
    ledger = soroban_ledger()
    env = prepared(ledger, transfer(ledger, PAYER, PAYER.public_key, PAYEE.public_key, 3))
    assert env.transaction.operations[0].auth[0].credentials.type == X.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
    env.sign(PAYER)
    assert _codes(_apply(ledger, env)) == ("tx_success", ["op_success"])
    assert usdc_balance(ledger, PAYEE.public_key) == START + 3


def _failed(ledger: Any, env: TransactionEnvelope, op_code: str, diagnostic: str) -> Any:
    payer_usdc, submitter_seq = usdc_balance(ledger, PAYER.public_key), ledger.account(SUBMITTER.public_key).seq_num
    applied = _apply(ledger, env)
    assert _codes(applied) == ("tx_failed", [op_code]), _diagnostics(applied)
    assert diagnostic in _diagnostics(applied)
    assert usdc_balance(ledger, PAYER.public_key) == payer_usdc
    assert ledger.account(SUBMITTER.public_key).seq_num == submitter_seq + 1
    fees = X.TransactionMeta.from_xdr(applied.result_meta_xdr).v3.soroban_meta.ext.v1
    assert fees.total_refundable_resource_fee_charged.int64 == fees.rent_fee_charged.int64 == 0
    assert applied.result.fee_charged == 100 + fees.total_non_refundable_resource_fee_charged.int64
    assert ledger.check_invariants() == []
    return applied


def test_amount_changed_after_signing_is_trapped() -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    env.transaction.operations[0].host_function.invoke_contract.args[2] = scval.to_int128(10_000)
    _failed(ledger, _resign(env), "function_trapped", "Unauthorized function call for address")


def test_auth_signed_for_another_network_is_trapped() -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10, passphrase=Network.TESTNET_NETWORK_PASSPHRASE)
    _failed(ledger, env, "function_trapped", "failed account authentication with error")


def test_expired_auth_entry_is_trapped() -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10, valid_for=1)
    ledger.close_ledger()
    ledger.close_ledger()  # the entry was valid through latest + 1; it applies at latest + 3
    _failed(ledger, env, "function_trapped", "signature has expired")


def test_a_replayed_nonce_is_refused() -> None:
    """The same signed entry in a new transaction: with the original read bytes the now-existing nonce
    entry overflows them before the host runs (RESOURCE_LIMIT_EXCEEDED); with enough read bytes the host
    refuses the nonce (TRAPPED)."""
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    assert _codes(_apply(ledger, env)) == ("tx_success", ["op_success"])
    again = TransactionEnvelope.from_xdr(env.to_xdr(), ledger.passphrase)
    again.transaction.sequence += 1
    _failed(ledger, _resign(again), "resource_limit_exceeded", "operation byte-read resources exceeds amount specified")
    third = TransactionEnvelope.from_xdr(env.to_xdr(), ledger.passphrase)
    third.transaction.sequence += 2
    _resources(third).disk_read_bytes = X.Uint32(_resources(third).disk_read_bytes.uint32 + 200)
    third.transaction.soroban_data.resource_fee = X.Int64(third.transaction.soroban_data.resource_fee.int64 + 1000)
    third.transaction.fee += 1000
    _failed(ledger, _resign(third), "function_trapped", "nonce already exists for address")


@pytest.mark.parametrize("change, diagnostic", [
    ("drop_payee_trustline", "trying to access account trustline entry outside of the footprint"),
    ("payee_trustline_read_only", "trying to access account trustline entry outside of the footprint"),
])
def test_footprint_violations_are_trapped(change: str, diagnostic: str) -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    fp = _resources(env).footprint
    payee = [k for k in fp.read_write if k.trust_line and StrKey.encode_ed25519_public_key(
        k.trust_line.account_id.account_id.ed25519.uint256) == PAYEE.public_key]
    fp.read_write = [k for k in fp.read_write if k not in payee]
    if change == "payee_trustline_read_only":
        fp.read_only = fp.read_only + payee
    _failed(ledger, _resign(env), "function_trapped", diagnostic)


@pytest.mark.parametrize("resource, op_code, diagnostic", [
    ("instructions", "resource_limit_exceeded", "operation instructions exceeds amount specified"),
    ("disk_read_bytes", "resource_limit_exceeded", "operation byte-read resources exceeds amount specified"),
    ("write_bytes", "resource_limit_exceeded", "operation byte-write resources exceeds amount specified"),
])
def test_declared_resources_below_use_exceed_the_limit(resource: str, op_code: str, diagnostic: str) -> None:
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    res = _resources(env)
    setattr(res, resource, X.Uint32(getattr(res, resource).uint32 // 2))
    _failed(ledger, _resign(env), op_code, diagnostic)


def test_a_refundable_budget_below_rent_is_insufficient() -> None:
    """consumeRefundableSorobanResources: rent first, then the events fee, out of the refundable budget.
    A budget that covers the events but not the nonce entry's rent is insufficient."""
    ledger = soroban_ledger()
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    ptx = _parsed(ledger, env)
    non_refundable, _ = pre_apply_fee(ptx.soroban)
    events = simulated(ledger, env)
    size = sum(len(e.event.to_xdr_bytes()) for e in events.events if e.event.type == X.ContractEventType.CONTRACT)
    _, events_fee = transaction_resource_fee(declared_resources(ptx.soroban, size + len(events.result.to_xdr_bytes())),
                                             SETTINGS)
    data = env.transaction.soroban_data
    budget = non_refundable + events_fee + 1
    env.transaction.fee -= data.resource_fee.int64 - budget
    data.resource_fee = X.Int64(budget)
    _failed(ledger, _resign(env), "insufficient_refundable_fee", "not sufficient to cover the ledger storage rent")


def _refused(ledger: Any, env: TransactionEnvelope) -> str:
    result = ledger.submit(env.to_xdr(), endpoint="rpc")
    assert result.status.value == "ERROR"
    return result.rejection.code


def test_admission_refuses_soroban_transactions_core_refuses() -> None:
    ledger = soroban_ledger()
    base = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    low = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    low.transaction.soroban_data.resource_fee = X.Int64(pre_apply_fee(_parsed(ledger, low).soroban)[0] - 1)
    assert _refused(ledger, _resign(low)) == "tx_soroban_invalid"
    above = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    above.transaction.fee = above.transaction.soroban_data.resource_fee.int64 + 99
    assert _refused(ledger, _resign(above)) == "tx_insufficient_fee"
    dup = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    fp = _resources(dup).footprint
    fp.read_only = fp.read_only + [fp.read_write[0]]
    assert _refused(ledger, _resign(dup)) == "tx_soroban_invalid"
    ttl = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    _resources(ttl).footprint.read_only.append(X.LedgerKey(X.LedgerEntryType.TTL, ttl=X.LedgerKeyTtl(X.Hash(bytes(32)))))
    assert _refused(ledger, _resign(ttl)) == "tx_soroban_invalid"
    big = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    _resources(big).instructions = X.Uint32(SETTINGS.tx_max_instructions + 1)
    assert _refused(ledger, _resign(big)) == "tx_soroban_invalid"
    no_data = TransactionEnvelope.from_xdr(base.to_xdr(), ledger.passphrase)
    no_data.transaction.soroban_data = None
    assert _refused(ledger, _resign(no_data)) == "tx_malformed"
    assert ledger.pending_count() == 0 and _codes(_apply(ledger, base))[0] == "tx_success"


def test_native_sac_transfer_keeps_the_minimum_balance() -> None:
    """transfer_account_balance: the new balance must stay within [minimum balance, i64::MAX]."""
    ledger = soroban_ledger()
    xlm = sac(ledger, Asset.native())
    payee_before = ledger.balance_of(PAYEE.public_key)
    assert _codes(_apply(ledger, signed_transfer(ledger, PAYER, SUBMITTER, 10**7, contract=xlm)))[0] == "tx_success"
    assert ledger.balance_of(PAYEE.public_key) == payee_before + 10**7
    drain = signed_transfer(ledger, PAYER, SUBMITTER, 1, contract=xlm)  # simulation refuses a drain: sign one
    everything = scval.to_int128(ledger.balance_of(PAYER.public_key))
    op = drain.transaction.operations[0]
    op.host_function.invoke_contract.args[2] = everything
    entry = op.auth[0]
    entry.root_invocation.function.contract_fn.args[2] = everything
    op.auth = [authorize_entry(entry, PAYER, entry.credentials.address.signature_expiration_ledger.uint32,
                               ledger.passphrase)]
    _failed(ledger, _resign(drain), "function_trapped", "resulting balance is not within the allowed range")


def test_a_contract_address_receives_into_a_balance_entry() -> None:
    """receive_balance for a C-address: a persistent [Balance, address] entry, its TTL extended to 30 days;
    spending from it needs the contract's __check_auth, which no contract here has."""
    ledger = soroban_ledger()
    holder = sac(ledger, Asset.native())  # any C-address
    env = prepared(ledger, transfer(ledger, PAYER, PAYER.public_key, holder, 40))
    env.sign(PAYER)
    applied = _apply(ledger, env)
    assert _codes(applied)[0] == "tx_success"
    key = X.LedgerKey(X.LedgerEntryType.CONTRACT_DATA, contract_data=X.LedgerKeyContractData(
        scval.to_address(sac(ledger)).address, scval.to_vec([scval.to_symbol("Balance"), scval.to_address(holder)]),
        X.ContractDataDurability.PERSISTENT))
    entry = ledger.with_state(lambda state, _: state.contract_data[key_id(key)])
    assert scval.from_int128(scval.from_struct(entry.entry.val)["amount"]) == 40
    assert entry.live_until == applied.ledger + BALANCE_EXTEND_AMOUNT
    assert X.TransactionMeta.from_xdr(applied.result_meta_xdr).v3.soroban_meta.ext.v1.rent_fee_charged.int64 > 10_000
    assert ledger.check_invariants() == []
    back = prepared(ledger, transfer(ledger, SUBMITTER, holder, PAYEE.public_key, 1))  # recording mode passes
    back.sign(SUBMITTER)
    _failed(ledger, back, "function_trapped", "trying to access contract instance key outside of the footprint")


def test_issuer_transfers_mint_and_burn() -> None:
    ledger = soroban_ledger()
    issued = ledger.issued(f"USDC:{ISSUER.public_key}")
    mint = prepared(ledger, transfer(ledger, ISSUER, ISSUER.public_key, PAYER.public_key, 500))
    mint.sign(ISSUER)
    assert _codes(_apply(ledger, mint))[0] == "tx_success"
    burn = prepared(ledger, transfer(ledger, PAYER, PAYER.public_key, ISSUER.public_key, 200))
    burn.sign(PAYER)
    assert _codes(_apply(ledger, burn))[0] == "tx_success"
    assert ledger.issued(f"USDC:{ISSUER.public_key}") == issued + 300
    assert usdc_balance(ledger, PAYER.public_key) == START + 300 and ledger.check_invariants() == []


def test_a_fee_bump_pays_and_gets_the_refund() -> None:
    """FeeBumpTransactionFrame: the fee source pays the inner resource fee + base fee x (ops + 1) and gets the
    refund (processPostApply forwards it); the inner result reports its own fee less the refund (protocol 21)."""
    ledger = soroban_ledger()
    inner = signed_transfer(ledger, PAYER, SUBMITTER, 10)
    bump = TransactionBuilder.build_fee_bump_transaction(PAYEE.public_key, 200, inner, ledger.passphrase)
    bump.sign(PAYEE)
    before = ledger.balance_of(PAYEE.public_key)
    applied = _apply(ledger, bump)
    assert _codes(applied) == ("tx_fee_bump_inner_success", ["op_success"])
    fees = X.TransactionMeta.from_xdr(applied.result_meta_xdr).v3.soroban_meta.ext.v1
    spent = fees.total_non_refundable_resource_fee_charged.int64 + fees.total_refundable_resource_fee_charged.int64
    assert before - ledger.balance_of(PAYEE.public_key) == applied.result.fee_charged == spent + 200
    assert applied.result.inner.fee_charged == spent + 100
    assert usdc_balance(ledger, PAYEE.public_key) == START + 10


@pytest.mark.parametrize("asset", ["usdc", "native"])
def test_invariants_catch_a_sac_that_creates_value(asset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken SAC whose transfer credits without debiting: the per-asset conservation invariant (lumens
    for XLM) reports it at the close."""
    ledger = soroban_ledger()
    contract = sac(ledger, Asset.native()) if asset == "native" else None
    env = signed_transfer(ledger, PAYER, SUBMITTER, 10**7, contract=contract)
    monkeypatch.setattr(StellarAssetContract, "_spend", lambda self, address, addr, amount: None)
    ledger.submit(env.to_xdr(), endpoint="rpc")
    violations = ledger.close_ledger().violations
    assert any("not conserved" in v for v in violations), violations


def test_snapshot_carries_contract_data() -> None:
    from harness.ledger.ledger import Ledger

    ledger = soroban_ledger()
    _apply(ledger, signed_transfer(ledger, PAYER, SUBMITTER, 10))
    restored = Ledger.restore(ledger.snapshot(), ledger.config, ledger.clock)
    assert restored.with_state(lambda s, _: sorted(s.contract_data)) == ledger.with_state(lambda s, _: sorted(s.contract_data))
    assert restored.check_invariants() == []


RULE_TESTS = {
    "reuses-nonces": lambda: test_a_replayed_nonce_is_refused(),
    "ignores-expiry": lambda: test_expired_auth_entry_is_trapped(),
    "trusts-signatures": lambda: test_auth_signed_for_another_network_is_trapped(),
    "open-footprint": lambda: test_footprint_violations_are_trapped(
        "drop_payee_trustline", "trying to access account trustline entry outside of the footprint"),
    "rent-free": lambda: test_a_refundable_budget_below_rent_is_insufficient(),
    "fee-blind": lambda: test_admission_refuses_soroban_transactions_core_refuses(),
}


@pytest.mark.parametrize("mutant", sorted(RULE_TESTS))
def test_rule_tests_fail_on_lenient_variants(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule test above must catch the leniency it guards against (tests/unit/mutants_soroban.py)."""
    target, name, lenient = SOROBAN_MUTANTS[mutant]
    monkeypatch.setattr(target, name, lenient)
    with pytest.raises(AssertionError):
        RULE_TESTS[mutant]()
