"""Horizon's read endpoints over the history index: collections (paged or streamed) and single records.

Routes as Horizon `internal/httpx/router.go` declares them; each collection handler does what
`pageActionHandler` does (`internal/httpx/handler.go`): page query, cursor check, filters
(`internal/actions/{transaction,operation,effects,ledger}.go`), the records, then HAL page links or, for
`Accept: text/event-stream`, a stream. Filters may come from the path or the query string, one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.history_index import EffectRecord, HistoryIndex, OpRecord, TxRecord
from harness.ledger.history_resources import effect_body, operation_body, transaction_body
from harness.ledger.ledger import Ledger
from harness.ledger.paging import (
    PageQuery,
    ProblemError,
    adjust_cursor,
    go_int,
    invalid_field,
    page_links,
    page_query,
    parse_toid,
    toid,
)
from harness.ledger.responses import (
    MIME_EVENT_STREAM,
    MIME_HAL,
    MIME_JSON,
    base_url,
    json_response,
    negotiate,
    require_document,
)
from harness.ledger.state import is_account_id
from harness.ledger.streaming import StreamHub

_TX_HASH = re.compile(r"[0-9a-f]{64}")
_BALANCE_ID = re.compile(r"00000000[0-9a-f]{64}")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False, "": False}
MESSAGES = {  # actions/validators.go customTagsErrorMessages
    "account_id": "Account ID must start with `G` and contain 56 alphanum characters",
    "ledger_id": "Ledger ID must be an integer higher than 0",
    "op_id": "Operation ID must be an integer higher than 0",
    "tx_id": "Transaction hash must be a hex-encoded, lowercase SHA-256 hash",
    "claimable_balance_id": "Claimable Balance ID must be the hex-encoded XDR representation of a Claimable "
                            "Balance ID",
}
Event = tuple[str, dict[str, Any]]
Fetch = Callable[[PageQuery], Sequence[Event]]


def _param(request: web.Request, name: str) -> str:
    """getParams: a path parameter wins over the query string."""
    return request.match_info[name] if name in request.match_info else request.query.get(name, "")


def _account(request: web.Request) -> str | None:
    value = _param(request, "account_id")
    if value and not is_account_id(value):
        raise invalid_field("account_id", MESSAGES["account_id"])
    return value or None


def _balance(request: web.Request) -> str | None:
    value = _param(request, "claimable_balance_id")
    if value and not _BALANCE_ID.fullmatch(value):
        raise invalid_field("claimable_balance_id", MESSAGES["claimable_balance_id"])
    return value or None


def _uint(request: web.Request, name: str, bits: int) -> int:
    value = _param(request, name)
    number = go_int(value) if value else 0
    if number is None or not 0 <= number < 1 << bits:
        raise invalid_field(name, MESSAGES.get(name, f'schema: error converting value for "{name}"'))
    return number


def _tx_hash(request: web.Request) -> str | None:
    value = _param(request, "tx_id")
    if value and not _TX_HASH.fullmatch(value):
        raise invalid_field("tx_id", MESSAGES["tx_id"])
    return value or None


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "")
    if value not in _GO_BOOLS:
        raise invalid_field(name, "Filter should be true or false")
    return _GO_BOOLS[value]


def _join(request: web.Request) -> bool:
    value = request.query.get("join", "")
    if value not in ("", "transactions"):
        raise invalid_field("join", "Accepted values: transactions")
    return value == "transactions"


def _single_filter(kind: str, names: str, *filters: object) -> None:
    if sum(1 for f in filters if f) > 1:
        raise invalid_field("filters", f"Use a single filter for {kind}, you can only use one of {names}")


class HistoryRoutes:
    """Registers Horizon's history routes on an aiohttp app."""

    def __init__(self, ledger: Ledger, index: HistoryIndex, streams: StreamHub) -> None:
        self.ledger, self.index, self.streams = ledger, index, streams

    def register(self, app: web.Application) -> None:
        get = app.router.add_get
        for prefix in ("", "/accounts/{account_id}", "/ledgers/{ledger_id}"):
            get(f"{prefix}/transactions", self._collection(self._transactions))
            get(f"{prefix}/operations", self._collection(self._operations))
            get(f"{prefix}/payments", self._collection(self._payments))
            get(f"{prefix}/effects", self._collection(self._effects))
        get("/claimable_balances/{claimable_balance_id}/transactions", self._collection(self._transactions))
        get("/claimable_balances/{claimable_balance_id}/operations", self._collection(self._operations))
        get("/transactions/{tx_id}/operations", self._collection(self._operations))
        get("/transactions/{tx_id}/payments", self._collection(self._payments))
        get("/transactions/{tx_id}/effects", self._collection(self._effects))
        get("/operations/{op_id}/effects", self._collection(self._effects))
        get("/ledgers", self._collection(self._ledgers))
        get("/ledgers/{ledger_id}", self._ledger)
        get("/transactions/{tx_id}", self._transaction)
        get("/operations/{id}", self._operation)

    # ----------------------------------------------------------------- collections
    def _collection(self, lister: Callable[[web.Request, str], Fetch]) -> Callable[..., Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            kind = negotiate(request)
            if kind not in (MIME_HAL, MIME_JSON, MIME_EVENT_STREAM):
                raise ProblemError("not_acceptable")
            pq = page_query(request.query, request.headers.get("Last-Event-ID"), self.index.latest_ledger())
            adjust_cursor(pq, R.ELDER_LEDGER)
            base = base_url(request)
            fetch = lister(request, base)
            if kind == MIME_EVENT_STREAM:
                return await self.streams.serve(
                    request, pq.cursor, pq.limit,
                    lambda cursor: fetch(adjust_cursor(replace(pq, cursor=cursor), R.ELDER_LEDGER)))
            events = fetch(adjust_cursor(pq, R.ELDER_LEDGER))
            links = page_links(base, request.path, list(request.query.items()), pq, [t for t, _ in events])
            return json_response(200, R.page(links, [body for _, body in events]))
        return handle

    def _transactions(self, request: web.Request, base: str) -> Fetch:
        account, ledger, balance = _account(request), _uint(request, "ledger_id", 32), _balance(request)
        include_failed = _flag(request, "include_failed")
        _single_filter("transaction", "account_id, claimable_balance_id or ledger_id", account, ledger, balance)
        return lambda pq: [(r.paging_token, self._tx_body(r, base)) for r in self.index.transactions(
            pq, account=account, ledger=ledger or None, balance=balance, include_failed=include_failed)]

    def _operations(self, request: web.Request, base: str, payments: bool = False) -> Fetch:
        join = _join(request)
        account, ledger, tx_hash = _account(request), _uint(request, "ledger_id", 32), _tx_hash(request)
        balance = _balance(request)
        include_failed = _flag(request, "include_failed")
        _single_filter("operations", "tx_id, account_id or ledger_id", account, ledger, tx_hash, balance)
        return lambda pq: [(r.paging_token, self._op_body(r, base, join)) for r in self.index.operations(
            pq, account=account, ledger=ledger or None, balance=balance, tx_hash=tx_hash, payments=payments,
            include_failed=include_failed)]

    def _payments(self, request: web.Request, base: str) -> Fetch:
        return self._operations(request, base, payments=True)

    def _effects(self, request: web.Request, base: str) -> Fetch:
        account, ledger, tx_hash = _account(request), _uint(request, "ledger_id", 32), _tx_hash(request)
        op_id = _uint(request, "op_id", 64)
        _single_filter("effects", "account_id, op_id, tx_id or ledger_id", account, op_id, tx_hash, ledger)
        return lambda pq: [(r.paging_token, self._effect_body(r, base)) for r in self.index.effects(
            pq, account=account, ledger=ledger or None, tx_hash=tx_hash, op_id=op_id or None)]

    def _ledgers(self, request: web.Request, base: str) -> Fetch:
        def fetch(pq: PageQuery) -> list[Event]:
            latest, cursor = self.index.latest_ledger(), pq.int_cursor()
            if pq.descending:  # toid(seq) < cursor
                top = min(latest, (cursor - 1) >> 32)
                sequences: Sequence[int] = range(top, max(0, top - pq.limit), -1)
            else:  # toid(seq) > cursor
                first = max(1, (cursor >> 32) + 1)
                sequences = range(first, min(latest, first + pq.limit - 1) + 1)
            return [(str(toid(s)), self._ledger_body(s, base)) for s in sequences]
        return fetch

    # ----------------------------------------------------------------- single records
    async def _ledger(self, request: web.Request) -> web.Response:
        require_document(request)
        sequence = _uint(request, "ledger_id", 32)
        if sequence < R.ELDER_LEDGER:
            raise ProblemError("before_history")
        if sequence > self.index.latest_ledger():
            raise ProblemError("not_found")
        return json_response(200, self._ledger_body(sequence, base_url(request)))

    async def _transaction(self, request: web.Request) -> web.Response:
        require_document(request)
        tx_hash = _tx_hash(request)
        record = self.index.transaction(tx_hash or "")
        if record is None:
            raise ProblemError("not_found")
        return json_response(200, self._tx_body(record, base_url(request), tx_hash))

    async def _operation(self, request: web.Request) -> web.Response:
        require_document(request)
        join = _join(request)
        op_id = _uint(request, "id", 64)
        if parse_toid(op_id)[0] < R.ELDER_LEDGER:
            raise ProblemError("before_history")
        record = self.index.operation(op_id)
        if record is None:
            raise ProblemError("not_found")
        return json_response(200, self._op_body(record, base_url(request), join))

    # ----------------------------------------------------------------- bodies
    def _tx_body(self, record: TxRecord, base: str, requested_hash: str | None = None) -> dict[str, Any]:
        return transaction_body(record.applied, self.index.view(record.applied), base, requested_hash)

    def _op_body(self, record: OpRecord, base: str, join: bool) -> dict[str, Any]:
        applied = record.tx.applied
        op = self.index.view(applied).operations[record.index]
        joined = self._tx_body(record.tx, base) if join else None
        return operation_body(record.id, op, applied, record.sponsor, base, joined, self.index.network_id)

    @staticmethod
    def _effect_body(record: EffectRecord, base: str) -> dict[str, Any]:
        return effect_body(record.op_id, record.order, record.effect, record.close_time, base)

    def _ledger_body(self, sequence: int, base: str) -> dict[str, Any]:
        header = self.ledger.header(sequence)
        if header is None:
            raise ProblemError("not_found")
        return R.ledger_body(header, base, self.index.header_xdr(sequence))
