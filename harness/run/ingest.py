"""Merge the load processes' record files into the run's requests.parquet, in bounded memory.

Each Locust process (one, or each worker of a distributed run) appends its own CSV part
(`scenarios/recording.py`, crash-safe: flushed every row). `ingest_parts(parts, out, faults)` reads
every part, tags each request with the faults really active on its path (`collect.tag_faults`'s rule),
sorts and writes one Parquet file, through DuckDB: its CSV reader and out-of-core sort keep the
harness's memory flat (a memory limit, spilling to a temporary folder) whatever the run's length. The
order is total, so the same parts always give the same file: send time, then worker index, pid and the
record's row in its part (`recording.part_identity`, the `row` column; DuckDB's sort is not stable).
A part cut short by a killed process (a partial last row) is a CollectionError, as before.
`remove_parts` then deletes the parts once the Parquet file holds exactly their rows (one copy kept).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import MISSING
from pathlib import Path

from harness.duck import SQL_TYPES, connect, literal, quote_path
from harness.records_store import DEFAULTS, SCHEMA, write_parquet
from harness.run.collect import HORIZON_ENDPOINTS, ActualFault, CollectionError
from scenarios.recording import ROW_COLUMN, part_identity

MEMORY_LIMIT = "256MB"


def ingest_parts(parts: Sequence[Path], out: Path, faults: Sequence[ActualFault] = ()) -> int:
    """Write `out` (Parquet, SCHEMA) from the CSV `parts`; returns the number of records."""
    import duckdb

    parts = sorted(Path(p) for p in parts)
    if not parts:
        return write_parquet(out, [])
    with tempfile.TemporaryDirectory(prefix="srh-ingest-") as spill:
        con = connect(spill, MEMORY_LIMIT)
        try:
            con.execute(f"COPY ({_query(parts, faults)}) TO '{quote_path(out)}' "
                        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)")
            count = con.execute(f"SELECT count(*) FROM read_parquet('{quote_path(out)}')").fetchone()
        except duckdb.Error as exc:
            raise CollectionError(f"cannot merge the load records ({', '.join(p.name for p in parts)}): "
                                  f"{str(exc).splitlines()[0]}") from None
        finally:
            con.close()
    return int(count[0]) if count else 0


def _query(parts: Sequence[Path], faults: Sequence[ActualFault]) -> str:
    files = ", ".join(f"'{quote_path(p)}'" for p in parts)
    present = _header_names(parts)
    columns = []
    for field in SCHEMA:
        sql_type = SQL_TYPES[str(field.type)]
        raw = f"CAST(NULLIF({field.name}, '') AS {sql_type})" if sql_type != "VARCHAR" else field.name
        default = DEFAULTS[field.name]
        if default is MISSING:
            columns.append(f"{raw} AS {field.name}")
        elif field.name not in present:  # parts of an older harness: the column reads as its default
            columns.append(f"CAST({literal(default)} AS {sql_type}) AS {field.name}")
        else:
            columns.append(f"COALESCE({raw}, {literal(default)}) AS {field.name}")
    row = f'CAST("{ROW_COLUMN}" AS BIGINT)' if ROW_COLUMN in present else "CAST(NULL AS BIGINT)"
    source = (f"SELECT {', '.join(columns)}, {row} AS part_row, filename FROM read_csv([{files}], all_varchar = true, "
              "header = true, union_by_name = true, filename = true, delim = ',', quote = '\"', escape = '\"', "
              "strict_mode = true, null_padding = false)")
    identities = ", ".join(f"('{quote_path(p)}', {w}, {pid})" for p, (w, pid) in ((p, part_identity(p)) for p in parts))
    return (f"SELECT * EXCLUDE (fault_active, filename, part_row, part_worker, part_pid), "
            f"{_fault_column(faults)} AS fault_active FROM ({source}) "
            f"JOIN (VALUES {identities}) AS parts(filename, part_worker, part_pid) USING (filename) "
            f"ORDER BY sent_s, part_worker, part_pid, part_row")


def remove_parts(parts: Sequence[Path], out: Path, rows: int) -> bool:
    """Delete the CSV `parts` if the Parquet file `out` is complete and holds exactly `rows` records (the
    parts' rows, counted by `collect.check_worker_records`); returns whether they were deleted."""
    import pyarrow.parquet as pq

    try:
        written = pq.read_metadata(out).num_rows
    except (OSError, ValueError):  # missing, or not a complete Parquet file (no footer)
        return False
    if written != rows:
        return False
    for part in parts:
        Path(part).unlink(missing_ok=True)
    return True


def _header_names(parts: Sequence[Path]) -> set[str]:
    """The columns any part's header names (a part without a header line names none)."""
    names: set[str] = set()
    for part in parts:
        try:
            with part.open(newline="") as fh:
                names.update(next(csv.reader(fh), []))
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            raise CollectionError(f"cannot read the header of {part.name}: {exc}") from None
    return names


def _fault_column(faults: Sequence[ActualFault]) -> str:
    """SQL for `collect.tag_faults`: labels of the faults overlapping [sent, sent + max(0, latency)) on
    Horizon endpoints, ';'-joined in the faults' order; '' elsewhere."""
    if not faults:
        return "''"
    end = "(sent_s + greatest(0.0, latency_ms) / 1000.0)"
    cases = ", ".join(f"CASE WHEN {literal(f.start_s)} < {end} AND sent_s < {literal(f.end_s)} "
                      f"THEN {literal(f.label)} END" for f in faults)
    endpoints = ", ".join(literal(e) for e in HORIZON_ENDPOINTS)
    return f"CASE WHEN endpoint IN ({endpoints}) THEN concat_ws(';', {cases}) ELSE '' END"
