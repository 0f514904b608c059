"""Applying a transaction set, as stellar-core's LedgerManager does: every fee first, then each transaction.

`charge_fee` is processFeeSeqNum (TransactionFrame / FeeBumpTransactionFrame): the fee source pays
min(full fee, base fee x operations) into the fee pool, even below its reserve. `apply_transaction`
is TransactionFrame::apply: the apply-time checks (commonValid with applying=true: sequence number,
signatures), then the sequence number is consumed (txChangesBefore) and the operations run
all-or-nothing; a transaction whose checks fail at apply time stays in the ledger as failed with its
fee charged. Fee bumps apply their inner transaction and report the inner result pair. A Soroban
transaction's operation runs through harness.ledger.soroban.invoke.SorobanRun, which also gives back
the unspent refundable fee after the transaction (processRefund: `txChangesAfter`, feeCharged lowered).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from harness.ledger.config import format_amount
from harness.ledger.envelope import Op, ParsedTx
from harness.ledger.journal import Journal
from harness.ledger.meta import changes_xdr, entry_changes, transaction_meta_xdr
from harness.ledger.operations import OpContext, apply_operation
from harness.ledger.results import OpResult, TxResult
from harness.ledger.soroban.invoke import SorobanRun, describe_invoke
from harness.ledger.state import ClaimableBalance, LedgerState
from harness.ledger.validity import check_operation, fee_to_charge, inner_checker, inner_fee_charged


@dataclass(slots=True)
class Applied:
    """A transaction that made it into a ledger: result, operation descriptions and meta."""

    result: TxResult
    operations: list[dict[str, Any]]
    fee_meta_xdr: str
    result_meta_xdr: str


def charge_fee(state: LedgerState, ptx: ParsedTx, ledger_seq: int, close_time: int) -> tuple[int, str]:
    """processFeeSeqNum: take the fee from the fee source; (fee charged, fee meta LedgerEntryChanges)."""
    journal = Journal(state)
    payer = journal.account(ptx.fee_source)
    assert payer is not None, "a transaction in a set has a fee source"
    fee = min(payer.balance, fee_to_charge(state, ptx))
    payer.balance -= fee
    state.fee_pool += fee
    _stamp(journal, ledger_seq, close_time)
    return fee, changes_xdr(entry_changes(journal.changed(), ledger_seq))


def _stamp(journal: Journal, ledger_seq: int, close_time: int) -> None:
    for _, _, after in journal.changed():
        if hasattr(after, "last_modified_ledger"):
            after.last_modified_ledger, after.last_modified_time = ledger_seq, close_time


def _apply_time_code(state: LedgerState, ptx: ParsedTx) -> tuple[str, int | None]:
    """commonValid (applying) plus operation signatures: (code, failing op index); `tx_success` if fine."""
    source = state.accounts.get(ptx.source)
    if source is None:
        return "tx_no_source_account", None
    if ptx.seq != source.seq_num + 1:
        return "tx_bad_seq", None
    signatures = inner_checker(ptx)
    if not signatures.has_weight(source, "low"):
        return "tx_bad_auth", None
    for index, op in enumerate(ptx.operations):
        code = check_operation(state, ptx, op, signatures)
        if code != "op_success":
            return code, index
    return ("tx_success" if signatures.all_used() else "tx_bad_auth_extra"), None


def apply_transaction(state: LedgerState, ptx: ParsedTx, fee: int, ledger_seq: int, close_time: int,
                      fee_meta_xdr: str = "", network_id: bytes = b"") -> Applied:
    """Apply one transaction whose fee was charged (`fee`): sequence number, then operations or none."""
    ops = ptx.operations
    run = SorobanRun(ptx, network_id, ledger_seq) if ptx.soroban is not None and ptx.soroban.data else None
    code, failing = _apply_time_code(state, ptx)
    before: list[Any] = []
    if code != "tx_bad_seq" and code != "tx_no_source_account":
        seq_journal = Journal(state)
        source = seq_journal.account(ptx.source)
        assert source is not None
        source.seq_num, source.seq_ledger, source.seq_time = ptx.seq, ledger_seq, close_time
        _stamp(seq_journal, ledger_seq, close_time)
        before = entry_changes(seq_journal.changed(), ledger_seq)
    results: list[OpResult] = []
    described = [describe_operation(op, ptx, None, state) for op in ops]
    op_meta: list[list[Any]] = []
    ran = code == "tx_success"
    if ran:
        results, op_meta = _apply_operations(state, ptx, ledger_seq, close_time, described, run)
        code = "tx_success" if all(r.code == "op_success" for r in results) else "tx_failed"
    elif failing is not None:
        results = [OpResult(o.type, code if i == failing else "op_success") for i, o in enumerate(ops)]
        code = "tx_failed"
    if code != "tx_success":
        results = [OpResult(r.op_type, r.code) for r in results]
        op_meta = []
    refund, after, soroban_meta = 0, [], None
    if run is not None:
        refund = run.refund_amount(code == "tx_success")
        after = _refund(state, ptx, refund, ledger_seq, close_time)
        soroban_meta = run.meta(code == "tx_success", ran)
    meta = transaction_meta_xdr(before, op_meta, after, soroban_meta)
    if ptx.bump is None:
        return Applied(TxResult(code, fee - refund, tuple(results)), described, fee_meta_xdr, meta)
    inner = TxResult(code, inner_fee_charged(state, ptx) - refund, tuple(results))
    outer = "tx_fee_bump_inner_success" if code == "tx_success" else "tx_fee_bump_inner_failed"
    return Applied(TxResult(outer, fee - refund, inner=inner, inner_hash=ptx.inner_hash_hex), described, fee_meta_xdr,
                   meta)


def _refund(state: LedgerState, ptx: ParsedTx, amount: int, ledger_seq: int, close_time: int) -> list[Any]:
    """TransactionFrame::refundSorobanFee: the fee source gets `amount` back from the fee pool."""
    if amount <= 0:
        return []
    journal = Journal(state)
    payer = journal.account(ptx.fee_source)
    if payer is None:
        return []
    payer.balance += amount
    state.fee_pool -= amount
    _stamp(journal, ledger_seq, close_time)
    return entry_changes(journal.changed(), ledger_seq)


def _apply_operations(state: LedgerState, ptx: ParsedTx, ledger_seq: int, close_time: int,
                      described: list[dict[str, Any]], run: SorobanRun | None) -> tuple[list[OpResult], list[list[Any]]]:
    tx_journal = Journal(state)
    results: list[OpResult] = []
    op_meta: list[list[Any]] = []
    for index, op in enumerate(ptx.operations):
        claimed = state.claimable.get(op.balance_id) if op.balance_id else None
        claimed = claimed.clone() if claimed is not None else None
        journal = Journal(state)
        code, created = apply_operation(journal, OpContext(ptx, index, ledger_seq, close_time, run), op)
        soroban = op.type == "invoke_host_function"
        balance_id = None if soroban else created
        results.append(OpResult(op.type, code, balance_id, created if soroban else None))
        described[index] = describe_operation(op, ptx, balance_id, state, claimed)
        if code != "op_success":
            journal.merge_into(tx_journal)
            tx_journal.rollback()
            return results, []
        _stamp(journal, ledger_seq, close_time)
        op_meta.append(entry_changes(journal.changed(), ledger_seq))
        journal.merge_into(tx_journal)
    return results, op_meta


def describe_operation(op: Op, ptx: ParsedTx, balance_id: str | None, state: LedgerState,
                       claimed: ClaimableBalance | None = None) -> dict[str, Any]:
    """History view of one operation (documented in docs/ledger.md, "History records").

    Always: type, source, destination, amount (decimal string), asset ("native" / "CODE:ISSUER"),
    balance_id; fields that do not apply are null. Per type, extra keys: create_claimable_balance
    `claimants` [{destination, predicate}]; claim_claimable_balance the claimed `amount`/`asset` and
    `sponsor`; change_trust `trustor`, `limit`; set_trust_line_flags `trustor`, `set_flags`,
    `clear_flags`; set_options the fields it sets; manage_data `name`, `value` (base64 or null);
    invoke_host_function `function`, `contract` and, for a SAC transfer, `from` (destination, amount and
    asset filled in from the call's arguments).
    """
    source = op.source or ptx.source
    out: dict[str, Any] = {"type": op.type, "source": source, "destination": op.destination,
                           "amount": format_amount(op.amount) if op.type in _WITH_AMOUNT else None,
                           "asset": op.asset, "balance_id": op.balance_id or balance_id}
    if op.type == "create_claimable_balance":
        created = state.claimable.get(balance_id) if balance_id else None
        out["claimants"] = ([{"destination": d, "predicate": p} for d, p in created.claimants] if created
                            else [{"destination": d, "predicate": None} for d, _ in op.claimants])
    elif op.type == "claim_claimable_balance":
        claimed = claimed or (state.claimable.get(op.balance_id) if op.balance_id else None)
        out.update(amount=format_amount(claimed.amount) if claimed else None,
                   asset=claimed.asset if claimed else None, sponsor=claimed.sponsor if claimed else None)
    elif op.type == "change_trust":
        out.update(trustor=source, limit=format_amount(op.amount), amount=None)
    elif op.type == "set_trust_line_flags":
        out.update(trustor=op.destination, destination=None, set_flags=op.option("set_flags"),
                   clear_flags=op.option("clear_flags"))
    elif op.type == "set_options":
        out.update({k: (v.decode() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v)
                    for k, v in op.options})
    elif op.type == "invoke_host_function":
        out.update(describe_invoke(ptx, state))
    elif op.type == "manage_data":
        out.update(name=(op.data_name or b"").decode("ascii", errors="replace"),
                   value=base64.b64encode(op.data_value).decode() if op.data_value is not None else None)
    return out


_WITH_AMOUNT = ("create_account", "payment", "create_claimable_balance")
