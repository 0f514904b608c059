"""Unit tests for ErrorLogger and the redaction helpers."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from stellar_sdk import Keypair

from reference_impl.clock import ManualClock
from reference_impl.error_logger import (
    ErrorLogger,
    ErrorLoggerConfig,
    ErrorRecord,
    ErrorSeverity,
    UnknownRecordError,
)
from reference_impl.errors import ConfigurationError, ValidationError
from reference_impl.redaction import REDACTED, find_secrets, redact, redact_text


def make_logger(**overrides: object) -> tuple[ErrorLogger, list[ErrorRecord], ManualClock, io.StringIO]:
    alerts: list[ErrorRecord] = []
    stream = io.StringIO()
    clock = ManualClock()
    options = {"console_stream": stream, "alert_sink": alerts.append, **overrides}
    return ErrorLogger(ErrorLoggerConfig(**options), clock=clock), alerts, clock, stream  # type: ignore[arg-type]


def test_severities_are_ordered() -> None:
    assert ErrorSeverity.LOW < ErrorSeverity.MEDIUM < ErrorSeverity.HIGH < ErrorSeverity.CRITICAL


def test_log_error_builds_a_record_with_clock_time_and_console_line() -> None:
    logger, _, clock, stream = make_logger()
    clock.advance(5)
    record = logger.log_error(ValueError("boom"), ErrorSeverity.MEDIUM, "payments", "settle", {"k": 1})
    assert record.time == clock.time()
    assert record.message == "ValueError: boom"
    assert (record.category, record.operation, dict(record.context)) == ("payments", "settle", {"k": 1})
    assert not record.resolved and record.resolution_note is None
    assert "MEDIUM payments/settle" in stream.getvalue() and record.id in stream.getvalue()
    assert logger.get_record(record.id) == record


def test_console_off_writes_nothing() -> None:
    logger, _, _, stream = make_logger(console=False)
    logger.log_error("quiet")
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("severity", "alerted"),
    [
        (ErrorSeverity.LOW, False),
        (ErrorSeverity.MEDIUM, False),
        (ErrorSeverity.HIGH, True),
        (ErrorSeverity.CRITICAL, True),
    ],
)
def test_alert_sink_called_at_or_above_threshold(severity: ErrorSeverity, alerted: bool) -> None:
    logger, alerts, _, _ = make_logger(console=False)
    record = logger.log_error("x", severity)
    assert alerts == ([record] if alerted else [])
    assert logger.get_statistics()["alerts_sent"] == int(alerted)


def test_failing_alert_sink_and_subscriber_never_break_logging() -> None:
    def broken(record: ErrorRecord) -> None:
        raise RuntimeError("sink down")

    logger, _, _, _ = make_logger(console=False, alert_sink=broken)
    logger.subscribe(broken)
    record = logger.log_error("x", ErrorSeverity.CRITICAL)
    assert logger.get_records() == [record]
    stats = logger.get_statistics()
    assert stats["callback_failures"] == 2 and stats["alerts_sent"] == 0


def test_subscribers_get_new_and_resolved_records_until_unsubscribed() -> None:
    logger, _, _, _ = make_logger(console=False)
    seen: list[ErrorRecord] = []
    unsubscribe = logger.subscribe(seen.append)
    first = logger.log_error("one")
    resolved = logger.resolve(first.id, "fixed")
    unsubscribe()
    logger.log_error("two")
    assert seen == [first, resolved] and resolved.resolved


def test_resolve_tracks_note_time_and_statistics() -> None:
    logger, _, clock, _ = make_logger(console=False)
    record = logger.log_error("x", ErrorSeverity.HIGH, "net")
    clock.advance(3)
    done = logger.resolve(record.id, "retried")
    assert (done.resolved, done.resolution_note, done.resolved_at) == (True, "retried", clock.time())
    logger.resolve(record.id, "again")  # resolving twice does not double-count
    stats = logger.get_statistics()
    assert stats["unresolved"] == 0 and stats["by_severity"]["HIGH"] == {"count": 1, "unresolved": 0}
    assert logger.get_records(resolved=True)[0].resolution_note == "again"
    with pytest.raises(UnknownRecordError):
        logger.resolve("err-nope", "x")


def test_get_records_filters_and_statistics_by_category() -> None:
    logger, _, clock, _ = make_logger(console=False)
    a = logger.log_error("a", ErrorSeverity.LOW, "validation")
    clock.advance(10)
    b = logger.log_error("b", ErrorSeverity.HIGH, "transaction")
    c = logger.log_error("c", ErrorSeverity.CRITICAL, "crypto")
    assert logger.get_records(since=clock.time()) == [b, c]
    assert logger.get_records(severity=ErrorSeverity.HIGH) == [b]
    assert logger.get_records(min_severity=ErrorSeverity.HIGH) == [b, c]
    assert logger.get_records(category="validation") == [a]
    stats = logger.get_statistics()
    assert stats["total"] == 3
    assert stats["by_category"] == {
        "validation": {"count": 1, "unresolved": 1},
        "transaction": {"count": 1, "unresolved": 1},
        "crypto": {"count": 1, "unresolved": 1},
    }


def test_specialised_methods_use_their_severity_category_and_fields() -> None:
    logger, alerts, _, _ = make_logger(console=False)
    tx = logger.log_transaction_failure(
        "ab12", "did:key:z6Mk", "settle", TimeoutError("slow"), {"attempt": 2}
    )
    val = logger.log_validation_failure("amount", "must be positive")
    net = logger.log_network_failure("http://127.0.0.1:1", ConnectionError("refused"))
    cry = logger.log_crypto_failure(ValidationError("sig", "bad"))
    assert [r.severity for r in (tx, val, net, cry)] == [
        ErrorSeverity.HIGH,
        ErrorSeverity.LOW,
        ErrorSeverity.MEDIUM,
        ErrorSeverity.CRITICAL,
    ]
    assert [r.category for r in (tx, val, net, cry)] == ["transaction", "validation", "network", "crypto"]
    assert tx.context == {
        "attempt": 2,
        "tx_id": "ab12",
        "agent_did": "did:key:z6Mk",
        "operation": "settle",
        "cause": "TimeoutError: slow",
    }
    assert val.context == {"field": "amount", "reason": "must be positive"}
    assert net.context["endpoint"] == "http://127.0.0.1:1"
    assert cry.context["field"] == "sig"
    assert alerts == [tx, cry]


def test_secrets_are_redacted_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    logger, alerts, _, stream = make_logger(file_path=path)
    kp = Keypair.random()
    raw_hex = kp.raw_secret_key().hex()
    record = logger.log_transaction_failure(
        "tx1",
        "did:stellar:" + kp.public_key,
        "settle",
        RuntimeError(f"signing with {kp.secret} failed; Authorization: Bearer abc.def.ghi"),
        {
            "nested": {"private_key": raw_hex, "list": [kp.secret, {"password": "hunter2"}]},
            "api_token": "t0k",
        },
    )
    logger.close()
    artifacts = [
        json.dumps(record.to_dict()),
        stream.getvalue(),
        path.read_text(),
        json.dumps(alerts[0].to_dict()),
    ]
    for text in artifacts:
        assert (
            kp.secret not in text
            and raw_hex not in text
            and "hunter2" not in text
            and "abc.def.ghi" not in text
        )
        assert find_secrets(text, known_secrets=[kp.secret]) == []
    assert kp.public_key in record.context["agent_did"]
    assert record.context["nested"]["private_key"] == REDACTED and record.context["api_token"] == REDACTED


def test_file_output_is_json_lines_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "errors.jsonl"
    logger, _, _, _ = make_logger(console=False, file_path=path, max_bytes=600, backup_count=2)
    records = [logger.log_error(f"message {i}", ErrorSeverity.LOW) for i in range(12)]
    logger.close()
    logger.close()
    files = [path, path.with_name("errors.jsonl.1"), path.with_name("errors.jsonl.2")]
    assert all(f.exists() for f in files) and not path.with_name("errors.jsonl.3").exists()
    lines = [json.loads(line) for f in reversed(files) for line in f.read_text().splitlines()]
    assert all(f.stat().st_size <= 600 for f in files)
    assert [line["id"] for line in lines] == [r.id for r in records][-len(lines) :]
    assert lines[-1]["event"] == "record" and lines[-1]["severity"] == "LOW"


def test_in_memory_store_is_bounded_but_statistics_count_everything() -> None:
    logger, _, _, _ = make_logger(console=False, max_records=3)
    records = [logger.log_error(str(i)) for i in range(5)]
    assert logger.get_records() == records[-3:]
    stats = logger.get_statistics()
    assert stats["total"] == 5 and stats["evicted"] == 2
    with pytest.raises(UnknownRecordError):
        logger.resolve(records[0].id)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"severity": "HIGH"},
        {"severity": 3},
        {"category": 5},
        {"context": ["not", "a", "mapping"]},
        {"error_or_message": 42},
    ],
)
def test_bad_arguments_raise_typed_error_and_change_nothing(kwargs: dict[str, object]) -> None:
    logger, alerts, _, stream = make_logger()
    call = {"error_or_message": "x", "severity": ErrorSeverity.HIGH, **kwargs}
    with pytest.raises(ValidationError):
        logger.log_error(**call)  # type: ignore[arg-type]
    assert logger.get_records() == [] and alerts == [] and stream.getvalue() == ""
    assert logger.get_statistics()["total"] == 0


@pytest.mark.parametrize(
    "options",
    [
        {"alert_threshold": 3},
        {"max_bytes": 0},
        {"backup_count": -1},
        {"max_records": True},
        {"alert_sink": "x"},
    ],
)
def test_bad_config_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        ErrorLoggerConfig(**options)  # type: ignore[arg-type]


def test_redact_keeps_shape_and_leaves_hashes_and_public_keys() -> None:
    kp = Keypair.random()
    tx_hash = "ab" * 32
    out = redact(
        {"hash": tx_hash, "who": kp.public_key, 7: (1, None, 2.5), "secret_seed": kp.secret, "b": b"x"}
    )
    assert out == {
        "hash": tx_hash,
        "who": kp.public_key,
        "7": [1, None, 2.5],
        "secret_seed": REDACTED,
        "b": "x",
    }
    assert redact_text(f"token={tx_hash} private key {tx_hash}") == f"token={REDACTED} private key {REDACTED}"
    assert (
        redact_text("token: null, tokens: 5, secret scan: clean")
        == "token: null, tokens: 5, secret scan: clean"
    )
    assert redact_text(redact_text(f"password='{kp.secret}'")) == f"password='{REDACTED}'"


def test_find_secrets_sees_known_secret_encodings() -> None:
    kp = Keypair.random()
    raw = kp.raw_secret_key()
    assert find_secrets(f"dump {raw.hex()}", known_secrets=[kp.secret]) == [raw.hex()]
    assert find_secrets("clean text with " + kp.public_key, known_secrets=[kp.secret]) == []
    assert find_secrets(f"x {kp.secret} y") == [kp.secret]


def test_redact_survives_deep_nesting_and_broken_str() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    deep: list[object] = []
    node = deep
    for _ in range(100):
        child: list[object] = []
        node.append(child)
        node = child
    assert "[TOO DEEP]" in json.dumps(redact(deep))
    assert redact(Broken()) == "<unprintable Broken>"


def test_output_failures_are_counted_and_the_record_is_still_kept() -> None:
    stream = io.StringIO()
    stream.close()
    alerts: list[ErrorRecord] = []
    logger = ErrorLogger(
        ErrorLoggerConfig(console_stream=stream, alert_sink=alerts.append), clock=ManualClock()
    )
    record = logger.log_error("disk full", ErrorSeverity.CRITICAL)
    assert logger.get_records() == [record] and alerts == [record]
    assert logger.get_statistics()["write_failures"] == 1


def test_console_line_cannot_be_forged_with_line_breaks() -> None:
    logger, _, _, stream = make_logger()
    logger.log_error("bad input\n2023-11-14T22:13:20.000+00:00 CRITICAL forged/line [err-x] fake\r")
    assert stream.getvalue().count("\n") == 1 and "\\n2023" in stream.getvalue()


@pytest.mark.timeout(30)
def test_concurrent_logging_keeps_every_record_once() -> None:
    logger, alerts, _, _ = make_logger(console=False)

    def worker(n: int) -> None:
        for i in range(200):
            logger.log_transaction_failure(f"tx-{n}-{i}", "did:key:z6Mk", "settle", "boom")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    records = logger.get_records()
    assert len(records) == 800 and len({r.id for r in records}) == 800
    assert len({r.context["tx_id"] for r in records}) == 800 and len(alerts) == 800
