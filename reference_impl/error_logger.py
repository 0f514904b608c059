"""ErrorLogger: structured, redacted error records to memory, console and a rotating JSON-lines file.

Every record is redacted (see `reference_impl.redaction`) before it is stored, written, alerted or
handed to a subscriber. Records at or above `alert_threshold` go to the alert sink; a failing sink or
subscriber is counted, never propagated.

The seed's forms are accepted where they are unambiguous (`seed_forms` decides): a config mapping
(`{"logDirectory": "./logs", "alertThreshold": ErrorSeverity.HIGH}`), `log_error(error, context,
severity)`, `log_transaction_failure(tx_id, error, agent_did, operation)` and
`log_validation_failure(error, input, operation)`; an ambiguous call is refused naming both forms.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import IO, Any

from reference_impl import error_logger_seed_forms as seed_forms
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ConfigurationError, ReferenceImplError, ValidationError
from reference_impl.redaction import describe_exception, redact, redact_text
from reference_impl.rotating_jsonl import RotatingJsonLines
from reference_impl.seed_forms import SeedKeys, coerce_config


class ErrorSeverity(IntEnum):
    """Ordered severities: LOW < MEDIUM < HIGH < CRITICAL."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class UnknownRecordError(ReferenceImplError, KeyError):
    """`resolve` was given an id the logger does not hold (never logged, or evicted)."""


@dataclass(frozen=True)
class ErrorRecord:
    """One logged error; `context` is already redacted and JSON-friendly."""

    id: str
    time: float
    severity: ErrorSeverity
    category: str
    operation: str
    message: str
    context: Mapping[str, Any]
    resolved: bool = False
    resolution_note: str | None = None
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (severity by name, ISO time beside the epoch seconds)."""
        return {
            "id": self.id,
            "time": self.time,
            "timestamp": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "severity": self.severity.name,
            "category": self.category,
            "operation": self.operation,
            "message": self.message,
            "context": dict(self.context),
            "resolved": self.resolved,
            "resolution_note": self.resolution_note,
            "resolved_at": self.resolved_at,
        }


RecordCallback = Callable[[ErrorRecord], None]


def _one_line(text: str) -> str:
    """Console lines cannot be forged by a message holding line breaks."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _with_fields(context: Mapping[str, Any] | None, **fields: str) -> dict[str, Any]:
    if context is not None and not isinstance(context, Mapping):
        raise ValidationError("context", f"must be a mapping, not {type(context).__name__}")
    return {**(context or {}), **fields}


@dataclass(frozen=True)
class ErrorLoggerConfig:
    """Where records go and when they alert. `max_records` bounds the in-memory store."""

    console: bool = True
    file_path: str | Path | None = None
    max_bytes: int = 10 * 1024 * 1024
    backup_count: int = 5
    alert_threshold: ErrorSeverity = ErrorSeverity.HIGH
    alert_sink: RecordCallback | None = None
    max_records: int = 10_000
    console_stream: IO[str] | None = None
    id_prefix: str = "err"

    def __post_init__(self) -> None:
        if not isinstance(self.alert_threshold, ErrorSeverity):
            raise ConfigurationError(
                f"alert_threshold must be an ErrorSeverity, not {self.alert_threshold!r}"
            )
        for name in ("max_bytes", "backup_count", "max_records"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (0 if name == "backup_count" else 1)
            ):
                raise ConfigurationError(f"{name} must be a positive int, not {value!r}")
        if self.alert_sink is not None and not callable(self.alert_sink):
            raise ConfigurationError("alert_sink must be callable")


def _severity(value: Any) -> Any:
    """An `ErrorSeverity` from itself or its name ("HIGH", "high"); anything else is left to validation."""
    if isinstance(value, str) and value.upper() in ErrorSeverity.__members__:
        return ErrorSeverity[value.upper()]
    return value


LOG_FILE_NAME = "errors.jsonl"
SEED_KEYS = SeedKeys(
    owner="ErrorLogger",
    example="{'logDirectory': './logs', 'alertThreshold': ErrorSeverity.HIGH}",
    plain={"logDirectory": "file_path", "filePath": "file_path", "file": "file_path", "console": "console",
           "maxBytes": "max_bytes", "maxFileBytes": "max_bytes", "backupCount": "backup_count",
           "maxFiles": "backup_count", "alertThreshold": "alert_threshold", "alertSink": "alert_sink",
           "maxRecords": "max_records", "consoleStream": "console_stream", "idPrefix": "id_prefix"},
    converters={"logDirectory": lambda d: Path(d) / LOG_FILE_NAME if isinstance(d, str | Path) else d,
                "alertThreshold": _severity},
)
"""The seed's keys, the config files' `monitoring.logging` spellings, and the rest in camelCase;
`logDirectory` writes `<directory>/errors.jsonl`."""


class ErrorLogger:
    """Structured error logging with alerting, resolution tracking and statistics."""

    def __init__(self, config: ErrorLoggerConfig | Mapping[str, Any] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = (
            ErrorLoggerConfig() if config is None else coerce_config(config, ErrorLoggerConfig, SEED_KEYS)
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._records: deque[str] = deque()
        self._by_id: dict[str, ErrorRecord] = {}
        self._seq = 0
        self._counts: Counter[tuple[str, str]] = Counter()
        self._unresolved: Counter[tuple[str, str]] = Counter()
        self._subscribers: list[RecordCallback] = []
        self.alerts_sent = 0
        self.callback_failures = 0
        self.evicted = 0
        self.write_failures = 0
        self._file = (
            RotatingJsonLines(Path(self.config.file_path), self.config.max_bytes, self.config.backup_count)
            if self.config.file_path is not None
            else None
        )

    # -- core -------------------------------------------------------------------------------

    def log_error(
        self,
        error_or_message: BaseException | str,
        severity: ErrorSeverity | Mapping[str, Any] = ErrorSeverity.MEDIUM,
        category: str | ErrorSeverity = "general",
        operation: str = "unknown",
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        """Redact, store, write and alert one record; returns the stored record.

        The seed's order `log_error(error, context, ErrorSeverity.HIGH)` (a mapping second) is
        accepted too; its operation is `context["operation"]` when that is a string.
        """
        if isinstance(severity, Mapping):
            severity, category, operation, context = seed_forms.log_error_args(
                severity, category, operation, context
            )
        if not isinstance(severity, ErrorSeverity):
            raise ValidationError("severity", f"must be an ErrorSeverity, not {type(severity).__name__}: "
                                  f"{seed_forms.LOG_ERROR_FORMS}")
        if not isinstance(category, str) or not isinstance(operation, str):
            raise ValidationError("category", "category and operation must be strings")
        if context is not None and not isinstance(context, Mapping):
            raise ValidationError("context", f"must be a mapping, not {type(context).__name__}")
        if isinstance(error_or_message, BaseException):
            message = describe_exception(error_or_message)
        elif isinstance(error_or_message, str):
            message = error_or_message
        else:
            raise ValidationError("error", "must be an exception or a string")
        safe = {
            "category": redact_text(category),
            "operation": redact_text(operation),
            "message": redact_text(message),
            "context": redact(dict(context or {})),
        }
        with self._lock:
            self._seq += 1
            record_id = f"{self.config.id_prefix}-{self._seq:08d}"
            record = ErrorRecord(id=record_id, time=self._clock.time(), severity=severity, **safe)
            self._store(record)
            self._write(record)
        if severity >= self.config.alert_threshold and self.config.alert_sink is not None:
            if self._call(self.config.alert_sink, record):
                with self._lock:
                    self.alerts_sent += 1
        self._notify(record)
        return record

    def _store(self, record: ErrorRecord) -> None:
        self._records.append(record.id)
        self._by_id[record.id] = record
        key = (record.severity.name, record.category)
        self._counts[key] += 1
        self._unresolved[key] += 1
        while len(self._records) > self.config.max_records:
            del self._by_id[self._records.popleft()]
            self.evicted += 1

    def _write(self, record: ErrorRecord, event: str = "record") -> None:
        """File and console output; an I/O failure is counted, the record is still kept and alerted."""
        try:
            if self._file is not None:
                line = {"event": event, **record.to_dict()}
                self._file.write(json.dumps(line, default=str, sort_keys=True))
            if self.config.console:
                stream = self.config.console_stream or sys.stderr
                stamp = datetime.fromtimestamp(record.time, UTC).isoformat(timespec="milliseconds")
                stream.write(
                    f"{stamp} {record.severity.name} {record.category}/{record.operation} "
                    f"[{record.id}] {_one_line(record.message)}\n"
                )
        except (OSError, ValueError):  # disk full, closed stream: logging must not take the caller down
            self.write_failures += 1

    def _call(self, callback: RecordCallback, record: ErrorRecord) -> bool:
        try:
            callback(record)
            return True
        except Exception:  # a broken sink or subscriber never breaks logging
            with self._lock:
                self.callback_failures += 1
            return False

    def _notify(self, record: ErrorRecord) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            self._call(callback, record)

    def subscribe(self, callback: RecordCallback) -> Callable[[], None]:
        """Call `callback` with every new or resolved record; returns an unsubscribe function."""
        if not callable(callback):
            raise ValidationError("callback", "must be callable")
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def resolve(self, record_id: str, note: str = "") -> ErrorRecord:
        """Mark a record resolved with a (redacted) note; resolving again only updates the note."""
        if not isinstance(note, str):
            raise ValidationError("note", "must be a string")
        with self._lock:
            current = self._by_id.get(record_id) if isinstance(record_id, str) else None
            if current is None:
                raise UnknownRecordError(f"no record with id {record_id!r}")
            if not current.resolved:
                self._unresolved[(current.severity.name, current.category)] -= 1
            record = dataclasses.replace(
                current, resolved=True, resolution_note=redact_text(note), resolved_at=self._clock.time()
            )
            self._by_id[record_id] = record
            self._write(record, "resolution")
        self._notify(record)
        return record

    # -- queries ----------------------------------------------------------------------------

    def get_record(self, record_id: str) -> ErrorRecord | None:
        with self._lock:
            return self._by_id.get(record_id)

    def get_records(
        self,
        since: float | None = None,
        severity: ErrorSeverity | None = None,
        category: str | None = None,
        min_severity: ErrorSeverity | None = None,
        resolved: bool | None = None,
    ) -> list[ErrorRecord]:
        """Stored records, oldest first, filtered by time (>= since), exact/min severity, category."""
        with self._lock:
            records = [self._by_id[rid] for rid in self._records]
        return [
            r
            for r in records
            if (since is None or r.time >= since)
            and (severity is None or r.severity == severity)
            and (min_severity is None or r.severity >= min_severity)
            and (category is None or r.category == category)
            and (resolved is None or r.resolved == resolved)
        ]

    def get_statistics(self) -> dict[str, Any]:
        """Counts since start (evicted records included) by severity and by category."""
        with self._lock:
            by_severity = {s.name: {"count": 0, "unresolved": 0} for s in ErrorSeverity}
            by_category: dict[str, dict[str, int]] = {}
            for (sev, cat), count in self._counts.items():
                open_count = self._unresolved[(sev, cat)]
                by_severity[sev]["count"] += count
                by_severity[sev]["unresolved"] += open_count
                slot = by_category.setdefault(cat, {"count": 0, "unresolved": 0})
                slot["count"] += count
                slot["unresolved"] += open_count
            return {
                "total": sum(self._counts.values()),
                "unresolved": sum(self._unresolved.values()),
                "by_severity": by_severity,
                "by_category": by_category,
                "alerts_sent": self.alerts_sent,
                "callback_failures": self.callback_failures,
                "write_failures": self.write_failures,
                "evicted": self.evicted,
            }

    # -- specialised ------------------------------------------------------------------------

    def log_transaction_failure(self, tx_id: str, *args: Any, agent_did: str | None = None,
                                operation: str | None = None, cause: BaseException | str | None = None,
                                context: Mapping[str, Any] | None = None) -> ErrorRecord:
        """A failed transaction: exactly one HIGH record carrying tx id, agent DID, operation, cause.

        `log_transaction_failure(tx_id, agent_did, operation, cause, context=None)`, or the seed's
        order `(tx_id, error, agent_did, operation)`; positional strings only are read by which one is
        a DID ("did:..."), and refused when that does not tell (use keywords then).
        """
        agent_did, operation, cause, context = seed_forms.transaction_failure_args(
            args, agent_did, operation, cause, context)
        cause_text = describe_exception(cause) if isinstance(cause, BaseException) else str(cause)
        details = _with_fields(
            context, tx_id=str(tx_id), agent_did=str(agent_did), operation=str(operation), cause=cause_text
        )
        return self.log_error(
            f"transaction {tx_id} failed: {cause_text}",
            ErrorSeverity.HIGH,
            "transaction",
            str(operation),
            details,
        )

    def log_validation_failure(
        self,
        field_name: str | BaseException,
        reason: Any,
        operation: str = "validation",
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        """Rejected input (LOW): the field path and the reason.

        The seed's form `log_validation_failure(error, input, operation)` takes the field and reason
        from the error (a `ValidationError`'s own) and keeps the redacted, size-capped input.
        """
        if isinstance(field_name, BaseException):
            field_name, reason, context = seed_forms.validation_failure_args(field_name, reason, context)
        elif not isinstance(field_name, str):
            raise ValidationError(
                "field_name", f"must be a str or an exception: {seed_forms.VALIDATION_FORMS}"
            )
        details = _with_fields(context, field=str(field_name), reason=str(reason))
        return self.log_error(
            f"invalid {field_name}: {reason}", ErrorSeverity.LOW, "validation", str(operation), details
        )

    def log_network_failure(
        self,
        endpoint: str,
        cause: BaseException | str,
        operation: str = "network",
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        """A dependency could not be reached (MEDIUM)."""
        cause_text = describe_exception(cause) if isinstance(cause, BaseException) else str(cause)
        details = _with_fields(context, endpoint=str(endpoint), cause=cause_text)
        return self.log_error(
            f"network failure at {endpoint}: {cause_text}",
            ErrorSeverity.MEDIUM,
            "network",
            str(operation),
            details,
        )

    def log_crypto_failure(
        self,
        reason: BaseException | str,
        operation: str = "crypto_verification",
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        """A signature, network or validity-window check failed (CRITICAL, so it alerts by default)."""
        reason_text = describe_exception(reason) if isinstance(reason, BaseException) else str(reason)
        details = _with_fields(context, reason=reason_text)
        if isinstance(reason, ValidationError):
            details.setdefault("field", reason.field)
        return self.log_error(
            f"cryptographic verification failed: {reason_text}",
            ErrorSeverity.CRITICAL,
            "crypto",
            str(operation),
            details,
        )

    def close(self) -> None:
        """Close the log file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> ErrorLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
