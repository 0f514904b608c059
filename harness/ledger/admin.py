"""Admin endpoints (history, access log, invariants, manual close) and the JSON response helpers.

Not part of Horizon; served on every listener next to the Horizon subset (loopback only).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.ledger import Ledger

ADMIN_PAGE = 10_000


def json_response(status: int, body: dict[str, Any], content_type: str = "application/hal+json") -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type=content_type)


def problem_response(slug: str, extras: dict[str, Any] | None = None, detail: str | None = None) -> web.Response:
    status, body = R.problem(slug, extras, detail)
    return json_response(status, body, R.PROBLEM_CONTENT_TYPE)


def bad_field(field: str, reason: str) -> web.Response:
    return problem_response("bad_request", {"invalid_field": field, "reason": reason})


class AdminRoutes:
    """`GET /admin/history`, `GET /admin/access-log` (paged by `since`/`limit`), `GET /admin/invariants`,
    `POST /admin/close`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

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
        return json_response(200, {"ledger": R.ledger_body(closed.header), "applied": [a.hash for a in closed.applied],
                                   "dropped": [d.hash for d in closed.dropped],
                                   "violations": list(closed.violations)}, "application/json")
