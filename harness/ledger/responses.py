"""HTTP plumbing shared by the ledger's routes: JSON and problem responses, base URL, content negotiation."""

from __future__ import annotations

import json
from typing import Any

import mimeparse
from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.paging import ProblemError

MIME_HAL, MIME_JSON = "application/hal+json", "application/json"
MIME_EVENT_STREAM, MIME_RAW = "text/event-stream", "application/octet-stream"


def json_response(status: int, body: dict[str, Any], content_type: str = MIME_HAL) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type=content_type)


def problem_response(slug: str, extras: dict[str, Any] | None = None, detail: str | None = None) -> web.Response:
    status, body = R.problem(slug, extras, detail)
    return json_response(status, body, R.PROBLEM_CONTENT_TYPE)


def error_response(error: ProblemError) -> web.Response:
    return problem_response(error.slug, error.extras, error.detail)


def bad_field(field: str, reason: str) -> web.Response:
    return problem_response("bad_request", {"invalid_field": field, "reason": reason})


def base_url(request: web.Request) -> str:
    """context.BaseURL: scheme (X-Forwarded-Proto first) and the Host the client asked for."""
    scheme = request.headers.get("X-Forwarded-Proto") or request.scheme
    return f"{scheme}://{request.host}"


def negotiate(request: web.Request) -> str:
    """render.Negotiate: HAL without an Accept header, else the best of HAL, JSON, event stream, raw ("" = none).

    Horizon lists the alternatives in that order and the first wins a tie; python-mimeparse lets the last win.
    """
    accept = request.headers.get("Accept", "")
    if not accept:
        return MIME_HAL
    try:
        return str(mimeparse.best_match([MIME_RAW, MIME_EVENT_STREAM, MIME_JSON, MIME_HAL], accept))
    except ValueError:  # mimeparse.MimeTypeParseException: an unparseable Accept header matches nothing
        return ""


def require_document(request: web.Request) -> None:
    """ObjectActionHandler: a resource that does not stream answers 406 unless HAL or JSON is acceptable."""
    if negotiate(request) not in (MIME_HAL, MIME_JSON):
        raise ProblemError("not_acceptable")
