"""Applying a Soroban transaction at ledger close (stellar-core v21.3.1 `InvokeHostFunctionOpFrame::doApply`,
`TransactionFrame::apply` / `applyOperations` / `processRefund`, `MutableTransactionResult.cpp`
`SorobanTxData::consumeRefundableSorobanResources`).

The fee source was charged the declared resource fee plus the inclusion fee (processFeeSeqNum). Of the
resource fee, the non-refundable part (computed from the declared resources) is spent; the rest is a
refundable budget from which the invocation's rent and events fees are taken; what is left is refunded
to the fee source after the transaction (`txChangesAfter`), and `feeCharged` drops by it. A failed
invocation spends only the non-refundable part. Result codes: read bytes beyond the declared ones,
instructions beyond the declared ones, write bytes beyond the declared ones or events beyond the
network limit -> INVOKE_HOST_FUNCTION_RESOURCE_LIMIT_EXCEEDED; an archived persistent entry ->
ENTRY_ARCHIVED; rent or events fee beyond the refundable budget -> INSUFFICIENT_REFUNDABLE_FEE; any
other host failure (auth, footprint, balances, ...) -> TRAPPED. Diagnostic events are kept as core
keeps them with ENABLE_SOROBAN_DIAGNOSTIC_EVENTS (core's own metrics events are not produced).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.config import format_amount
from harness.ledger.envelope import ParsedTx
from harness.ledger.journal import Journal
from harness.ledger.soroban.contracts import PERSISTENT, asset_of_instance, data_key, key_id
from harness.ledger.soroban.fees import rent_fee, transaction_resource_fee
from harness.ledger.soroban.footprint import footprint_map
from harness.ledger.soroban.host import Host, Outcome, source_address
from harness.ledger.soroban.network import SETTINGS, SorobanSettings
from harness.ledger.soroban.storage import HostStorage
from harness.ledger.soroban.transaction import declared_resources, pre_apply_fee
from harness.ledger.soroban.values import EC, ET, address_text, data_of, event, sc_error
from harness.ledger.state import LedgerState

TRAPPED, LIMIT = "function_trapped", "resource_limit_exceeded"
ARCHIVED, REFUNDABLE = "entry_archived", "insufficient_refundable_fee"


def _error_event(kind: X.SCErrorType, code: X.SCErrorCode, message: str, *values: int) -> X.DiagnosticEvent:
    """SorobanTxData::pushSimpleDiagnosticError."""
    topics = [scval.to_symbol("error"), X.SCVal(X.SCValType.SCV_ERROR, error=sc_error(kind, code))]
    args = [scval.to_string(message), *(scval.to_uint64(v) for v in values)]
    return X.DiagnosticEvent(False, event(X.ContractEventType.DIAGNOSTIC, None, topics, data_of(args)))


class SorobanRun:
    """The Soroban side of applying one transaction: fees, the invocation, the refund and the meta."""

    def __init__(self, ptx: ParsedTx, network_id: bytes, ledger_seq: int, settings: SorobanSettings = SETTINGS,
                 rng: random.Random | None = None) -> None:
        assert ptx.soroban is not None
        self.ptx, self.network_id, self.ledger_seq, self.settings = ptx, network_id, ledger_seq, settings
        self.rng = rng or random.Random(ptx.hash)
        self.non_refundable, _ = pre_apply_fee(ptx.soroban, settings)
        self.refund = ptx.soroban.resource_fee - self.non_refundable
        self.rent = self.refundable_spent = 0
        self.outcome: Outcome | None = None
        self.diagnostics: list[X.DiagnosticEvent] = []

    # ------------------------------------------------------------- the operation
    def invoke(self, journal: Journal, op_source: str) -> tuple[str, str | None]:
        """doApply: (Horizon op code, hex SHA-256 of the InvokeHostFunctionSuccessPreImage on success)."""
        soroban = self.ptx.soroban
        assert soroban is not None and soroban.invoke is not None
        res = soroban.resources
        code = self._read_footprint(journal, res)
        if code is not None:
            return code, None
        host = Host(journal, footprint_map(res.footprint), list(soroban.invoke.auth), source_address(op_source),
                    self.ledger_seq, self.network_id, self.settings, res.instructions.uint32, self.rng)
        outcome = self.outcome = host.invoke(soroban.invoke.host_function)
        self.diagnostics += outcome.diagnostic_events
        if outcome.error is not None:
            if outcome.cpu > res.instructions.uint32:
                self._push(ET.SCE_BUDGET, "operation instructions exceeds amount specified", outcome.cpu,
                           res.instructions.uint32)
                return LIMIT, None
            return TRAPPED, None
        return self._after_success(host.storage, outcome, res)

    def _read_footprint(self, journal: Journal, res: X.SorobanResources) -> str | None:
        """addReads: every footprint entry's size, before the host runs; archived entries refused."""
        storage = HostStorage(journal, None, self.ledger_seq)
        total = 0
        for key in (*res.footprint.read_only, *res.footprint.read_write):
            data = journal.state.contract_data.get(key_id(key)) if key.type == X.LedgerEntryType.CONTRACT_DATA else None
            if data is not None and data.persistent and data.live_until < self.ledger_seq:
                return ARCHIVED
            entry = storage.entry(key)
            size = len(entry.to_xdr_bytes()) if entry is not None else 0
            if key.type == X.LedgerEntryType.CONTRACT_DATA and size > self.settings.max_contract_data_entry_size_bytes:
                return LIMIT
            total += size
            if total > res.disk_read_bytes.uint32:
                self._push(ET.SCE_BUDGET, "operation byte-read resources exceeds amount specified", total,
                           res.disk_read_bytes.uint32)
                return LIMIT
        return None

    def _after_success(self, storage: HostStorage, outcome: Outcome, res: X.SorobanResources) -> tuple[str, str | None]:
        written = storage.write_bytes()
        if written > res.write_bytes.uint32:
            self._push(ET.SCE_BUDGET, "operation byte-write resources exceeds amount specified", written,
                       res.write_bytes.uint32)
            return LIMIT, None
        if outcome.events_size > self.settings.tx_max_contract_events_size_bytes:
            self._push(ET.SCE_BUDGET, "total events size exceeds network config maximum", outcome.events_size,
                       self.settings.tx_max_contract_events_size_bytes)
            return LIMIT, None
        rent = rent_fee(storage.rent_changes(), self.settings, self.ledger_seq)
        if self.refund < rent:
            self._push(ET.SCE_BUDGET, "refundable resource fee was not sufficient to cover the ledger storage rent: "
                       "{} > {}", rent, self.refund)
            return REFUNDABLE, None
        assert self.ptx.soroban is not None
        _, events_fee = transaction_resource_fee(declared_resources(self.ptx.soroban, outcome.events_size),
                                                 self.settings)
        if self.refund - rent < events_fee:
            self._push(ET.SCE_BUDGET, "refundable resource fee was not sufficient to cover the events fee after "
                       "paying for ledger storage rent: {} > {}", events_fee, self.refund - rent)
            return REFUNDABLE, None
        self.rent, self.refundable_spent = rent, rent + events_fee
        self.refund -= rent + events_fee
        assert outcome.return_value is not None
        preimage = X.InvokeHostFunctionSuccessPreImage(outcome.return_value, outcome.contract_events)
        return "op_success", hashlib.sha256(preimage.to_xdr_bytes()).hexdigest()

    def _push(self, kind: X.SCErrorType, message: str, *values: int) -> None:
        self.diagnostics.append(_error_event(kind, EC.SCEC_EXCEEDED_LIMIT, message, *values))

    # ------------------------------------------------------------- after the transaction
    def refund_amount(self, succeeded: bool) -> int:
        """What processRefund gives back: the unspent refundable budget, or all of it after a failure."""
        if not succeeded:
            self.rent = self.refundable_spent = 0
            return self.ptx.soroban.resource_fee - self.non_refundable if self.ptx.soroban else 0
        return self.refund

    def meta(self, succeeded: bool, ran: bool) -> X.SorobanTransactionMeta | None:
        """TransactionMetaV3.sorobanMeta (with the ext v1 fee breakdown), None when no operation ran."""
        if not ran:
            return None
        outcome = self.outcome
        ok = succeeded and outcome is not None and outcome.return_value is not None
        ext = X.SorobanTransactionMetaExt(1, v1=X.SorobanTransactionMetaExtV1(
            X.ExtensionPoint(0), X.Int64(self.non_refundable), X.Int64(self.refundable_spent if ok else 0),
            X.Int64(self.rent if ok else 0)))
        events = outcome.contract_events if ok and outcome else []
        value = outcome.return_value if ok and outcome and outcome.return_value is not None else scval.to_void()
        return X.SorobanTransactionMeta(ext, events, value, self.diagnostics)


def describe_invoke(ptx: ParsedTx, state: LedgerState) -> dict[str, Any]:
    """History fields of an invoke_host_function operation (see apply.describe_operation): `function`
    and `contract` (C...); for a SAC `transfer`, `from`, `destination`, `amount` and `asset` as the
    envelope asks them (also when the transaction failed)."""
    invoke = ptx.soroban.invoke if ptx.soroban is not None else None
    fn = invoke.host_function.invoke_contract if invoke is not None else None
    if fn is None:
        return {"function": None, "contract": None}
    out: dict[str, Any] = {"function": fn.function_name.sc_symbol.decode("ascii", "replace"),
                           "contract": address_text(fn.contract_address)}
    args = fn.args
    if out["function"] == "transfer" and len(args) == 3 and args[0].address and args[1].address \
            and args[2].type == X.SCValType.SCV_I128:
        key = data_key(fn.contract_address, X.SCVal(X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), PERSISTENT)
        instance = state.contract_data.get(key_id(key))
        out.update({"from": address_text(args[0].address), "destination": address_text(args[1].address),
                    "amount": format_amount(scval.from_int128(args[2])),
                    "asset": asset_of_instance(instance.entry) if instance is not None else None})
    return out
