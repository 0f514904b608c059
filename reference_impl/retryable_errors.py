"""Which errors a retry may repeat: the default classification and the seed's error-code names.

`is_transient_error` is the default. `ErrorCode("ECONNREFUSED")` matches the seed's
`retryableErrors: ['ECONNREFUSED', 'ETIMEDOUT', ...]` spelling in Python terms: an error whose `errno`
(or `code`, as Node-style libraries set it) is that code, or an instance of the `OSError` subclass
Python itself raises for that errno (`ConnectionRefusedError`, `TimeoutError`, ...), anywhere in
the chain of causes.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reference_impl.errors import ConfigurationError
from reference_impl.seed_forms import closest

_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EPIPE,
    }
)
_TRANSIENT_FOREIGN = frozenset(
    {
        ("stellar_sdk.exceptions", "ConnectionError"),
        ("stellar_sdk.exceptions", "BadResponseError"),
        ("httpx", "TransportError"),
        ("aiohttp.client_exceptions", "ClientConnectionError"),
    }
)
# errno names, getaddrinfo's EAI_* names, and Node's ENOTFOUND (its name for a failed DNS lookup)
_CODES: dict[str, int | None] = {
    **{name: number for number, name in errno.errorcode.items()},
    **{name: getattr(socket, name) for name in dir(socket) if name.startswith("EAI_")},
    "ENOTFOUND": None,
}
_CHAIN_LIMIT = 16


def _status_of(error: BaseException) -> int | None:
    for attribute in ("status", "status_code"):
        value = getattr(error, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def is_transient_error(error: BaseException) -> bool:
    """Default classification: connection refused/reset, timeouts, HTTP 5xx and 429, SDK transport errors.

    stellar_sdk / httpx / aiohttp classes are recognised by module and name so this module does not
    import them.
    """
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
        return True
    status = _status_of(error)
    if status is not None:
        return status == 429 or 500 <= status <= 599
    return any((cls.__module__, cls.__name__) in _TRANSIENT_FOREIGN for cls in type(error).__mro__)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and its causes (`__cause__`, else `__context__`), bounded and cycle-safe."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < _CHAIN_LIMIT:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@dataclass(frozen=True)
class ErrorCode:
    """Predicate: the error (or one of its causes) carries the error code `name`, e.g. "ECONNREFUSED"."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in _CODES:
            hint = closest(self.name, _CODES) if isinstance(self.name, str) else None
            raise ConfigurationError(
                f"retryable_errors: unknown error code {self.name!r}"
                + (f"; did you mean {hint!r}?" if hint else "; use an errno name such as 'ECONNREFUSED'")
            )

    def _matches(self, error: BaseException) -> bool:
        number = _CODES[self.name]
        if getattr(error, "code", None) == self.name:
            return True
        if self.name == "ENOTFOUND":
            return isinstance(error, socket.gaierror)
        if self.name.startswith("EAI_"):
            return isinstance(error, socket.gaierror) and error.errno == number
        if getattr(error, "errno", None) == number:
            return True
        raised_as = type(OSError(number, self.name))  # the subclass Python raises for this errno
        return raised_as is not OSError and isinstance(error, raised_as)

    def __call__(self, error: BaseException) -> bool:
        return any(self._matches(e) for e in _chain(error))


RetryableSpec = type[BaseException] | Callable[[BaseException], bool]


def retryable_spec(spec: object) -> RetryableSpec:
    """One `retryable_errors` entry: an exception class, a predicate, or an error-code name."""
    if isinstance(spec, str):
        return ErrorCode(spec)
    if (isinstance(spec, type) and issubclass(spec, BaseException)) or callable(spec):
        return spec
    raise ConfigurationError(
        f"retryable_errors entry {spec!r} is neither an exception class, a predicate nor an error code"
    )
