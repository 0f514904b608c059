"""RateLimitMiddleware: pure ASGI rate limiting in front of any app (works with Starlette and uvicorn).

Per request: the endpoint comes from `endpoint_resolver(scope)` (default: the manager's path-prefix
routing; None = not limited) and the client key from `key_func(scope)` (default: the client
address; `request_keys.IssuedKeys` honours issued `X-API-Key`s). A rejected request gets 429 with a JSON body
{"error": "rate_limited", "endpoint", "limit", "retry_after"} and `Retry-After`; every limited
response, allowed or not, carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
(whole seconds, rounded up). The decision is also left in `scope["state"]["rate_limit"]`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from reference_impl.rate_limiter import RateLimiterManager, RateLimitResult
from reference_impl.request_keys import IssuedKeys, KeyFunc, Scope, default_key, header

__all__ = ["IssuedKeys", "RateLimitMiddleware", "default_key", "header", "rate_limit_headers"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
EndpointResolver = Callable[[Scope], "str | None"]
ResultListener = Callable[[str, str, RateLimitResult], None]
HeadersFunc = Callable[[RateLimitResult], list[tuple[bytes, bytes]]]


def rate_limit_headers(result: RateLimitResult) -> list[tuple[bytes, bytes]]:
    """The X-RateLimit-* headers (plus Retry-After when rejected) for one decision."""
    pairs = [
        ("x-ratelimit-limit", str(result.limit)),
        ("x-ratelimit-remaining", str(max(0, result.remaining))),
        ("x-ratelimit-reset", str(math.ceil(result.reset_after))),
    ]
    if not result.allowed:
        pairs.append(("retry-after", str(max(1, math.ceil(result.retry_after)))))
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


class RateLimitMiddleware:
    """Wraps an ASGI app; answers 429 for requests over their endpoint's limit."""

    def __init__(self, app: ASGIApp, manager: RateLimiterManager, key_func: KeyFunc = default_key,
                 endpoint_resolver: EndpointResolver | None = None,
                 on_result: ResultListener | None = None, headers_func: HeadersFunc | None = None) -> None:
        self.app = app
        self.headers_func = headers_func or rate_limit_headers
        self.manager = manager
        self.key_func = key_func
        self.endpoint_resolver = endpoint_resolver or (lambda scope: manager.resolve(scope.get("path", "")))
        self.on_result = on_result

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        endpoint = self.endpoint_resolver(scope)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        key = self.key_func(scope)
        result = self.manager.check_limit(endpoint, key)
        scope.setdefault("state", {})["rate_limit"] = result
        if self.on_result is not None:
            self.on_result(endpoint, key, result)
        extra = self.headers_func(result)
        if not result.allowed:
            await _reject(send, endpoint, result, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message.get("type") == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _reject(send: Send, endpoint: str, result: RateLimitResult, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({
        "error": "rate_limited",
        "endpoint": endpoint,
        "limit": result.limit,
        "retry_after": round(result.retry_after, 3),
    }).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())] + extra
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
