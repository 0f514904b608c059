"""Soroban RPC's JSON-RPC 2.0 endpoint at `/soroban/rpc` on every ledger listener.

The HTTP side is stellar-rpc's (cmd/stellar-rpc/internal/jsonrpc.go: a jrpc2 `jhttp.Bridge` behind a
512 KiB `MaxBytesHandler`): POST only, a JSON body, answers HTTP 200 with JSON-RPC responses - one
object, or an array for a batch; notifications (no `id`) get no response. Envelope errors use jrpc2's
codes: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid params
(positional params are refused: stellar-rpc's handlers disallow arrays), -32603 internal error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from harness.ledger.responses import base_url
from harness.ledger.soroban.rpc_methods import INTERNAL_ERROR, INVALID_PARAMS, RpcError, SorobanMethods

log = logging.getLogger(__name__)
PATH = "/soroban/rpc"
MAX_BODY = 512 * 1024
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class SorobanRpc:
    """The `/soroban/rpc` route: JSON-RPC envelope handling around SorobanMethods."""

    def __init__(self, methods: SorobanMethods) -> None:
        self.methods = methods.table()

    def register(self, app: web.Application) -> None:
        app.router.add_route("*", PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        if request.content_type != "application/json":
            return web.Response(status=415, text="unsupported content type\n")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="request body too large\n")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return web.Response(status=413, text="request body too large\n")
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return web.json_response(_error(None, PARSE_ERROR, "invalid request message"))
        base = base_url(request)
        if isinstance(message, list):
            if not message:
                return web.json_response(_error(None, INVALID_REQUEST, "empty request batch"))
            answers = [a for a in (self._one(m, base) for m in message) if a is not None]
            return web.json_response(answers) if answers else web.Response(status=204)
        answer = self._one(message, base)
        return web.json_response(answer) if answer is not None else web.Response(status=204)

    def _one(self, message: Any, base: str) -> dict[str, Any] | None:
        """One request -> its response (None for a notification)."""
        if not isinstance(message, dict):
            return _error(None, INVALID_REQUEST, "request is not a JSON object")
        has_id = "id" in message
        request_id = message.get("id")
        if message.get("jsonrpc") != "2.0":
            return _error(request_id if has_id else None, INVALID_REQUEST, "incorrect version marker")
        if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int | float)):
            return _error(None, INVALID_REQUEST, "invalid request ID")
        name = message.get("method")
        if not isinstance(name, str) or not name:
            return _error(request_id, INVALID_REQUEST, "empty method name")
        method = self.methods.get(name)
        params = message.get("params")
        if method is None:
            answer = _error(request_id, METHOD_NOT_FOUND, f'no such method "{name}"')
        elif params is not None and not isinstance(params, dict):
            answer = _error(request_id, INVALID_PARAMS, "invalid parameters: array parameters are not allowed")
        else:
            try:
                answer = {"jsonrpc": "2.0", "id": request_id, "result": method(params or {}, base)}
            except RpcError as exc:
                answer = _error(request_id, exc.code, exc.message)
            except Exception:  # a bug must answer an internal error, never drop the connection
                log.exception("soroban rpc %s failed", name)
                answer = _error(request_id, INTERNAL_ERROR, "internal error")
        return answer if has_id else None
