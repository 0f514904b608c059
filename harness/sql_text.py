"""SQL text for the harness's own DuckDB queries: literals, quoted paths, column types of the records schema."""

from __future__ import annotations

from pathlib import Path

SQL_TYPES = {"double": "DOUBLE", "int64": "BIGINT", "string": "VARCHAR"}


def literal(value: object) -> str:
    """A SQL literal for a harness-made string or number."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return str(value)


def quote_path(path: Path) -> str:
    """A path inside a single-quoted SQL string."""
    return str(path).replace("'", "''")
