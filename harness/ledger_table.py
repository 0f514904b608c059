"""The ledger's applied transactions as a columnar table: what the money judges read of the ledger history.

A history record (docs/ledger.md) of kind `applied` carries its envelope, result and meta XDR; the judges
need a few fields of it: the hash, whether it succeeded, its memo hash, where it was applied (ledger,
index), the fee charged and the accounts its payments or token transfers credited. `applied_rows`
normalises any history (the offline network's `/admin/history`, or Horizon's transactions read by
`harness.run.horizon_history`) into those columns, batch by batch; a run writes them to
`ledger_applied.parquet` beside the full `ledger_history.jsonl`, so judging a run of millions of
payments never holds the history in memory (`harness.judges.ledger_sql` joins it to the records in DuckDB).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

APPLIED_SCHEMA = pa.schema([
    ("pos", pa.int64()),  # the record's position in the history (ties in ledger order keep it)
    ("hash", pa.string()),  # lower-case hex
    ("successful", pa.int8()),  # 1 successful, 0 failed on the ledger, -1 not stated
    ("memo_hash", pa.string()),  # lower-case hex, "" for none
    ("ledger", pa.int64()),  # 0 when unknown
    ("index", pa.int64()),
    ("fee_charged", pa.int64()),
    ("credited", pa.list_(pa.string())),  # accounts its payments or token transfers credit
])
BATCH_ROWS = 65_536
_HEX = frozenset("0123456789abcdefABCDEF")


def is_applied(entry: Mapping[str, Any]) -> bool:
    """A history record of kind `applied` (a record without `kind` but with `successful` counts too)."""
    return entry.get("kind") == "applied" or ("kind" not in entry and "successful" in entry)


def memo_hash_of(entry: Mapping[str, Any]) -> str:
    """Lower-case hex memo hash of a history record (`memo_hash`, else a hash-type `memo`), or ""."""
    value = entry.get("memo_hash")
    memo = entry.get("memo")
    if not value and isinstance(memo, dict) and str(memo.get("type", "")).endswith("hash"):
        value = memo.get("value")
    if not value:
        return ""
    text = str(value)
    if len(text) == 64 and all(c in _HEX for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def credited(entry: Mapping[str, Any]) -> list[str]:
    """Accounts a transaction's payments or token transfers credit (a token `transfer`'s `to` is its
    `destination` in the history: harness/ledger/soroban/invoke.py `describe_invoke`), each once."""
    out: dict[str, None] = {}
    for op in entry.get("operations") or ():
        if isinstance(op, dict) and (op.get("type") == "payment"
                                     or (op.get("type") == "invoke_host_function" and op.get("function") == "transfer")):
            dest = op.get("destination")
            if dest:
                out[str(dest)] = None
    return list(out)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def applied_row(pos: int, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One applied history record in APPLIED_SCHEMA's columns."""
    ok = entry.get("successful")
    return {"pos": pos, "hash": str(entry.get("hash", "")).lower(), "successful": 1 if ok is True else 0 if ok is False else -1,
            "memo_hash": memo_hash_of(entry), "ledger": _int(entry.get("ledger")), "index": _int(entry.get("index")),
            "fee_charged": _int(entry.get("fee_charged")), "credited": credited(entry)}


def applied_batches(history: Iterable[Mapping[str, Any]], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The applied records of `history` (in its order) as APPLIED_SCHEMA batches."""
    rows: list[dict[str, Any]] = []
    for pos, entry in enumerate(history):
        if isinstance(entry, Mapping) and is_applied(entry):
            rows.append(applied_row(pos, entry))
            if len(rows) >= batch_rows:
                yield pa.RecordBatch.from_pylist(rows, schema=APPLIED_SCHEMA)
                rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=APPLIED_SCHEMA)


def applied_table(history: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The applied records of a (small, in-memory) history as one table."""
    return pa.Table.from_batches(list(applied_batches(history)), schema=APPLIED_SCHEMA)


def write_history(pages: Iterable[Iterable[Mapping[str, Any]]], jsonl: Path, applied: Path) -> int:
    """Write a history, page after page, as `jsonl` (every record) and `applied` (ledger_applied.parquet);
    returns the number of records. Memory holds one page at a time."""
    with Path(jsonl).open("w") as fh, AppliedWriter(applied) as writer:
        for page in pages:
            page = list(page)
            fh.writelines(json.dumps(entry, sort_keys=True, default=str) + "\n" for entry in page)
            writer.write(page)
    return writer.records


class AppliedWriter:
    """Streams history records into `ledger_applied.parquet`, page after page (bounded memory)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = pq.ParquetWriter(self.path, APPLIED_SCHEMA, compression="zstd")
        self.records = 0  # history records seen (every kind)
        self.applied = 0

    def write(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Append the applied ones of `entries` (the next records of the history, in its order)."""
        entries = list(entries)
        for batch in applied_batches(entries):
            pos = pc.add(batch.column("pos"), self.records)
            batch = batch.set_column(0, "pos", pos)
            self._writer.write_batch(batch)
            self.applied += batch.num_rows
        self.records += len(entries)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> AppliedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
