"""Validity checks and operation semantics: what stellar-core does to one transaction.

`check_transaction` is core's checkValid (no state change); `apply_transaction` charges the fee,
consumes the sequence number and applies the operations all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from stellar_sdk import StrKey

from harness.ledger.config import format_amount
from harness.ledger.envelope import Op, ParsedTx
from harness.ledger.results import OpResult, TxResult
from harness.ledger.state import (
    MAX_SUBENTRIES,
    Account,
    ClaimableBalance,
    LedgerState,
    predicate_holds,
    predicate_is_valid,
    predicate_to_json,
)

INT64_MAX = 2**63 - 1
# supported operation type -> threshold level its source account must meet
OP_THRESHOLDS = {"create_account": "med", "payment": "med", "create_claimable_balance": "med",
                 "claim_claimable_balance": "low", "manage_data": "med"}


@lru_cache(maxsize=131072)
def _verify_key(account_id: str) -> tuple[bytes, VerifyKey]:
    raw = StrKey.decode_ed25519_public_key(account_id)
    return raw[-4:], VerifyKey(raw)


def _signed_by(ptx: ParsedTx, key: str) -> int | None:
    """Index of a signature in the envelope made by `key` over the tx hash, or None."""
    hint, verify_key = _verify_key(key)
    for i, (sig_hint, signature) in enumerate(ptx.signatures):
        if sig_hint != hint:
            continue
        ok = ptx.verified.get((i, key))
        if ok is None:
            try:
                verify_key.verify(ptx.hash, signature)
                ok = True
            except (BadSignatureError, ValueError):
                ok = False
            ptx.verified[(i, key)] = ok
        if ok:
            return i
    return None


def _has_weight(ptx: ParsedTx, account: Account, level: str, used: set[int]) -> bool:
    needed = max(1, {"low": account.low_threshold, "med": account.med_threshold,
                     "high": account.high_threshold}[level])
    total = 0
    for key, weight in account.signer_weights().items():
        index = _signed_by(ptx, key)
        if index is not None:
            used.add(index)
            total += weight
    return total >= needed


@dataclass(frozen=True, slots=True)
class Check:
    """Result of a validity check: `rejection` is None when valid, else the codes (fee 0)."""

    rejection: TxResult | None


def check_transaction(state: LedgerState, ptx: ParsedTx, now: int, *, applying: bool) -> Check:
    """stellar-core's checkValid at time `now`; at apply time the sequence must be exactly next."""
    if ptx.fee_bump or ptx.other_preconditions:
        return Check(TxResult("tx_not_supported"))
    ops = ptx.operations
    if not ops:
        return Check(TxResult("tx_missing_operation"))
    if ptx.time_bounds is not None:
        min_time, max_time = ptx.time_bounds
        if min_time and now < min_time:
            return Check(TxResult("tx_too_early"))
        if max_time and now > max_time:
            return Check(TxResult("tx_too_late"))
    if ptx.fee < state.base_fee * len(ops):
        return Check(TxResult("tx_insufficient_fee"))
    source = state.accounts.get(ptx.source)
    if source is None:
        return Check(TxResult("tx_no_source_account"))
    if ptx.seq != source.seq_num + 1 if applying else ptx.seq <= source.seq_num:
        return Check(TxResult("tx_bad_seq"))
    used: set[int] = set()
    if not _has_weight(ptx, source, "low", used):
        return Check(TxResult("tx_bad_auth"))
    if source.balance - fee_to_charge(state, ptx) < state.min_balance(source):
        return Check(TxResult("tx_insufficient_balance"))
    op_codes = [_check_operation(state, ptx, op, used) for op in ops]
    if any(code != "op_success" for code in op_codes):
        return Check(TxResult("tx_failed", 0, tuple(OpResult(op.type, code)
                                                      for op, code in zip(ops, op_codes, strict=True))))
    if len(used) != len(ptx.signatures):
        return Check(TxResult("tx_bad_auth_extra"))
    return Check(None)


def fee_to_charge(state: LedgerState, ptx: ParsedTx) -> int:
    """Base fee x operations (no surge pricing); never more than the bid."""
    return min(ptx.fee, state.base_fee * max(1, len(ptx.operations)))


def _check_operation(state: LedgerState, ptx: ParsedTx, op: Op, used: set[int]) -> str:
    if op.type not in OP_THRESHOLDS:
        return "op_not_supported"
    account = state.accounts.get(op.source or ptx.source)
    if account is None:
        return "op_no_source_account"
    if not _has_weight(ptx, account, OP_THRESHOLDS[op.type], used):
        return "op_bad_auth"
    return _malformed_code(op, op.source or ptx.source)


def _malformed_code(op: Op, source: str) -> str:
    if op.type == "create_account":
        return "op_malformed" if op.amount <= 0 or op.destination == source else "op_success"
    if op.type == "payment":
        return "op_malformed" if op.amount <= 0 else "op_success"
    if op.type == "create_claimable_balance":
        destinations = [d for d, _ in op.claimants]
        bad = (op.amount <= 0 or not 1 <= len(destinations) <= 10 or len(set(destinations)) != len(destinations)
               or not all(predicate_is_valid(p) for _, p in op.claimants))
        return "op_malformed" if bad else "op_success"
    if op.type == "manage_data":
        name = op.data_name or b""
        if not 1 <= len(name) <= 64 or not all(32 <= c < 127 for c in name):
            return "op_invalid_name"
    return "op_success"


@dataclass(slots=True)
class Applied:
    """A transaction that made it into a ledger: its result and what each operation did."""

    result: TxResult
    operations: list[dict[str, Any]]


class _Journal:
    """Undo log so a failed operation set leaves every entry as it was (all-or-nothing)."""

    def __init__(self, state: LedgerState) -> None:
        self.state = state
        self.accounts: dict[str, Account | None] = {}
        self.claimable: dict[str, ClaimableBalance | None] = {}

    def account(self, account_id: str) -> Account | None:
        current = self.state.accounts.get(account_id)
        if account_id not in self.accounts:
            self.accounts[account_id] = current.clone() if current is not None else None
        return current

    def balance(self, balance_id: str) -> ClaimableBalance | None:
        current = self.state.claimable.get(balance_id)
        if balance_id not in self.claimable:
            self.claimable[balance_id] = current.clone() if current is not None else None
        return current

    def rollback(self) -> None:
        for key, acc in self.accounts.items():
            if acc is None:
                self.state.accounts.pop(key, None)
            else:
                self.state.accounts[key] = acc
        for key, cb in self.claimable.items():
            if cb is None:
                self.state.claimable.pop(key, None)
            else:
                self.state.claimable[key] = cb


def apply_transaction(state: LedgerState, ptx: ParsedTx, ledger_seq: int, close_time: int) -> Applied:
    """Charge the fee, consume the sequence number, apply all operations or none. Assumes a passed check."""
    source = state.accounts[ptx.source]
    fee = fee_to_charge(state, ptx)
    source.balance -= fee
    state.fee_pool += fee
    source.seq_num = ptx.seq
    source.last_modified_ledger, source.last_modified_time = ledger_seq, close_time
    journal = _Journal(state)
    results: list[OpResult] = []
    described: list[dict[str, Any]] = []
    for index, op in enumerate(ptx.operations):
        code, balance_id = _apply_operation(journal, ptx, op, index, ledger_seq, close_time)
        results.append(OpResult(op.type, code, balance_id))
        described.append(describe_operation(op, ptx, balance_id))
    if all(r.code == "op_success" for r in results):
        for acc in (state.accounts.get(k) for k in journal.accounts):
            if acc is not None:
                acc.last_modified_ledger, acc.last_modified_time = ledger_seq, close_time
        return Applied(TxResult("tx_success", fee, tuple(results)), described)
    journal.rollback()
    failed = tuple(OpResult(r.op_type, r.code) for r in results)
    return Applied(TxResult("tx_failed", fee, failed), described)


def describe_operation(op: Op, ptx: ParsedTx, balance_id: str | None) -> dict[str, Any]:
    """History view of one operation: type, source, destination, amount, asset, balance id."""
    has_amount = op.type in ("create_account", "payment", "create_claimable_balance")
    return {"type": op.type, "source": op.source or ptx.source, "destination": op.destination,
            "amount": format_amount(op.amount) if has_amount else None,
            "asset": op.asset, "balance_id": op.balance_id or balance_id}


def _apply_operation(journal: _Journal, ptx: ParsedTx, op: Op, index: int,
                     ledger_seq: int, close_time: int) -> tuple[str, str | None]:
    source = journal.account(op.source or ptx.source)
    if source is None:
        return "op_no_source_account", None
    if op.type == "create_account":
        return _create_account(journal, source, op, ledger_seq), None
    if op.type == "payment":
        return _payment(journal, source, op), None
    if op.type == "create_claimable_balance":
        return _create_claimable_balance(journal, source, op, ptx, index, ledger_seq, close_time)
    if op.type == "claim_claimable_balance":
        return _claim(journal, source, op, close_time), None
    if op.type == "manage_data":
        return _manage_data(journal.state, source, op), None
    return "op_not_supported", None


def _create_account(journal: _Journal, source: Account, op: Op, ledger_seq: int) -> str:
    state = journal.state
    assert op.destination is not None
    if journal.account(op.destination) is not None:
        return "op_already_exists"
    if op.amount < 2 * state.base_reserve:
        return "op_low_reserve"
    if state.available(source) < op.amount:
        return "op_underfunded"
    source.balance -= op.amount
    state.accounts[op.destination] = Account(op.destination, op.amount, ledger_seq << 32,
                                             last_modified_ledger=ledger_seq)
    return "op_success"


def _payment(journal: _Journal, source: Account, op: Op) -> str:
    state = journal.state
    assert op.destination is not None and op.asset is not None
    if op.asset != "native":
        if op.asset.split(":", 1)[1] != source.account_id:
            return "op_src_no_trust"
        return "op_no_trust" if journal.account(op.destination) is not None else "op_no_destination"
    destination = journal.account(op.destination)
    if destination is None:
        return "op_no_destination"
    if destination is source:
        return "op_success" if source.balance >= op.amount else "op_underfunded"
    if state.available(source) < op.amount:
        return "op_underfunded"
    if destination.balance > INT64_MAX - op.amount:
        return "op_line_full"
    source.balance -= op.amount
    destination.balance += op.amount
    return "op_success"


def _create_claimable_balance(journal: _Journal, source: Account, op: Op, ptx: ParsedTx, index: int,
                              ledger_seq: int, close_time: int) -> tuple[str, str | None]:
    state = journal.state
    if op.asset != "native":
        return "op_no_trust", None
    reserve = len(op.claimants) * state.base_reserve
    if state.available(source) < reserve:
        return "op_low_reserve", None
    if state.available(source) - reserve < op.amount:
        return "op_underfunded", None
    balance_id = ptx.claimable_balance_id(index)
    journal.balance(balance_id)
    source.balance -= op.amount
    source.num_sponsoring += len(op.claimants)
    state.claimable[balance_id] = ClaimableBalance(
        balance_id=balance_id, amount=op.amount, sponsor=source.account_id,
        claimants=[(d, predicate_to_json(p, close_time)) for d, p in op.claimants],
        last_modified_ledger=ledger_seq, last_modified_time=close_time)
    return "op_success", balance_id


def _claim(journal: _Journal, source: Account, op: Op, close_time: int) -> str:
    state = journal.state
    assert op.balance_id is not None
    balance = journal.balance(op.balance_id)
    if balance is None:
        return "op_does_not_exist"
    predicate = next((p for d, p in balance.claimants if d == source.account_id), None)
    if predicate is None or not predicate_holds(predicate, close_time):
        return "op_cannot_claim"
    if source.balance > INT64_MAX - balance.amount:
        return "op_line_full"
    sponsor = journal.account(balance.sponsor)
    source.balance += balance.amount
    if sponsor is not None:
        sponsor.num_sponsoring -= len(balance.claimants)
    del state.claimable[op.balance_id]
    return "op_success"


def _manage_data(state: LedgerState, source: Account, op: Op) -> str:
    assert op.data_name is not None
    name = op.data_name.decode("ascii")
    if op.data_value is None:
        if name not in source.data:
            return "op_data_name_not_found"
        del source.data[name]
        source.subentry_count -= 1
        return "op_success"
    if name not in source.data:
        if source.subentry_count >= MAX_SUBENTRIES:
            return "op_too_many_subentries"
        if state.available(source) < state.base_reserve:
            return "op_low_reserve"
        source.subentry_count += 1
    source.data[name] = op.data_value
    return "op_success"
