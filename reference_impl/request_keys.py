"""Who a request is, for rate limiting: the client key of an ASGI scope or a Starlette request.

Shared by `RateLimiter.check_limit(request)` and `RateLimitMiddleware`; it imports neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from reference_impl.errors import ApiUsageError

Scope = MutableMapping[str, Any]
KeyFunc = Callable[[Scope], str]


def header(scope: Mapping[str, Any], name: str) -> str | None:
    """The first value of request header `name` (case-insensitive), decoded as latin-1."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


def default_key(scope: Mapping[str, Any]) -> str:
    """`api:<sha256 prefix>` of the X-API-Key header (the key itself is never kept), else `ip:<host>`."""
    api_key = header(scope, "x-api-key")
    if api_key:
        return "api:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:24]
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def request_key(request: Any, key_func: KeyFunc) -> str:
    """A key string itself, else `key_func` of the ASGI scope of a Starlette request (or of a scope)."""
    if isinstance(request, str):
        return request
    scope = getattr(request, "scope", request)
    if isinstance(scope, MutableMapping) and scope.get("type") in ("http", "websocket"):
        return key_func(scope)
    raise ApiUsageError(
        "check_limit takes a client key string, a Starlette request or an ASGI http scope, "
        f"got {type(request).__name__}"
    )
