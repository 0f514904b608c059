"""The client records and the ledger's applied transactions as DuckDB views, for the money judges.

Reconciling millions of acknowledged payments against millions of ledger transactions is a join; DuckDB
runs it out of core (a memory limit, spilling to a temporary folder) over requests.parquet and
ledger_applied.parquet, or over in-memory tables for small runs and tests, with the same SQL. Views:
`records` (every RECORD_FIELDS column) and `applied` (harness.ledger_table.APPLIED_SCHEMA).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.duck import SQL_TYPES, connect, literal, quote_path
from harness.ledger_table import APPLIED_SCHEMA
from harness.records_store import DEFAULTS, SCHEMA, RecordStore

MEMORY_LIMIT = "384MB"
MAX_KEYS = 1000  # offending keys or hashes a reconciliation lists


class JudgeSql:
    """One DuckDB connection over a run's records and applied ledger transactions; close it (or use it as a
    context manager) when done, so its memory is not held while other judges run."""

    def __init__(self, records: pd.DataFrame | RecordStore, applied: pa.Table | Path | None) -> None:
        self._spill = tempfile.TemporaryDirectory(prefix="srh-judge-")
        self.con = connect(self._spill.name, MEMORY_LIMIT)
        if isinstance(records, RecordStore):
            self.con.execute(f"CREATE VIEW records AS {_parts_query(records)}")
        else:
            self.con.register("records_frame", records)
            self.con.execute("CREATE VIEW records AS SELECT * FROM records_frame")
        if isinstance(applied, Path):
            self.con.execute(f"CREATE VIEW applied AS SELECT * FROM read_parquet('{quote_path(applied)}')")
        else:
            self.con.register("applied_table", applied if applied is not None else APPLIED_SCHEMA.empty_table())
            self.con.execute("CREATE VIEW applied AS SELECT * FROM applied_table")

    def rows(self, query: str, params: Sequence[Any] = (), **frames: pd.DataFrame) -> list[tuple[Any, ...]]:
        """The result rows of `query`; `frames` are registered under their names for this query only."""
        for name, frame in frames.items():
            self.con.register(name, frame)
        try:
            return self.con.execute(query, list(params)).fetchall()
        finally:
            for name in frames:
                self.con.unregister(name)

    def execute(self, statement: str) -> None:
        self.con.execute(statement)

    def sorted_values(self, query: str, limit: int = MAX_KEYS) -> list[str]:
        """The first `limit` values of `query`'s single column in sorted order (the counts stay exact; a run's
        offending keys can be millions)."""
        return [str(v) for (v,) in self.rows(f"SELECT * FROM ({query}) ORDER BY 1 LIMIT {int(limit)}")]

    def close(self) -> None:
        """Close the connection: DuckDB's memory and temporary tables go with it."""
        self.con.close()
        self._spill.cleanup()

    def __enter__(self) -> JudgeSql:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def in_list(values: Sequence[str]) -> str:
    """A SQL list of string literals (fixed endpoint or kind names)."""
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _parts_query(store: RecordStore) -> str:
    selects = []
    for part in store.parts:
        present = set(pq.read_schema(part).names)
        cols = [f.name if f.name in present else
                f"CAST({literal(DEFAULTS[f.name])} AS {SQL_TYPES[str(f.type)]}) AS {f.name}" for f in SCHEMA]
        selects.append(f"SELECT {', '.join(cols)} FROM read_parquet('{quote_path(part)}')")
    return " UNION ALL ".join(selects)
