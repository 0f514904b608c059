"""Who a request is, for rate limiting and per-client quotas: the client key of an ASGI scope.

A client-chosen header is not an identity: a client rotating fresh `X-API-Key` values would become
as many clients as it likes (its own rate limit and quotas each time). So `default_key` is the
client address, and `IssuedKeys` honours only API keys the operator issued (held as SHA-256
hashes, e.g. from a key file); any other key, or none, is anonymous and keyed by address.
Shared by `RateLimiter.check_limit(request)`, `RateLimitMiddleware` and the service; it imports neither.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from reference_impl.errors import ApiUsageError, ConfigurationError

Scope = MutableMapping[str, Any]
KeyFunc = Callable[[Scope], str]
MAX_ISSUED_KEYS = 1_000_000
MAX_API_KEY_CHARS = 256  # a longer X-API-Key is never hashed: it cannot be an issued key
_HASH = re.compile(r"[0-9a-f]{64}")


def header(scope: Mapping[str, Any], name: str) -> str | None:
    """The first value of request header `name` (case-insensitive), decoded as latin-1."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


def default_key(scope: Mapping[str, Any]) -> str:
    """`ip:<host>`: the client address (a client-chosen header is never trusted as an identity)."""
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def api_key_hash(api_key: str) -> str:
    """The SHA-256 hex digest of an API key: what key files and `IssuedKeys` hold instead of the key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class IssuedKeys:
    """A key function honouring only issued API keys: `key:<hash prefix>` for an issued `X-API-Key`,
    else the client address (`default_key`), so unknown keys cannot multiply a client."""

    def __init__(self, hashes: Iterable[str] = ()) -> None:
        accepted: set[str] = set()
        for i, value in enumerate(hashes):
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise ConfigurationError(f"issued key hash #{i + 1} must be 64 lowercase hex characters")
            accepted.add(value)
            if len(accepted) > MAX_ISSUED_KEYS:
                raise ConfigurationError(f"at most {MAX_ISSUED_KEYS} issued keys")
        self._hashes = frozenset(accepted)

    @classmethod
    def from_keys(cls, api_keys: Iterable[str]) -> IssuedKeys:
        """From plain keys (tests, tools); services should load hashes with `from_file`."""
        return cls(api_key_hash(k) for k in api_keys)

    @classmethod
    def from_file(cls, path: Path | str) -> IssuedKeys:
        """One SHA-256 hex digest per line; blank lines and `#` comments are skipped."""
        try:
            lines = Path(path).read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"API keys file {path}: cannot be read ({type(exc).__name__})") from None
        if len(lines) > 2 * MAX_ISSUED_KEYS:
            raise ConfigurationError(f"API keys file {path}: too many lines")
        hashes = [line.strip().lower() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        try:
            return cls(hashes)
        except ConfigurationError as exc:
            raise ConfigurationError(f"API keys file {path}: {exc}") from None

    def __len__(self) -> int:
        return len(self._hashes)

    def __call__(self, scope: Mapping[str, Any]) -> str:
        api_key = header(scope, "x-api-key")
        if api_key and len(api_key) <= MAX_API_KEY_CHARS:
            digest = api_key_hash(api_key)
            if digest in self._hashes:
                return "key:" + digest[:24]
        return default_key(scope)

    def __repr__(self) -> str:
        return f"IssuedKeys({len(self._hashes)} keys)"


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
