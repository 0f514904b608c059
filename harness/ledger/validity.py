"""stellar-core's checkValid: signatures, sequence numbers, fees, balances, operation well-formedness.

Sources (stellar/stellar-core): src/transactions/TransactionFrame.cpp (`commonValidPreSeqNum`,
`commonValid`, `isBadSeq`, `checkValidWithOptionallyChargedFee`, `checkValidImpl`, `getFee`) and
src/transactions/FeeBumpTransactionFrame.cpp (`commonValidPreSeqNum`, `commonValid`, `checkValidImpl`).

A rejection's `feeCharged` is what core's checkValidImpl puts there: base fee x max(1, operations)
(a fee bump counts one more operation) plus a Soroban transaction's declared resource fee, except the
fee-bump rate check, which reports the inclusion fee needed. Fees compare as core compares them: the
inclusion fee (full fee minus the resource fee) against base fee x operations; the Soroban checks are
harness.ledger.soroban.transaction.soroban_invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from stellar_sdk import StrKey

from harness.ledger.envelope import FeeBump, Op, ParsedTx
from harness.ledger.operations import op_threshold, well_formed
from harness.ledger.results import OpResult, TxResult
from harness.ledger.soroban.transaction import declared_resource_fee, invokes_contract, soroban_invalid
from harness.ledger.state import Account, LedgerState

Signatures = tuple[tuple[bytes, bytes], ...]


@lru_cache(maxsize=131072)
def _verify_key(account_id: str) -> tuple[bytes, VerifyKey]:
    raw = StrKey.decode_ed25519_public_key(account_id)
    return raw[-4:], VerifyKey(raw)


class SignatureChecker:
    """Core's SignatureChecker: which signatures (over one hash) a check used; each verified once."""

    def __init__(self, tx_hash: bytes, signatures: Signatures, cache: dict[tuple[int, str], bool]) -> None:
        self.tx_hash = tx_hash
        self.signatures = signatures
        self.cache = cache
        self.used: set[int] = set()

    def _signed_by(self, key: str) -> int | None:
        hint, verify_key = _verify_key(key)
        for i, (sig_hint, signature) in enumerate(self.signatures):
            if sig_hint != hint:
                continue
            ok = self.cache.get((i, key))
            if ok is None:
                try:
                    verify_key.verify(self.tx_hash, signature)
                    ok = True
                except (BadSignatureError, ValueError):
                    ok = False
                self.cache[(i, key)] = ok
            if ok:
                return i
        return None

    def has_weight(self, account: Account, level: str) -> bool:
        """The signatures reach `account`'s threshold for `level` (low/med/high; at least 1)."""
        needed = max(1, {"low": account.low_threshold, "med": account.med_threshold,
                         "high": account.high_threshold}[level])
        total = 0
        for key, weight in account.signer_weights().items():
            index = self._signed_by(key)
            if index is not None:
                self.used.add(index)
                total += weight
        return total >= needed

    def all_used(self) -> bool:
        return len(self.used) == len(self.signatures)


def inner_checker(ptx: ParsedTx) -> SignatureChecker:
    return SignatureChecker(ptx.inner_hash, ptx.signatures, ptx.verified)


def outer_checker(ptx: ParsedTx, bump: FeeBump) -> SignatureChecker:
    return SignatureChecker(ptx.hash, bump.signatures, bump.verified)


@dataclass(frozen=True, slots=True)
class Check:
    """Result of a validity check: `rejection` is None when valid, else the codes and feeCharged."""

    rejection: TxResult | None


def min_fee(state: LedgerState, ptx: ParsedTx) -> int:
    """getFee(applying=false): base fee x max(1, operations), a fee bump counting one more, plus the
    declared Soroban resource fee."""
    return state.base_fee * ptx.op_count + declared_resource_fee(ptx)


def fee_to_charge(state: LedgerState, ptx: ParsedTx) -> int:
    """What the fee source pays at apply time (getFee with applying=true): never more than the bid."""
    return min(ptx.full_fee, min_fee(state, ptx))


def inner_fee_charged(state: LedgerState, ptx: ParsedTx) -> int:
    """The inner result's feeCharged of an applied fee bump (protocol < 25: the inner tx's own getFee)."""
    return min(ptx.fee, state.base_fee * max(1, len(ptx.operations)) + declared_resource_fee(ptx))


def check_transaction(state: LedgerState, ptx: ParsedTx, now: int) -> Check:
    """checkValid of a plain or fee-bump transaction against `state` at close time `now`."""
    if ptx.bump is None:
        return _check_plain(state, ptx, now, charge_fee=True, fee_charged=min_fee(state, ptx))
    return _check_fee_bump(state, ptx, now)


def _check_fee_bump(state: LedgerState, ptx: ParsedTx, now: int) -> Check:
    bump = ptx.bump
    assert bump is not None
    charged = min_fee(state, ptx)
    resource = declared_resource_fee(ptx)
    inner_ops, outer_ops = state.base_fee * max(1, len(ptx.operations)), state.base_fee * ptx.op_count

    def reject(code: str, fee: int = charged) -> Check:
        return Check(TxResult(code, fee))

    if bump.fee < charged:
        return reject("tx_insufficient_fee")
    inclusion, inner_inclusion = bump.fee - resource, ptx.fee - resource
    if inclusion * inner_ops < inner_inclusion * outer_ops:  # FeeBump commonValidPreSeqNum: the rate must not drop
        return reject("tx_insufficient_fee", -(-inner_inclusion * outer_ops // inner_ops))
    fee_source = state.accounts.get(bump.fee_source)
    if fee_source is None:
        return reject("tx_no_source_account")
    outer = outer_checker(ptx, bump)
    if not outer.has_weight(fee_source, "low"):
        return reject("tx_bad_auth")
    if state.available(fee_source) < bump.fee:
        return reject("tx_insufficient_balance")
    if not outer.all_used():
        return reject("tx_bad_auth_extra")
    inner = _check_plain(state, ptx, now, charge_fee=False, fee_charged=0)
    if inner.rejection is None:
        return inner
    return Check(TxResult("tx_fee_bump_inner_failed", charged, inner=inner.rejection, inner_hash=ptx.inner_hash_hex))


def _check_plain(state: LedgerState, ptx: ParsedTx, now: int, *, charge_fee: bool, fee_charged: int) -> Check:
    def reject(code: str) -> Check:
        return Check(TxResult(code, fee_charged))

    if ptx.other_preconditions:
        return reject("tx_not_supported")
    ops = ptx.operations
    if not ops:
        return reject("tx_missing_operation")
    soroban = soroban_invalid(ptx)
    if soroban is not None:
        return reject(soroban.code)
    if ptx.time_bounds is not None:
        min_time, max_time = ptx.time_bounds
        if min_time and now < min_time:
            return reject("tx_too_early")
        if max_time and now > max_time:
            return reject("tx_too_late")
    if charge_fee and ptx.fee - declared_resource_fee(ptx) < state.base_fee * len(ops):
        return reject("tx_insufficient_fee")
    source = state.accounts.get(ptx.source)
    if source is None:
        return reject("tx_no_source_account")
    if ptx.seq != source.seq_num + 1:  # isBadSeq: strict, no gaps
        return reject("tx_bad_seq")
    signatures = inner_checker(ptx)
    if not signatures.has_weight(source, "low"):
        return reject("tx_bad_auth")
    if charge_fee and state.available(source) < ptx.fee:  # the full fee bid must be spendable
        return reject("tx_insufficient_balance")
    for index, op in enumerate(ops):
        code = check_operation(state, ptx, op, signatures)
        if code != "op_success":  # core fails fast; the other results keep their initial success code
            results = tuple(OpResult(o.type, code if i == index else "op_success") for i, o in enumerate(ops))
            return Check(TxResult("tx_failed", fee_charged, results))
    if not signatures.all_used():
        return reject("tx_bad_auth_extra")
    return Check(None)


def check_operation(state: LedgerState, ptx: ParsedTx, op: Op, signatures: SignatureChecker) -> str:
    """OperationFrame::checkValid: the op source exists and signed enough, the op is well formed."""
    level = op_threshold(op)
    if level is None:
        return "op_not_supported"
    account = state.accounts.get(op.source or ptx.source)
    if account is None:
        return "op_no_source_account"
    if not signatures.has_weight(account, level):
        return "op_bad_auth"
    if op.type == "invoke_host_function" and not invokes_contract(ptx):
        return "op_not_supported"  # uploading or creating contracts: no Wasm in the offline network
    return well_formed(op, op.source or ptx.source)
