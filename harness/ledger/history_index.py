"""The read side's history: transactions, operations, payments and effects, globally and per account.

`HistoryIndex.sync()` reads the ledger's append-only history from where it stopped (`applied` records in
application order, `close` records as ledgers complete), so it never runs inside a ledger close and
catches up from a restored snapshot the same way. Records are ordered by Horizon's TOIDs (operation and
transaction ids; effects by (operation id, order)) in `Timeline`s that page in O(log n + limit).
Sources: Horizon `internal/db2/history/{transaction,operation,effect}.go` (filters, `include_failed`,
`OnlyPayments`, cursor comparisons), `internal/ingest/processors/participants_processor.go`.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Generic, TypeVar

from harness.ledger.effects import Effect, EffectState
from harness.ledger.header_xdr import header_xdr
from harness.ledger.ledger import Ledger
from harness.ledger.operations_view import TxView, view_envelope
from harness.ledger.paging import PageQuery, ProblemError, toid
from harness.ledger.records import AppliedTx
from harness.ledger.soroban.horizon import invoke_participants

log = logging.getLogger(__name__)
T = TypeVar("T")
_SYNC_CHUNK = 10_000


class Timeline(Generic[T]):
    """Items in strictly increasing `key(item)` order (ints or int pairs), paged like Horizon's SQL."""

    __slots__ = ("_items", "_key")

    def __init__(self, key: Callable[[T], Any]) -> None:
        self._items: list[T] = []
        self._key = key

    def append(self, item: T) -> None:
        if self._items and self._key(item) <= self._key(self._items[-1]):
            raise ValueError(f"timeline keys must increase: {self._key(item)} after {self._key(self._items[-1])}")
        self._items.append(item)

    def page(self, cursor: Any, descending: bool, limit: int, lo: Any = None, hi: Any = None) -> list[T]:
        """Up to `limit` items with key > cursor (asc) or < cursor (desc), within [lo, hi)."""
        items, key = self._items, self._key
        start = 0 if lo is None else bisect_left(items, lo, key=key)
        end = len(items) if hi is None else bisect_left(items, hi, key=key)
        if descending:
            end = min(end, bisect_left(items, cursor, key=key))
            return items[max(start, end - limit):end][::-1] if end > start else []
        start = max(start, bisect_right(items, cursor, key=key))
        return items[start:min(end, start + limit)] if end > start else []

    def find(self, wanted: Any) -> T | None:
        i = bisect_left(self._items, wanted, key=self._key)
        return self._items[i] if i < len(self._items) and self._key(self._items[i]) == wanted else None

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class TxRecord:
    """An applied transaction with its TOID (ledger, 1-based order in the ledger)."""

    id: int
    applied: AppliedTx

    @property
    def paging_token(self) -> str:
        return str(self.id)


@dataclass(slots=True)
class OpRecord:
    """Operation `index` (0-based) of a transaction; its id is the transaction's TOID + index + 1."""

    id: int
    tx: TxRecord
    index: int
    sponsor: str | None

    @property
    def paging_token(self) -> str:
        return str(self.id)


@dataclass(slots=True)
class EffectRecord:
    """Effect number `order` (1-based) of operation `op_id`."""

    op_id: int
    order: int
    effect: Effect
    close_time: int

    @property
    def paging_token(self) -> str:
        return f"{self.op_id}-{self.order}"


_by_id = attrgetter("id")
_by_effect_key = attrgetter("op_id", "order")


@dataclass(slots=True)
class _Views:
    """The collections of one scope (the whole network or one account); `_ok` = successful transactions."""

    txs: Timeline[TxRecord] = field(default_factory=lambda: Timeline(_by_id))
    txs_ok: Timeline[TxRecord] = field(default_factory=lambda: Timeline(_by_id))
    ops: Timeline[OpRecord] = field(default_factory=lambda: Timeline(_by_id))
    ops_ok: Timeline[OpRecord] = field(default_factory=lambda: Timeline(_by_id))
    payments: Timeline[OpRecord] = field(default_factory=lambda: Timeline(_by_id))
    payments_ok: Timeline[OpRecord] = field(default_factory=lambda: Timeline(_by_id))
    effects: Timeline[EffectRecord] = field(default_factory=lambda: Timeline(_by_effect_key))


class HistoryIndex:
    """Horizon's history tables for one `Ledger`, fed from its history (thread-safe)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.network_id = ledger.network_id
        self._lock = threading.RLock()
        self._cursor = 0
        self._latest = 1  # the genesis ledger has no `close` record
        self._state = EffectState()
        self._all = _Views()
        self._accounts: dict[str, _Views] = {}
        self._balances: dict[str, _Views] = {}  # claimable balance id -> the operations that created/claimed it
        self._by_hash: dict[str, TxRecord] = {}
        self._header_xdr: dict[int, str] = {}

    # ----------------------------------------------------------------- feeding
    def sync(self) -> int:
        """Index every history record since the last call; returns the latest indexed ledger."""
        with self._lock:
            while True:
                records = self.ledger.history(self._cursor, _SYNC_CHUNK)
                for record in records:
                    if record["kind"] == "applied":
                        applied = self.ledger.transaction(record["hash"])
                        if applied is not None:
                            self._add(applied)
                    elif record["kind"] == "close":
                        self._close(record["ledger"])
                self._cursor += len(records)
                if len(records) < _SYNC_CHUNK:
                    return self._latest

    def _close(self, sequence: int) -> None:
        header = self.ledger.header(sequence)
        if header is not None:
            self._header_xdr[sequence] = header_xdr(header, [t.applied for t in self.in_ledger(sequence)])
        self._latest = sequence

    def in_ledger(self, sequence: int) -> list[TxRecord]:
        """Every transaction of ledger `sequence` (failed ones too) in application order."""
        with self._lock:
            return self._all.txs.page(-1, False, len(self._all.txs), toid(sequence), toid(sequence + 1))

    def header_xdr(self, sequence: int) -> str:
        """The `LedgerHeader` XDR of a closed ledger (computed when its `close` record was indexed)."""
        with self._lock:
            self.sync()
            cached = self._header_xdr.get(sequence)
            if cached is not None:
                return cached
            header = self.ledger.header(sequence)
            if header is None:
                raise ProblemError("not_found")
            return header_xdr(header, [])  # the genesis ledger: no transactions, no close record

    def view(self, applied: AppliedTx) -> TxView:
        return view_envelope(applied.envelope_xdr, self.network_id)

    def _account(self, account_id: str) -> _Views:
        return _views_of(self._accounts, account_id)

    def _balance(self, balance_id: str) -> _Views:
        return _views_of(self._balances, balance_id)

    def _add(self, applied: AppliedTx) -> None:
        view = self.view(applied)
        tx = TxRecord(toid(applied.ledger, applied.application_order), applied)
        ok = applied.successful
        participants = dict.fromkeys(view.participants)
        balances: dict[str, None] = {}  # claimable balances whose entries changed (successful operations only)
        effects: list[EffectRecord] = []
        for index, op in enumerate(view.operations):
            created = applied.result.operations[index].balance_id if ok and applied.result.operations else None
            record = OpRecord(tx.id + index + 1, tx, index, op.source_account if created else None)
            touched = created or (op.details["balance_id"] if ok and op.type == "claim_claimable_balance" else None)
            if touched:
                balances[touched] = None
            extra, payment = invoke_participants(applied.result_meta_xdr, index, self.network_id) \
                if op.type == "invoke_host_function" else ([], False)
            participants.update(dict.fromkeys(extra))
            accounts = dict.fromkeys((*op.participants, *extra))
            scopes = (*(self._account(a) for a in accounts), *(self._balance(b) for b in (touched,) if b))
            for scope in (self._all, *scopes):
                _append_ok(scope.ops, scope.ops_ok, record, ok)
                if op.is_payment or payment:
                    _append_ok(scope.payments, scope.payments_ok, record, ok)
            if ok:
                effects += self._effects(record, op, created, applied.close_time, participants)
        for scope in (self._all, *(self._account(a) for a in participants), *(self._balance(b) for b in balances)):
            _append_ok(scope.txs, scope.txs_ok, tx, ok)
        for effect in effects:
            self._all.effects.append(effect)
            self._account(effect.effect.account).effects.append(effect)
        self._by_hash[applied.hash] = tx
        if view.fee_bump is not None:
            self._by_hash[view.fee_bump.inner_hash] = tx

    def _effects(self, record: OpRecord, op: Any, created: str | None, close_time: int,
                 participants: dict[str, None]) -> list[EffectRecord]:
        try:
            found = self._state.effects(op, created)
        except ValueError:  # the ledger and the read side disagree: keep the operation, log the gap
            log.exception("effects of operation %d could not be derived", record.id)
            return []
        for effect in found:  # meta participants: e.g. a claimed balance's sponsor
            participants.update(dict.fromkeys(v for k, v in effect.details.items() if k == "former_sponsor"))
        return [EffectRecord(record.id, order, effect, close_time) for order, effect in enumerate(found, 1)]

    # ----------------------------------------------------------------- reads
    def latest_ledger(self) -> int:
        with self._lock:
            return self.sync()

    def transaction(self, tx_hash: str) -> TxRecord | None:
        with self._lock:
            self.sync()
            return self._by_hash.get(tx_hash)

    def operation(self, op_id: int) -> OpRecord | None:
        with self._lock:
            self.sync()
            return self._all.ops.find(op_id)

    def transactions(self, pq: PageQuery, *, account: str | None = None, ledger: int | None = None,
                     balance: str | None = None, include_failed: bool = False) -> list[TxRecord]:
        with self._lock:
            scope, lo, hi = self._scope(account, ledger, balance)
            line = scope.txs if include_failed else scope.txs_ok
            return line.page(pq.int_cursor(), pq.descending, pq.limit, lo, hi)

    def operations(self, pq: PageQuery, *, account: str | None = None, ledger: int | None = None,
                   balance: str | None = None, tx_hash: str | None = None, payments: bool = False,
                   include_failed: bool = False) -> list[OpRecord]:
        with self._lock:
            scope, lo, hi = self._scope(account, ledger, balance)
            if tx_hash is not None:
                lo, hi = self._tx_range(tx_hash)
                include_failed = True  # Horizon: operations of one transaction include failed ones
            if payments:
                line = scope.payments if include_failed else scope.payments_ok
            else:
                line = scope.ops if include_failed else scope.ops_ok
            return line.page(pq.int_cursor(), pq.descending, pq.limit, lo, hi)

    def effects(self, pq: PageQuery, *, account: str | None = None, ledger: int | None = None,
                tx_hash: str | None = None, op_id: int | None = None) -> list[EffectRecord]:
        with self._lock:
            scope, lo, hi = self._scope(account, ledger)
            if tx_hash is not None:
                lo, hi = self._tx_range(tx_hash)
            if op_id is not None:
                lo, hi = op_id, op_id + 1
            bounds = (None if lo is None else (lo, 0), None if hi is None else (hi, 0))
            return scope.effects.page(pq.pair_cursor(), pq.descending, pq.limit, *bounds)

    def _scope(self, account: str | None, ledger: int | None,
               balance: str | None = None) -> tuple[_Views, int | None, int | None]:
        """Views and TOID bounds of a filter; unknown accounts, ledgers and balances are 404 as in Horizon."""
        latest = self.sync()
        if balance is not None:
            if balance not in self._balances:
                raise ProblemError("not_found")
            return self._balances[balance], None, None
        if account is not None:
            views = self._accounts.get(account)
            if views is None:
                if self.ledger.account(account) is None:
                    raise ProblemError("not_found")
                views = _Views()  # a genesis account that has taken part in nothing yet
            return views, None, None
        if ledger is not None:
            if not 1 <= ledger <= latest:
                raise ProblemError("not_found")
            return self._all, toid(ledger), toid(ledger + 1)
        return self._all, None, None

    def _tx_range(self, tx_hash: str) -> tuple[int, int]:
        tx = self._by_hash.get(tx_hash)
        if tx is None:
            raise ProblemError("not_found")
        return tx.id, tx.id + (1 << 12)


def _views_of(table: dict[str, _Views], key: str) -> _Views:
    views = table.get(key)
    if views is None:
        views = table[key] = _Views()
    return views


def _append_ok(every: Timeline[Any], ok_only: Timeline[Any], item: Any, ok: bool) -> None:
    every.append(item)
    if ok:
        ok_only.append(item)
