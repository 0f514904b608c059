"""stellar-core's transaction queue (src/herder/TransactionQueue.cpp, HerderImpl.cpp), without flooding.

* At most ONE queued transaction per source account (`TransactionQueue::canAdd`): a second one is
  `TRY_AGAIN_LATER`, one older than the queued one `ERROR tx_bad_seq`, the same envelope
  `DUPLICATE`. Only a fee bump of the queued transaction (same sequence number) may replace it, and
  only with at least FEE_MULTIPLIER (10) times its fee per operation (`canReplaceByFee`; else
  `ERROR tx_insufficient_fee` whose feeCharged is the minimum fee that would replace it).
* Banned envelopes (applied, evicted, invalidated, or refused because the queue was full) answer
  `TRY_AGAIN_LATER` for BAN_LEDGERS (10) closes (`isBanned`, HerderImpl TRANSACTION_QUEUE_BAN_LEDGERS).
* A queued transaction is evicted and banned after PENDING_DEPTH (4) closes without inclusion
  (`shift`, TRANSACTION_QUEUE_TIMEOUT_LEDGERS); after each close the queued transactions that became
  invalid are banned (`HerderImpl::updateTransactionQueue` -> `getInvalidTxList` -> `ban`).
* A fee source must afford the full fees of all its queued transactions (`canAdd`'s last check,
  `ERROR tx_insufficient_balance` with feeCharged 0).
Queue-level refusals carry feeCharged 0 (`createTxErrorResult`); checkValid's carry its own.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.ledger.envelope import ParsedTx
from harness.ledger.results import TxResult
from harness.ledger.state import LedgerState
from harness.ledger.validity import check_transaction

FEE_MULTIPLIER = 10
PENDING_DEPTH = 4
BAN_LEDGERS = 10


class AddStatus(StrEnum):
    PENDING = "PENDING"
    DUPLICATE = "DUPLICATE"
    ERROR = "ERROR"
    TRY_AGAIN_LATER = "TRY_AGAIN_LATER"


@dataclass(frozen=True, slots=True)
class AddResult:
    status: AddStatus
    rejection: TxResult | None = None
    replaced: ParsedTx | None = None  # a queued transaction this fee bump replaced


@dataclass(slots=True)
class Queued:
    ptx: ParsedTx
    age: int
    order: int


def can_replace_by_fee(new: ParsedTx, old: ParsedTx) -> tuple[bool, int]:
    """(new may replace old, the minimum full fee that would): newFee/newOps >= 10 x oldFee/oldOps."""
    needed = FEE_MULTIPLIER * old.full_fee * new.op_count
    if new.full_fee * old.op_count >= needed:
        return True, 0
    return False, -(-needed // old.op_count)


class TxQueue:
    """Queued transactions by source account, the fee each fee source owes, and the ban list."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._by_source: dict[str, Queued] = {}
        self._hashes: dict[str, str] = {}  # tx hash (hex) -> source
        self._fees: dict[str, int] = {}  # fee source -> full fees of its queued transactions
        self._banned: deque[set[bytes]] = deque([set() for _ in range(BAN_LEDGERS)], maxlen=BAN_LEDGERS)
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._by_source)

    def __contains__(self, tx_hash: str) -> bool:
        return tx_hash in self._hashes

    def is_banned(self, full_hash: bytes) -> bool:
        return any(full_hash in ban for ban in self._banned)

    def pending(self) -> list[ParsedTx]:
        """Queued transactions in arrival order."""
        return [q.ptx for q in sorted(self._by_source.values(), key=lambda q: q.order)]

    def queued_for(self, source: str) -> ParsedTx | None:
        queued = self._by_source.get(source)
        return queued.ptx if queued else None

    def try_add(self, ptx: ParsedTx, state: LedgerState, now: int) -> AddResult:
        """TransactionQueue::tryAdd: admit `ptx` or say why not (nothing changes unless PENDING)."""
        if self.is_banned(ptx.full_hash):
            return AddResult(AddStatus.TRY_AGAIN_LATER)
        if ptx.bump is not None and ptx.bump.fee < 0:
            return AddResult(AddStatus.ERROR, TxResult("tx_malformed"))
        current = self._by_source.get(ptx.source)
        new_fee = ptx.full_fee
        if current is not None:
            old = current.ptx
            if old.full_hash == ptx.full_hash or (old.bump is not None and old.inner_full_hash == ptx.full_hash):
                return AddResult(AddStatus.DUPLICATE)
            if ptx.seq < old.seq:
                return AddResult(AddStatus.ERROR, TxResult("tx_bad_seq"))
            if ptx.bump is None or ptx.seq != old.seq:
                return AddResult(AddStatus.TRY_AGAIN_LATER)
            ok, min_fee = can_replace_by_fee(ptx, old)
            if not ok:
                return AddResult(AddStatus.ERROR, TxResult("tx_insufficient_fee", min_fee))
            if old.fee_source == ptx.fee_source:
                new_fee -= old.full_fee
        elif len(self._by_source) >= self.max_size:
            self.ban([ptx])  # TxQueueLimiter refused it: core bans the envelope
            return AddResult(AddStatus.TRY_AGAIN_LATER)
        check = check_transaction(state, ptx, now)
        if check.rejection is not None:
            return AddResult(AddStatus.ERROR, check.rejection)
        fee_source = state.accounts[ptx.fee_source]
        if state.available(fee_source) - new_fee < self._fees.get(ptx.fee_source, 0):
            return AddResult(AddStatus.ERROR, TxResult("tx_insufficient_balance"))
        replaced = self._drop(ptx.source) if current is not None else None
        self._put(ptx, 0)
        return AddResult(AddStatus.PENDING, replaced=replaced)

    def _put(self, ptx: ParsedTx, age: int) -> None:
        self._by_source[ptx.source] = Queued(ptx, age, next(self._order))
        self._hashes[ptx.hash_hex] = ptx.source
        self._fees[ptx.fee_source] = self._fees.get(ptx.fee_source, 0) + ptx.full_fee

    def _drop(self, source: str) -> ParsedTx | None:
        queued = self._by_source.pop(source, None)
        if queued is None:
            return None
        ptx = queued.ptx
        self._hashes.pop(ptx.hash_hex, None)
        left = self._fees.get(ptx.fee_source, 0) - ptx.full_fee
        if left > 0:
            self._fees[ptx.fee_source] = left
        else:
            self._fees.pop(ptx.fee_source, None)
        return ptx

    def ban(self, ptxs: list[ParsedTx]) -> None:
        """Ban these envelopes for BAN_LEDGERS closes and drop them if they are the queued ones."""
        for ptx in ptxs:
            self._banned[0].add(ptx.full_hash)
            current = self._by_source.get(ptx.source)
            if current is not None and current.ptx.full_hash == ptx.full_hash:
                self._drop(ptx.source)

    def remove_applied(self, applied: list[ParsedTx]) -> None:
        """removeApplied: a queued transaction at or below an applied sequence number goes; applied ones are banned."""
        for ptx in applied:
            current = self._by_source.get(ptx.source)
            if current is not None and current.ptx.seq <= ptx.seq:
                self._drop(ptx.source)
            self._banned[0].add(ptx.full_hash)

    def shift(self) -> list[ParsedTx]:
        """After a close: age every queued transaction, evict (and ban) those PENDING_DEPTH closes old."""
        self._banned.appendleft(set())
        evicted = []
        for queued in list(self._by_source.values()):
            queued.age += 1
            if queued.age >= PENDING_DEPTH:
                evicted.append(queued.ptx)
        self.ban(evicted)
        return evicted

    def snapshot(self) -> dict[str, Any]:
        return {"queued": [[q.ptx.envelope_xdr, q.age] for q in sorted(self._by_source.values(),
                                                                      key=lambda q: q.order)],
                "banned": [sorted(h.hex() for h in ban) for ban in self._banned]}

    def restore(self, data: dict[str, Any], parse: Any) -> None:
        """Refill from `snapshot()` output; `parse(envelope_xdr)` -> ParsedTx."""
        for envelope_xdr, age in data["queued"]:
            self._put(parse(envelope_xdr), int(age))
        bans = [{bytes.fromhex(h) for h in ban} for ban in data["banned"]][:BAN_LEDGERS]
        self._banned = deque(bans + [set() for _ in range(BAN_LEDGERS - len(bans))], maxlen=BAN_LEDGERS)
