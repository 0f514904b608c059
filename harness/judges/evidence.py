"""Shared readers over a context's evidence: applied ledger transactions, error records, tracing."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.judges.context import JudgeContext
from harness.outputs import RECORD_FIELDS, Event

MAX_KEYS = 1000  # offending keys or hashes listed by a reconciliation (the counts stay exact)


def sha256_hex(text: str) -> str:
    """The memo_hash a settlement with this idempotency key carries."""
    return hashlib.sha256(text.encode()).hexdigest()


def memo_hash_of(entry: dict[str, Any]) -> str:
    """Lower-case hex memo hash of a history record (`memo_hash`, else a hash-type `memo`), or ""."""
    value = entry.get("memo_hash")
    memo = entry.get("memo")
    if not value and isinstance(memo, dict) and str(memo.get("type", "")).endswith("hash"):
        value = memo.get("value")
    if not value:
        return ""
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def applied_transactions(ctx: JudgeContext) -> list[dict[str, Any]]:
    """History records of kind `applied` (a record without `kind` but with `successful` counts too)."""
    return [h for h in ctx.ledger_history
            if h.get("kind") == "applied" or ("kind" not in h and "successful" in h)]


def successful_applied(ctx: JudgeContext) -> list[dict[str, Any]]:
    return [h for h in applied_transactions(ctx) if h.get("successful") is True]


def failed_applied_hashes(ctx: JudgeContext) -> set[str]:
    return {str(h.get("hash", "")).lower() for h in applied_transactions(ctx) if h.get("successful") is False}


def traced_applied(ctx: JudgeContext, records: pd.DataFrame) -> list[dict[str, Any]]:
    """Successful applied transactions traced to `records` by tx hash or memo_hash = sha256(key)."""
    hashes = {h.lower() for h in records["tx_hash"] if h}
    memos = {sha256_hex(k) for k in records["idempotency_key"] if k}
    return [h for h in successful_applied(ctx)
            if str(h.get("hash", "")).lower() in hashes or (memo_hash_of(h) and memo_hash_of(h) in memos)]


def first_sorted(values: pd.Series, limit: int = MAX_KEYS) -> list[str]:
    """The first `limit` of `values` in sorted order (a run's offending keys can be millions)."""
    strings = pa.array(values, pa.string())
    return [str(v) for v in strings.take(pc.array_sort_indices(strings)[:limit]).to_pylist()]


def severity(event: Event) -> str:
    return str(event.data.get("severity", "")).lower()


def error_records(ctx: JudgeContext, level: str) -> list[Event]:
    return [e for e in ctx.events_of("error.record") if severity(e) == level.lower()]


def event_field(event: Event, *names: str) -> str:
    """The first non-empty of `names` in `data` or `data.context`, as a string."""
    context = event.data.get("context")
    for source in (event.data, context if isinstance(context, dict) else {}):
        for name in names:
            value = source.get(name)
            if value:
                return str(value)
    return ""


def completion_s(records: pd.DataFrame) -> pd.Series:
    """When each response completed, seconds since run start."""
    return records["sent_s"] + records["latency_ms"] / 1000.0


def kind_records(ctx: JudgeContext, user_kind: str, expected: Iterable[str] | None = None,
                 columns: Iterable[str] = RECORD_FIELDS) -> pd.DataFrame:
    """`columns` of the records of one user kind (and, when given, one of the `expected` outcomes)."""
    if expected is None:
        return ctx.frame(columns, user_kind=[user_kind])
    return ctx.frame(columns, user_kind=[user_kind], expected=list(expected))
