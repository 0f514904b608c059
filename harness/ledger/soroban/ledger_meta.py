"""What Soroban RPC serves about closed ledgers: the `LedgerCloseMeta` of getLatestLedger and the fee
windows of getFeeStats.

`LedgerCloseMeta` v1 (protocol 20-22): the header history entry (the offline ledger's hash and the
`LedgerHeader` Horizon's `header_xdr` renders), a generalized transaction set of two phases (classic,
then Soroban; one component each, no discounted base fee), and per transaction in application order its
result pair, fee changes and `TransactionMeta` - the same bytes getTransaction returns. No upgrades, no
SCP messages; evicted keys are not listed.

Fee windows (stellar-rpc `internal/feewindow/feewindow.go`, `IngestFees`): the fees charged in the last
50 ledgers (classic: per operation) and 10 ledgers (Soroban: the inclusion part).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from stellar_sdk import xdr as X

from harness.ledger.records import AppliedTx, LedgerHeader

CLASSIC_WINDOW, SOROBAN_WINDOW = 50, 10
_PERCENTILES = ("p10", "p20", "p30", "p40", "p50", "p60", "p70", "p80", "p90", "p95", "p99")


def is_soroban(applied: AppliedTx) -> bool:
    return any(op.get("type") == "invoke_host_function" for op in applied.operations)


def _phase(envelopes: list[X.TransactionEnvelope]) -> X.TransactionPhase:
    component = X.TxSetComponent(
        X.TxSetComponentType.TXSET_COMP_TXS_MAYBE_DISCOUNTED_FEE,
        txs_maybe_discounted_fee=X.TxSetComponentTxsMaybeDiscountedFee(None, envelopes))
    return X.TransactionPhase(0, v0_components=[component] if envelopes else [])


def ledger_close_meta(header: LedgerHeader, header_b64: str, applied: list[AppliedTx], soroban_state_size: int) -> str:
    """Base64 `LedgerCloseMeta` v1 of a closed ledger whose transactions were `applied` (in order)."""
    envelopes = [(t, X.TransactionEnvelope.from_xdr(t.envelope_xdr)) for t in applied]
    tx_set = X.GeneralizedTransactionSet(1, v1_tx_set=X.TransactionSetV1(
        X.Hash(bytes.fromhex(header.prev_hash)),
        [_phase([e for t, e in envelopes if not is_soroban(t)]), _phase([e for t, e in envelopes if is_soroban(t)])]))
    processing = [X.TransactionResultMeta(
        X.TransactionResultPair(X.Hash(bytes.fromhex(t.hash)), X.TransactionResult.from_xdr(t.result_xdr)),
        X.LedgerEntryChanges.from_xdr(t.fee_meta_xdr) if t.fee_meta_xdr else X.LedgerEntryChanges([]),
        X.TransactionMeta.from_xdr(t.result_meta_xdr)) for t in applied]
    entry = X.LedgerHeaderHistoryEntry(X.Hash(bytes.fromhex(header.hash)), X.LedgerHeader.from_xdr(header_b64),
                                       X.LedgerHeaderHistoryEntryExt(0))
    meta = X.LedgerCloseMetaV1(X.LedgerCloseMetaExt(0), entry, tx_set, processing, [], [],
                               X.Uint64(soroban_state_size), [], [])
    return base64.b64encode(X.LedgerCloseMeta(1, v1=meta).to_xdr_bytes()).decode()


@dataclass(frozen=True, slots=True)
class FeeWindow:
    """The fees of the transactions in a window of ledgers (feewindow.FeeWindow)."""

    fees: tuple[int, ...]
    ledgers: int

    def distribution(self) -> dict[str, Any]:
        """computeFeeDistribution: nearest-rank percentiles, the mode = the longest run (first on ties);
        amounts as strings, `ledgerCount` a number; an empty window is all zeros."""
        fees = sorted(self.fees)
        if not fees:
            return {**{k: "0" for k in ("max", "min", "mode", *_PERCENTILES)}, "transactionCount": "0",
                    "ledgerCount": 0}
        runs = [(len(list(group)), -i, fee) for i, (fee, group) in enumerate(groupby(fees))]
        body = {"max": str(fees[-1]), "min": str(fees[0]), "mode": str(max(runs)[2])}
        body.update({k: str(fees[(int(k[1:]) * len(fees) + 99) // 100 - 1]) for k in _PERCENTILES})
        return {**body, "transactionCount": str(len(fees)), "ledgerCount": self.ledgers}


def inclusion_fee(applied: AppliedTx) -> int:
    """What feewindow takes from a transaction: a Soroban one's fee charged minus the resource fee it was
    charged (sorobanMeta ext v1), a classic one's fee charged per operation."""
    if not is_soroban(applied):
        return applied.result.fee_charged // max(1, len(applied.operations))
    soroban = X.TransactionMeta.from_xdr(applied.result_meta_xdr).v3
    ext = soroban.soroban_meta.ext.v1 if soroban is not None and soroban.soroban_meta is not None else None
    spent = ext.total_non_refundable_resource_fee_charged.int64 + ext.total_refundable_resource_fee_charged.int64 \
        if ext is not None else 0
    return applied.result.fee_charged - spent


def fee_windows(latest: int, in_ledger: Callable[[int], list[AppliedTx]]) -> tuple[FeeWindow, FeeWindow]:
    """(classic, Soroban) windows ending at ledger `latest` (ledger 1, genesis, has no transactions)."""
    classic: list[int] = []
    soroban: list[int] = []
    for seq in range(max(2, latest - CLASSIC_WINDOW + 1), latest + 1):
        for applied in in_ledger(seq):
            if not is_soroban(applied):
                classic.append(inclusion_fee(applied))
            elif seq > latest - SOROBAN_WINDOW:
                soroban.append(inclusion_fee(applied))
    closed = max(0, latest - 1)
    return FeeWindow(tuple(classic), min(CLASSIC_WINDOW, closed)), FeeWindow(tuple(soroban), min(SOROBAN_WINDOW, closed))
