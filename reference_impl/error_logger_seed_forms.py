"""The seed's argument orders of the ErrorLogger methods, told apart from the Python ones.

The seed writes `logError(error, context, severity)`, `logTransactionFailure(transactionId, error,
agentDID, operation)` and `logValidationFailure(error, input, operation)`. Each helper here turns
such a call into the Python method's arguments, or raises `ApiUsageError` naming both forms when the
arguments do not say which one was meant: a guess would store a DID as an operation without a word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reference_impl.errors import ApiUsageError
from reference_impl.redaction import describe_exception, redact

LOG_ERROR_FORMS = (
    "write log_error(error, ErrorSeverity.HIGH, category, operation, context) or the seed's "
    "log_error(error, context, ErrorSeverity.HIGH)"
)
TRANSACTION_FORMS = (
    "write log_transaction_failure(tx_id, agent_did, operation, cause, context=None) or the "
    "seed's log_transaction_failure(tx_id, error, agent_did, operation); with strings "
    "only, name them: agent_did=, operation=, cause="
)
VALIDATION_FORMS = (
    "write log_validation_failure(field_name, reason, operation, context) or the seed's "
    "log_validation_failure(error, input, operation)"
)
MAX_INPUT_CHARS = 2048
_PYTHON_SLOTS = ("agent_did", "operation", "cause", "context")
_SEED_SLOTS = ("cause", "agent_did", "operation", "context")


def log_error_args(
    context: Mapping[str, Any], severity: Any, operation: str, extra: Mapping[str, Any] | None
) -> tuple[Any, str, str, Mapping[str, Any]]:
    """(severity, category, operation, context) of the seed's `log_error(error, context, severity)`;
    severity comes back as the given one, or MEDIUM when the seed call left it out."""
    if extra is not None or operation != "unknown" or (isinstance(severity, str) and severity != "general"):
        raise ApiUsageError(f"log_error got a context mapping second, then more arguments: {LOG_ERROR_FORMS}")
    if isinstance(severity, str):  # the default category: the seed call gave no severity
        from reference_impl.error_logger import ErrorSeverity

        severity = ErrorSeverity.MEDIUM
    named = context.get("operation")
    return severity, "general", named if isinstance(named, str) else "unknown", context


def _is_did(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("did:")


def _slots(args: tuple[Any, ...], named: Mapping[str, Any]) -> tuple[str, ...]:
    """Which parameters the positional arguments after tx_id fill: an exception tells, else the DID."""
    if not args:
        return _PYTHON_SLOTS
    if isinstance(args[0], BaseException):
        return _SEED_SLOTS
    if (len(args) >= 3 and isinstance(args[2], BaseException)) or named["cause"] is not None:
        return _PYTHON_SLOTS
    if len(args) == 1:  # the rest by keyword: a lone non-DID beside agent_did= is the seed's error
        return _SEED_SLOTS if named["agent_did"] is not None and not _is_did(args[0]) else _PYTHON_SLOTS
    if _is_did(args[0]) != _is_did(args[1]):
        return _PYTHON_SLOTS if _is_did(args[0]) else _SEED_SLOTS
    raise ApiUsageError(
        f"log_transaction_failure cannot tell which argument is the agent DID: {TRANSACTION_FORMS}"
    )


def transaction_failure_args(
    args: tuple[Any, ...], agent_did: Any, operation: Any, cause: Any, context: Any
) -> tuple[Any, Any, Any, Any]:
    """(agent_did, operation, cause, context) from positional arguments in either order plus keywords."""
    if len(args) > 4:
        raise ApiUsageError(
            f"log_transaction_failure takes at most 5 positional arguments: {TRANSACTION_FORMS}"
        )
    values = {"agent_did": agent_did, "operation": operation, "cause": cause, "context": context}
    for slot, value in zip(_slots(args, values), args, strict=False):
        if values[slot] is not None:
            raise ApiUsageError(f"log_transaction_failure got {slot} twice: {TRANSACTION_FORMS}")
        values[slot] = value
    missing = [slot for slot in ("agent_did", "operation", "cause") if values[slot] is None]
    if missing:
        raise ApiUsageError(f"log_transaction_failure is missing {', '.join(missing)}: {TRANSACTION_FORMS}")
    return values["agent_did"], values["operation"], values["cause"], values["context"]


def _bounded(value: Any) -> Any:
    """The redacted input, or its first MAX_INPUT_CHARS characters of JSON when it is larger."""
    safe = redact(value)
    text = json.dumps(safe, default=str)
    return safe if len(text) <= MAX_INPUT_CHARS else text[:MAX_INPUT_CHARS] + "...[truncated]"


def validation_failure_args(error: BaseException, value: Any, context: Any) -> tuple[str, str, Any]:
    """(field_name, reason, context) of the seed's `log_validation_failure(error, input, operation)`."""
    field = getattr(error, "field", None)
    reason = getattr(error, "reason", None)
    if not isinstance(field, str) or not field:
        field = "input"
    if not isinstance(reason, str):
        reason = describe_exception(error)
    if context is None or isinstance(context, Mapping):
        context = {"input": _bounded(value), **(context or {})}
    return field, reason, context
