"""DuckDB for the harness's own queries (ingest, judges, report): one way to connect, SQL literals, quoted paths.

Every connection has a memory limit and spills to a folder of its own (by default DuckDB would write `.tmp`
in the working directory), uses two threads, keeps no insertion order it does not need, flushes its
allocator early (so memory a finished query freed is not held while the harness does other work) and
never draws a progress bar into the run's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQL_TYPES = {"double": "DOUBLE", "int64": "BIGINT", "string": "VARCHAR"}


def connect(spill_dir: str | Path, memory_limit: str, **settings: Any) -> Any:
    """An in-memory DuckDB connection with the harness's settings (plus `settings`, e.g. disabled_optimizers)."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2, "temp_directory": str(spill_dir),
                                 "preserve_insertion_order": False, "allocator_flush_threshold": "16MB",
                                 "allocator_bulk_deallocation_flush_threshold": "16MB", **settings})
    con.execute("SET enable_progress_bar = false")  # a per-connection setting, refused in connect's config
    return con


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
