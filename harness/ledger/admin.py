"""Admin endpoints: history, access log, invariants, manual close.

Not part of Horizon; served on every listener next to the Horizon subset (loopback only).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.history_index import HistoryIndex
from harness.ledger.ledger import Ledger
from harness.ledger.responses import bad_field, base_url, json_response

ADMIN_PAGE = 10_000


class AdminRoutes:
    """`GET /admin/history`, `GET /admin/access-log` (paged by `since`/`limit`), `GET /admin/invariants`,
    `POST /admin/close`."""

    def __init__(self, ledger: Ledger, index: HistoryIndex, after_close: Callable[[], None]) -> None:
        self.ledger = ledger
        self.index = index
        self.after_close = after_close

    def register(self, app: web.Application) -> None:
        app.router.add_get("/admin/history", self.history)
        app.router.add_get("/admin/access-log", self.access_log)
        app.router.add_get("/admin/invariants", self.invariants)
        app.router.add_post("/admin/close", self.close)

    @staticmethod
    def _cursor(request: web.Request) -> tuple[int, int] | web.Response:
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", str(ADMIN_PAGE)))
        except ValueError:
            return bad_field("since", "since and limit must be integers")
        if since < 0 or not 1 <= limit <= ADMIN_PAGE:
            return bad_field("since", f"since must be >= 0 and limit within 1..{ADMIN_PAGE}")
        return since, limit

    async def history(self, request: web.Request) -> web.Response:
        cursor = self._cursor(request)
        if isinstance(cursor, web.Response):
            return cursor
        records = self.ledger.history(*cursor)
        return json_response(200, {"records": records, "next": cursor[0] + len(records)}, "application/json")

    async def access_log(self, request: web.Request) -> web.Response:
        cursor = self._cursor(request)
        if isinstance(cursor, web.Response):
            return cursor
        records = self.ledger.access_log(*cursor)
        return json_response(200, {"records": records, "next": cursor[0] + len(records)}, "application/json")

    async def invariants(self, request: web.Request) -> web.Response:
        violations = self.ledger.check_invariants()
        return json_response(200, {"ok": not violations, "violations": violations,
                                   "ledger": self.ledger.latest().sequence}, "application/json")

    async def close(self, request: web.Request) -> web.Response:
        closed = self.ledger.close_ledger()
        self.after_close()
        header = closed.header
        body = R.ledger_body(header, base_url(request), self.index.header_xdr(header.sequence))
        return json_response(200, {"ledger": body, "applied": [a.hash for a in closed.applied],
                                   "dropped": [d.hash for d in closed.dropped],
                                   "violations": list(closed.violations)}, "application/json")
