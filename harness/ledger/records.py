"""Value objects the ledger hands out: submission results, applied/dropped transactions, ledger headers."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from harness.ledger.envelope import ParsedTx
from harness.ledger.results import OpResult, TxResult


class SubmitStatus(StrEnum):
    """What `Ledger.submit` did with an envelope (async tx_status names where they exist)."""

    PENDING = "PENDING"  # queued for the next close(s)
    DUPLICATE = "DUPLICATE"  # the same hash is already queued
    KNOWN = "KNOWN"  # the same hash is already in a ledger: `applied` holds its stored outcome
    ERROR = "ERROR"  # rejected without a fee: `rejection` holds the codes
    TRY_AGAIN_LATER = "TRY_AGAIN_LATER"  # queue full


@dataclass(frozen=True, slots=True)
class AppliedTx:
    """A transaction included in a ledger (successful or failed), with everything Horizon shows."""

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

    @property
    def successful(self) -> bool:
        return self.result.successful

    @classmethod
    def build(cls, ptx: ParsedTx, result: TxResult, operations: list[dict[str, Any]], ledger: int,
              close_time: int, order: int) -> AppliedTx:
        return cls(
            hash=ptx.hash_hex, envelope_xdr=ptx.envelope_xdr, source=ptx.source, seq=ptx.seq, max_fee=ptx.fee,
            ledger=ledger, close_time=close_time, application_order=order, result=result,
            result_xdr=result.to_xdr(), memo_type=ptx.memo_type, memo_value=ptx.memo_value,
            operations=tuple(operations),
            signatures=tuple(base64.b64encode(sig).decode() for _, sig in ptx.signatures),
            time_bounds=ptx.time_bounds,
        )

    def history_record(self) -> dict[str, Any]:
        """The `applied` history record a judge reconciles against."""
        return {
            "kind": "applied", "hash": self.hash, "source": self.source, "seq": self.seq, "ledger": self.ledger,
            "close_time": self.close_time, "successful": self.successful, "fee_charged": self.result.fee_charged,
            "result_codes": self.result.result_codes(), "operations": [dict(o) for o in self.operations],
            "memo": {"type": self.memo_type, "value": self.memo_value},
            "memo_hash": self.memo_value if self.memo_type == "hash" else None,
            "envelope_xdr": self.envelope_xdr, "result_xdr": self.result_xdr,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["result"] = {"code": self.result.code, "fee_charged": self.result.fee_charged,
                          "operations": [[o.op_type, o.code, o.balance_id] for o in self.result.operations]}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliedTx:
        raw = dict(data)
        res = raw.pop("result")
        result = TxResult(res["code"], int(res["fee_charged"]),
                          tuple(OpResult(t, c, b) for t, c, b in res["operations"]))
        raw["operations"] = tuple(dict(o) for o in raw["operations"])
        raw["signatures"] = tuple(raw["signatures"])
        raw["time_bounds"] = tuple(raw["time_bounds"]) if raw["time_bounds"] is not None else None
        return cls(result=result, **raw)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A queued transaction that never reached a ledger (invalid at close time or a gap never filled)."""

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
