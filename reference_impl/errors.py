"""The error hierarchy of the reference components: one root, typed leaves."""

from __future__ import annotations

from typing import Any


class ReferenceImplError(Exception):
    """Root of every error raised by `reference_impl`."""


class ConfigurationError(ReferenceImplError, ValueError):
    """A component was constructed with an invalid option."""


class ApiUsageError(ConfigurationError, TypeError):
    """A component was called in a form that is neither its Python API nor an unambiguous form of the
    seed's API; the message names the form to write instead. Also a `TypeError`, as a wrong call is."""


class ConfigError(ConfigurationError):
    """The config manager refused a file, a key or an override; `key` names the offending key."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ValidationError(ReferenceImplError, ValueError):
    """Input was rejected; `field` is the dotted path of the offending field, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class CryptoVerificationError(ValidationError):
    """A signature, network passphrase or validity window check failed."""


class CircuitOpenError(ReferenceImplError):
    """The breaker rejected the call without running it; `retry_after` is seconds until a trial."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit '{name}' is open; retry after {retry_after:.3f}s")
        self.name = name
        self.retry_after = retry_after


class RetryExhaustedError(ReferenceImplError):
    """Every attempt failed; `last_error` is the final cause and `attempts` the number of tries."""

    def __init__(self, operation: str, attempts: int, last_error: BaseException) -> None:
        super().__init__(f"{operation} failed after {attempts} attempts: {type(last_error).__name__}")
        self.operation = operation
        self.attempts = attempts
        self.last_error = last_error


class AllFailedError(ReferenceImplError):
    """Primary and fallback both failed; both causes are kept (integration fallback, P36)."""

    def __init__(self, primary_error: BaseException, fallback_error: BaseException) -> None:
        super().__init__(
            f"primary failed ({type(primary_error).__name__}) and fallback failed "
            f"({type(fallback_error).__name__})"
        )
        self.primary_error = primary_error
        self.fallback_error = fallback_error
        self.details: dict[str, Any] = {}
