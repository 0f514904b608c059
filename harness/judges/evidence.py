"""Shared readers over a context's evidence: applied ledger transactions, error records, tracing."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from harness.judges.context import JudgeContext
from harness.outputs import RECORD_FIELDS, Event


def failed_applied_hashes(ctx: JudgeContext) -> set[str]:
    """Hashes of the transactions the ledger applied and failed (fee charged, operations not applied)."""
    return {h for (h,) in ctx.query("SELECT DISTINCT hash FROM applied WHERE successful = 0")}


def traced_applied(ctx: JudgeContext, records: pd.DataFrame) -> list[str]:
    """Hashes (in history order) of the successful applied transactions traced to `records` by tx hash or
    by memo_hash = sha256(idempotency key)."""
    traced = records[["tx_hash", "idempotency_key"]]
    return [h for (h,) in ctx.query(
        "SELECT hash FROM applied WHERE successful = 1 AND (hash IN (SELECT lower(tx_hash) FROM traced "
        "WHERE tx_hash <> '') OR (memo_hash <> '' AND memo_hash IN (SELECT sha256(idempotency_key) FROM traced "
        "WHERE idempotency_key <> ''))) ORDER BY pos", traced=traced)]


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
