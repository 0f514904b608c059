"""Horizon's state endpoints: an account, one of its data entries, claimable balances (paged).

Sources: Horizon `internal/actions/account.go`, `account_data.go` (`{"value": base64}` or raw bytes for
`Accept: application/octet-stream`), `claimable_balance.go` and `internal/db2/history/claimable_balances.go`
(cursor `<last_modified_ledger>-<balance id>`, ordered by that pair). An account and a data entry also
stream (`internal/httpx/handler.go` streamableObjectActionHandler: the resource again whenever it changed,
no event ids, at most 10 events per connection).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.ledger import Ledger
from harness.ledger.paging import PageQuery, ProblemError, go_int, invalid_field, page_links, page_query
from harness.ledger.responses import (
    MIME_EVENT_STREAM,
    MIME_HAL,
    MIME_JSON,
    MIME_RAW,
    base_url,
    json_response,
    negotiate,
    require_document,
)
from harness.ledger.state import ClaimableBalance, is_account_id
from harness.ledger.streaming import StreamHub

ACCOUNT_ID_MESSAGE = "Account ID must start with `G` and contain 56 alphanum characters"
OBJECT_STREAM_LIMIT = 10  # httpx/handler.go defaultObjectStreamLimit
_BALANCE_ID = re.compile(r"[0-9a-f]{72}")


def _account_id(value: str, field: str = "account_id") -> str:
    if not is_account_id(value):
        raise invalid_field(field, ACCOUNT_ID_MESSAGE)
    return value


ASSET_MESSAGE = ('Asset must be the string "native" or a string of the form "Code:IssuerAccountID" '
                 "for issued assets.")


def _asset_filter(value: str | None) -> str | None:
    """ClaimableBalancesQuery.asset (actions/claimable_balance.go): "native" or "CODE:ISSUER", else 400."""
    if value is None or value == "native":
        return value
    code, sep, issuer = value.partition(":")
    if not sep or not 1 <= len(code) <= 12 or not code.isascii() or not code.isalnum() or not is_account_id(issuer):
        raise invalid_field("asset", ASSET_MESSAGE)
    return value


def balance_cursor(pq: PageQuery) -> tuple[int, str] | None:
    """ClaimableBalancesQuery.Cursor: None for no cursor, else (ledger, balance id); bad -> 400 `cursor`."""
    if pq.cursor == "":
        return None
    ledger, _, balance_id = pq.cursor.partition("-")
    number = go_int(ledger)
    if number is None or number < 0 or not _BALANCE_ID.fullmatch(balance_id):
        raise invalid_field("cursor", "The first part should be a number higher than 0 and the second part should "
                                      "be a valid claimable balance ID")
    return number, balance_id


class StateRoutes:
    """Registers the account and claimable balance routes."""

    def __init__(self, ledger: Ledger, latest: Callable[[], int], streams: StreamHub) -> None:
        self.ledger, self.latest, self.streams = ledger, latest, streams

    def register(self, app: web.Application) -> None:
        app.router.add_get("/accounts/{account_id}", self.account)
        app.router.add_get("/accounts/{account_id}/data/{key}", self.account_data)
        app.router.add_get("/claimable_balances", self.claimable_balances)
        app.router.add_get("/claimable_balances/{balance_id}", self.claimable_balance)

    async def account(self, request: web.Request) -> web.StreamResponse:
        account_id, base = _account_id(request.match_info["account_id"]), base_url(request)

        def current() -> dict[str, Any]:
            account = self.ledger.account(account_id)
            if account is None:
                raise ProblemError("not_found")
            return R.account_body(account, base, self.ledger.trustlines(account_id))

        return await self._object(request, current)

    async def account_data(self, request: web.Request) -> web.StreamResponse:
        account_id, key = _account_id(request.match_info["account_id"]), request.match_info["key"]
        if not 1 <= len(key) <= 64:
            raise invalid_field("key", f"{key} does not validate as length(1|64)")

        def value() -> bytes:
            account = self.ledger.account(account_id)
            found = account.data.get(key) if account is not None else None
            if found is None:
                raise ProblemError("not_found")
            return found

        if negotiate(request) == MIME_RAW:
            return web.Response(status=200, body=value(), content_type=MIME_RAW)
        return await self._object(request, lambda: {"value": base64.b64encode(value()).decode()})

    async def _object(self, request: web.Request, current: Callable[[], dict[str, Any]]) -> web.StreamResponse:
        """A resource as a document, or as a stream of its changed versions."""
        kind = negotiate(request)
        if kind in (MIME_HAL, MIME_JSON):
            return json_response(200, current())
        if kind != MIME_EVENT_STREAM:
            raise ProblemError("not_acceptable")
        last: list[dict[str, Any]] = []

        def changed(_cursor: str) -> list[tuple[str | None, Any]]:
            body = current()
            if last and last[0] == body:
                return []
            last[:] = [body]
            return [(None, body)]

        return await self.streams.serve(request, "", OBJECT_STREAM_LIMIT, changed)

    async def claimable_balances(self, request: web.Request) -> web.Response:
        require_document(request)
        query = request.query
        claimant, sponsor = query.get("claimant") or None, query.get("sponsor") or None
        for name, value in (("claimant", claimant), ("sponsor", sponsor)):
            if value is not None:
                _account_id(value, name)
        pq = page_query(query, request.headers.get("Last-Event-ID"), self.latest(), validate_cursor=False)
        after = balance_cursor(pq)
        asset = _asset_filter(query.get("asset") or None)
        found = [b for b in self.ledger.claimable_balances(claimant, sponsor) if asset in (None, b.asset)]
        found.sort(key=_order, reverse=pq.descending)
        if after is not None:
            found = [b for b in found if (_order(b) < after if pq.descending else _order(b) > after)]
        page = found[:pq.limit]
        base = base_url(request)
        links = page_links(base, request.path, list(query.items()), pq, [R.balance_paging_token(b) for b in page])
        return json_response(200, R.page(links, [R.claimable_balance_body(b, base) for b in page]))

    async def claimable_balance(self, request: web.Request) -> web.Response:
        require_document(request)
        balance_id = request.match_info["balance_id"]
        if not _BALANCE_ID.fullmatch(balance_id):
            raise invalid_field("id", "Claimable Balance ID must be the hex-encoded XDR representation of a "
                                      "Claimable Balance ID")
        balance = self.ledger.claimable_balance(balance_id)
        if balance is None:
            raise ProblemError("not_found")
        return json_response(200, R.claimable_balance_body(balance, base_url(request)))


def _order(balance: ClaimableBalance) -> tuple[int, str]:
    return balance.last_modified_ledger, balance.balance_id

