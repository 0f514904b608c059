"""Client request records on disk, columnar: `requests.parquet` (one or several parts) or an old requests.csv.

Judges and charts never hold the whole table: `RecordStore.select(columns, **where)` reads only the
named columns and only the rows whose columns match the given values (`endpoint=("settlement",)`), as a
pandas frame typed like `harness.judges.context.records_frame`, indexed by each row's position in the
whole table (so two selections of the same store align, as slices of one in-memory frame do).
Parquet keeps columns apart and dictionary-encodes the repetitive strings, so one column of ten million
rows is read in a fraction of a second without the others. `select_frame` applies the same selection to
an in-memory frame: judges run identically on both (tests/unit/test_records_store.py).

Files written by an older harness may lack later columns; they read back with the RequestRecord defaults.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.errors import HarnessError
from harness.outputs import RECORD_FIELDS, REQUESTS_FILE, REQUESTS_PARQUET, RequestRecord

_TYPES = {"float": pa.float64(), "int": pa.int64(), "str": pa.string()}
SCHEMA = pa.schema([(f.name, _TYPES[f.type if isinstance(f.type, str) else f.type.__name__])
                    for f in fields(RequestRecord)])
DEFAULTS = {f.name: f.default for f in fields(RequestRecord)}
STRING_COLUMNS = tuple(f.name for f in SCHEMA if f.type == pa.string())
# Strings with few distinct values: read dictionary-encoded (fast), kept in memory once read, decoded per selection.
LABELS = ("endpoint", "method", "user_kind", "client_key", "phase", "fault_active", "expected", "error")
ROW_GROUP_ROWS = 262_144
EXPORT_BATCH_ROWS = 65_536
# Arrow buffers from the system allocator, like numpy's and pandas': memory one frees is memory the other can
# reuse (with Arrow's own mimalloc pool, freed Arrow memory stayed out of the judges' reach; measured in
# benchmarks/bench_report.py, 1e7 requests).
pa.set_memory_pool(pa.system_memory_pool())


class RecordStoreError(HarnessError):
    """A records file is missing, unreadable or lacks a required column."""


class RecordStore:
    """Read-only view of one or several Parquet parts holding RequestRecord rows, in part order."""

    def __init__(self, parts: Sequence[Path | str]) -> None:
        self.parts = tuple(Path(p) for p in parts)
        try:
            self._files = [pq.ParquetFile(p, read_dictionary=LABELS) for p in self.parts]
        except (OSError, pa.ArrowException) as exc:
            raise RecordStoreError(f"cannot read records: {exc}") from None
        self._names = [set(f.schema_arrow.names) for f in self._files]
        self.num_rows = sum(f.metadata.num_rows for f in self._files)
        self._labels: dict[str, pa.ChunkedArray] = {}

    def __len__(self) -> int:
        return self.num_rows

    def column(self, name: str) -> pa.ChunkedArray:
        """One column over every part (SCHEMA type); a column a part lacks reads as its default."""
        raw = self._raw(name)
        return pc.cast(raw, SCHEMA.field(name).type) if name in LABELS else raw

    def _raw(self, name: str) -> pa.ChunkedArray:
        """A column as stored; the labels dictionary-encoded and kept (a few bytes a row, read once)."""
        if name not in SCHEMA.names:
            raise RecordStoreError(f"unknown records column {name!r}; known: {list(SCHEMA.names)}")
        if name in self._labels:
            return self._labels[name]
        kind = pa.dictionary(pa.int32(), pa.string()) if name in LABELS else SCHEMA.field(name).type
        chunks: list[pa.Array] = []
        for file, names in zip(self._files, self._names, strict=True):
            if name in names:
                chunks.extend(file.read(columns=[name]).column(name).cast(kind).chunks)
            else:
                chunks.append(pa.array([DEFAULTS[name]] * file.metadata.num_rows, SCHEMA.field(name).type).cast(kind))
        column = pa.chunked_array(chunks, kind)
        if name in LABELS:
            self._labels[name] = column
        return column

    def _take(self, name: str, rows: np.ndarray) -> pa.ChunkedArray:
        """`rows` (sorted positions in the whole table) of one column, read row group by row group, so a
        selection never holds the whole column (a hash column of ten million rows is hundreds of MiB)."""
        kind = SCHEMA.field(name).type
        chunks: list[pa.Array] = []
        start = 0
        for file, names in zip(self._files, self._names, strict=True):
            for group in range(file.metadata.num_row_groups):
                size = file.metadata.row_group(group).num_rows
                lo, hi = np.searchsorted(rows, [start, start + size])
                if hi > lo:
                    local = pa.array(rows[lo:hi] - start)
                    if name in names:
                        chunks.append(file.read_row_group(group, columns=[name]).column(name).cast(kind).take(local))
                    else:
                        chunks.append(pa.array([DEFAULTS[name]] * (hi - lo), kind))
                start += size
        return pa.chunked_array([c for ch in chunks for c in (ch.chunks if isinstance(ch, pa.ChunkedArray) else [ch])],
                                kind)

    def select(self, columns: Sequence[str], during: Sequence[tuple[float, float]] | None = None,
               **where: Collection[Any]) -> pd.DataFrame:
        """`columns` of the rows whose `where` columns hold one of the given values and, with `during`, that
        were sent within one of the [start, end) intervals (all rows without conditions)."""
        mask = None if during is None else _sent_within(self._raw("sent_s"), during)
        for name, values in where.items():
            hit = _is_in(self._raw(name), pa.array(list(values), SCHEMA.field(name).type))
            mask = hit if mask is None else mask & hit
        rows = None if mask is None else np.flatnonzero(mask)
        data = {}
        for name in dict.fromkeys(columns):
            if rows is not None and not rows.size:  # nothing selected: nothing to read
                data[name] = pa.chunked_array([], SCHEMA.field(name).type)
                continue
            if rows is None:
                col = self._raw(name)
            elif name in LABELS or name in self._labels:
                col = self._raw(name).take(pa.array(rows))
            else:
                col = self._take(name, rows)
            data[name] = pc.cast(col, SCHEMA.field(name).type) if name in LABELS else col
        frame = pa.table(data).to_pandas(split_blocks=True, self_destruct=True) if data else pd.DataFrame()
        frame.index = pd.RangeIndex(self.num_rows) if rows is None else pd.Index(rows)
        return _typed(frame)

    def frame(self) -> pd.DataFrame:
        """Every column of every row: the whole table in memory (for small runs and old readers only)."""
        return self.select(RECORD_FIELDS)

    def batches(self, batch_rows: int = EXPORT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every row, part after part, in batches with every RECORD_FIELDS column (defaults filled in)."""
        for file, names in zip(self._files, self._names, strict=True):
            for batch in file.iter_batches(batch_size=batch_rows):
                arrays = [batch.column(n).cast(SCHEMA.field(n).type) if n in names
                          else pa.array([DEFAULTS[n]] * batch.num_rows, SCHEMA.field(n).type) for n in SCHEMA.names]
                yield pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def select_frame(frame: pd.DataFrame, columns: Sequence[str], during: Sequence[tuple[float, float]] | None = None,
                 **where: Collection[Any]) -> pd.DataFrame:
    """`RecordStore.select` on an in-memory records frame (same rows, same index, same columns)."""
    mask = np.ones(len(frame), dtype=bool) if during is None else _sent_within(frame["sent_s"].to_numpy(), during)
    for name, values in where.items():
        mask &= frame[name].isin(list(values)).to_numpy()
    return frame.loc[mask, list(dict.fromkeys(columns))]


def _is_in(column: pa.ChunkedArray, values: pa.Array) -> np.ndarray:
    """Whether each row holds one of `values`; a dictionary column is matched on its dictionary, then looked
    up by index (matching the rows themselves would first decode ten million strings)."""
    if not pa.types.is_dictionary(column.type):
        return pc.is_in(column, value_set=values).to_numpy(zero_copy_only=False)
    parts = [pc.is_in(chunk.dictionary, value_set=values).to_numpy(zero_copy_only=False)[
        chunk.indices.to_numpy(zero_copy_only=False)] for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _sent_within(sent: pa.ChunkedArray | np.ndarray, during: Sequence[tuple[float, float]]) -> np.ndarray:
    values = sent.to_numpy() if isinstance(sent, pa.ChunkedArray) else sent
    mask = np.zeros(len(values), dtype=bool)
    for start, end in during:
        mask |= (values >= start) & (values < end)
    return mask


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for name in frame.columns:
        if name in STRING_COLUMNS:
            frame[name] = frame[name].fillna("").astype(str)
    return frame


def write_parquet(path: Path, batches: Iterable[pa.RecordBatch | pa.Table]) -> int:
    """Write record batches (SCHEMA) as one Parquet file; returns the number of rows written."""
    count = 0
    with pq.ParquetWriter(Path(path), SCHEMA, compression="zstd") as writer:
        for batch in batches:
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            writer.write_table(table.cast(SCHEMA), row_group_size=ROW_GROUP_ROWS)
            count += table.num_rows
    return count


def records_table(records: Iterable[RequestRecord]) -> pa.Table:
    """RequestRecord objects as an Arrow table (SCHEMA)."""
    rows = list(records)
    return pa.table({n: pa.array([getattr(r, n) for r in rows], SCHEMA.field(n).type) for n in SCHEMA.names},
                    schema=SCHEMA)


def run_records(run_dir: Path) -> RecordStore | pd.DataFrame:
    """A run folder's records: its requests.parquet as a store, else (an older run) its requests.csv as a frame."""
    root = Path(run_dir)
    if (root / REQUESTS_PARQUET).exists():
        return RecordStore([root / REQUESTS_PARQUET])
    if (root / REQUESTS_FILE).exists():
        return read_csv_frame(root / REQUESTS_FILE)
    raise RecordStoreError(f"{root} holds neither {REQUESTS_PARQUET} nor {REQUESTS_FILE}")


def read_csv_frame(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An old requests.csv as a typed frame (only `columns` when given; missing columns get defaults)."""
    wanted = list(columns or RECORD_FIELDS)
    with Path(path).open(newline="") as fh:
        header = next(csv.reader(fh), [])
    present = [c for c in wanted if c in header]
    dtypes = {c: ("float64" if SCHEMA.field(c).type == pa.float64() else "int64" if SCHEMA.field(c).type == pa.int64()
                  else "str") for c in present}
    try:
        frame = pd.read_csv(path, usecols=present, dtype={c: t for c, t in dtypes.items() if t == "str"},
                            keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise RecordStoreError(f"{Path(path).name} is not a valid requests file: {exc}") from None
    for name in wanted:
        if name not in frame.columns:
            frame[name] = DEFAULTS[name]
        elif dtypes[name] != "str":
            frame[name] = pd.to_numeric(frame[name].replace("", DEFAULTS[name]), errors="coerce")
            frame[name] = frame[name].fillna(DEFAULTS[name]).astype(dtypes[name])
    return _typed(frame[wanted])


def export_csv(store: RecordStore, path: Path) -> int:
    """Write the store as a requests.csv (RECORD_FIELDS header) in bounded memory; returns rows written."""
    import pyarrow.csv as pacsv

    count = 0
    with pacsv.CSVWriter(Path(path), SCHEMA, write_options=pacsv.WriteOptions(quoting_style="needed")) as writer:
        for batch in store.batches():
            writer.write_batch(batch)
            count += batch.num_rows
    return count
