"""Value objects the ledger hands out: submission results, applied/dropped transactions, ledger headers."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from harness.ledger.envelope import ParsedTx
from harness.ledger.results import TxResult


class SubmitStatus(StrEnum):
    """What `Ledger.submit` did with an envelope (async tx_status names where they exist)."""

    PENDING = "PENDING"  # queued for the next close(s)
    DUPLICATE = "DUPLICATE"  # the same hash is already queued
    KNOWN = "KNOWN"  # (sync only) the hash is already in a ledger: `applied` holds its stored outcome
    ERROR = "ERROR"  # refused, nothing charged: `rejection` holds the codes and core's feeCharged
    TRY_AGAIN_LATER = "TRY_AGAIN_LATER"  # the source already has a queued tx, a banned envelope, or a full queue


@dataclass(frozen=True, slots=True)
class AppliedTx:
    """A transaction included in a ledger (successful or failed), with everything Horizon shows.

    `hash` is the transaction's id (the outer hash of a fee bump); `source`, `seq`, `max_fee`,
    `signatures` and `operations` are the (inner) transaction's. A fee bump also has `inner_hash`,
    `outer_fee` (its `fee`) and `outer_signatures`; `fee_account` is who paid (the fee source).
    `fee_meta_xdr` is base64 `LedgerEntryChanges` (the fee source before/after the fee) and
    `result_meta_xdr` base64 `TransactionMeta` v3 (sequence bump, then each operation's changes).
    """

    hash: str
    envelope_xdr: str
    source: str
    seq: int
    max_fee: int
    ledger: int
    close_time: int
    application_order: int  # 1-based position within its ledger (Horizon's TOID transaction order)
    result: TxResult
    result_xdr: str
    memo_type: str
    memo_value: str | None
    operations: tuple[dict[str, Any], ...]
    signatures: tuple[str, ...]
    time_bounds: tuple[int, int] | None
    fee_account: str = ""
    inner_hash: str | None = None
    outer_fee: int | None = None
    outer_signatures: tuple[str, ...] = ()
    fee_meta_xdr: str = ""
    result_meta_xdr: str = ""

    @property
    def successful(self) -> bool:
        return self.result.successful

    @classmethod
    def build(cls, ptx: ParsedTx, applied: Any, ledger: int, close_time: int, order: int) -> AppliedTx:
        """From a parsed envelope and `apply.Applied` (result, operation descriptions, meta)."""
        result: TxResult = applied.result
        bump = ptx.bump
        return cls(
            hash=ptx.hash_hex, envelope_xdr=ptx.envelope_xdr, source=ptx.source, seq=ptx.seq, max_fee=ptx.fee,
            ledger=ledger, close_time=close_time, application_order=order, result=result,
            result_xdr=result.to_xdr(), memo_type=ptx.memo_type, memo_value=ptx.memo_value,
            operations=tuple(applied.operations),
            signatures=tuple(base64.b64encode(sig).decode() for _, sig in ptx.signatures),
            time_bounds=ptx.time_bounds, fee_account=ptx.fee_source,
            inner_hash=ptx.inner_hash_hex if bump else None, outer_fee=bump.fee if bump else None,
            outer_signatures=tuple(base64.b64encode(sig).decode() for _, sig in bump.signatures) if bump else (),
            fee_meta_xdr=applied.fee_meta_xdr, result_meta_xdr=applied.result_meta_xdr,
        )

    def history_record(self) -> dict[str, Any]:
        """The `applied` history record a judge reconciles against."""
        return {
            "kind": "applied", "hash": self.hash, "source": self.source, "seq": self.seq, "ledger": self.ledger,
            "close_time": self.close_time, "successful": self.successful, "fee_charged": self.result.fee_charged,
            "fee_account": self.fee_account, "inner_hash": self.inner_hash,
            "result_codes": self.result.result_codes(), "operations": [dict(o) for o in self.operations],
            "memo": {"type": self.memo_type, "value": self.memo_value},
            "memo_hash": self.memo_value if self.memo_type == "hash" else None,
            "envelope_xdr": self.envelope_xdr, "result_xdr": self.result_xdr,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["result"] = self.result.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliedTx:
        raw = dict(data)
        result = TxResult.from_json(raw.pop("result"))
        raw["operations"] = tuple(dict(o) for o in raw["operations"])
        raw["signatures"] = tuple(raw["signatures"])
        raw["outer_signatures"] = tuple(raw["outer_signatures"])
        raw["time_bounds"] = tuple(raw["time_bounds"]) if raw["time_bounds"] is not None else None
        return cls(result=result, **raw)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A queued transaction that never reached a ledger: invalid after a close, or evicted after
    PENDING_DEPTH closes (`result.code` is then "tx_queue_timeout", not a core result code)."""

    hash: str
    source: str
    seq: int
    ledger: int
    result: TxResult  # fee 0, the code that dropped it


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of one `Ledger.submit` call."""

    status: SubmitStatus
    hash: str
    rejection: TxResult | None = None
    applied: AppliedTx | None = None


@dataclass(frozen=True, slots=True)
class LedgerHeader:
    """A closed ledger as Horizon's ledger resource describes it."""

    sequence: int
    hash: str
    prev_hash: str
    close_time: int
    successful_transaction_count: int
    failed_transaction_count: int
    operation_count: int
    base_fee: int
    base_reserve: int
    max_tx_set_size: int
    protocol_version: int
    total_coins: int
    fee_pool: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ClosedLedger:
    """What one close did: the new header, the applied and dropped transactions, invariant violations."""

    header: LedgerHeader
    applied: tuple[AppliedTx, ...]
    dropped: tuple[Dropped, ...]
    violations: tuple[str, ...]
