"""A run's request records as one DuckDB view, aggregated where they lie.

`Requests.from_parquet(path)` scans requests.parquet in place (only the chart columns, row group by row
group: the table is never in memory); `Requests.from_frame(frame)` registers an in-memory frame (an older
run's requests.csv). Both are read through the same SQL, so they give the same figures. Counts and maxima
come out of DuckDB; the latencies of one endpoint's 2xx responses (or of a run of its buckets) come out as
numpy arrays, so the percentiles are taken with the very pandas/numpy calls the charts always used: DuckDB's
`quantile_cont` interpolates as fma(lo, 1 - d, hi * d) and differs from numpy and pandas in the last bit.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import MISSING
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.records_store import DEFAULTS

COLUMNS = {"sent_s": "DOUBLE", "endpoint": "VARCHAR", "status": "BIGINT", "latency_ms": "DOUBLE",
           "user_kind": "VARCHAR", "client_key": "VARCHAR"}
REQUIRED = ("sent_s", "endpoint", "status", "latency_ms")
MEMORY_LIMIT = "256MB"
BATCH_ROWS = 1 << 20
# Parquet min/max statistics leave NaN out; with these optimizers DuckDB 2.0 trusts them and drops the rows a
# NaN test should keep (`WHERE isnan(latency_ms)` finds none, `max(latency_ms)` answers the finite maximum).
TRUSTS_STATS = "statistics_propagation,filter_pushdown"
STATUS_CLASS_SQL = ("CASE WHEN status = 0 THEN 'no response' WHEN status = 429 THEN '429' WHEN status >= 500 "
                    "THEN '5xx' WHEN status >= 400 THEN '4xx' ELSE '2xx' END")
OK_SQL = "status >= 200 AND status < 300"


class RequestsError(HarnessError):
    """A records file cannot be scanned or lacks a column the charts need."""


class Requests:
    """The chart columns of a run's records (COLUMNS, plus `pos`: each row's position in the table)."""

    def __init__(self, source: str, register: pd.DataFrame | None = None) -> None:
        import duckdb

        self._spill = tempfile.TemporaryDirectory(prefix="srh-report-")  # a big GROUP BY spills here, not in cwd
        self._con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2, "temp_directory": self._spill.name,
                                           "preserve_insertion_order": False, "disabled_optimizers": TRUSTS_STATS})
        try:
            if register is not None:
                self._con.register("records_frame", register)
            self._con.execute(f"CREATE TEMP VIEW requests AS {source}")
            self.num_rows = int(self._one("SELECT count(*) FROM requests")[0])
        except (duckdb.Error, RequestsError) as exc:
            self.close()
            raise RequestsError(f"cannot read the request records: {str(exc).splitlines()[0]}") from None

    @classmethod
    def from_parquet(cls, path: Path) -> Requests:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            present = set(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise RequestsError(f"cannot read the request records: {exc}") from None
        quoted = str(path).replace("'", "''")
        return cls(f"SELECT {_select(present)}, file_row_number AS pos "
                   f"FROM read_parquet('{quoted}', file_row_number = true)")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Requests:
        present = set(frame.columns)
        return cls(f"SELECT {_select(present)}, pos FROM records_frame",
                   register=frame.assign(pos=np.arange(len(frame), dtype=np.int64)))

    def __len__(self) -> int:
        return self.num_rows

    def close(self) -> None:
        self._con.close()
        self._spill.cleanup()

    @cached_property
    def end_s(self) -> float:
        """The last response's end (send time + latency), NaN without one."""
        row = self._one("SELECT max(e) FROM (SELECT sent_s + latency_ms / 1000 AS e FROM requests) WHERE NOT isnan(e)")
        return math.nan if row[0] is None else float(row[0])

    @cached_property
    def ok_counts(self) -> dict[str, int]:
        """2xx responses per endpoint, by endpoint name."""
        rows = self._all(f"SELECT endpoint, count(*) FROM requests WHERE {OK_SQL} GROUP BY endpoint")
        return {str(ep): int(n) for ep, n in sorted(rows)}

    def ok_buckets(self, endpoint: str, bucket_s: float) -> list[tuple[float, int]]:
        """(bucket start, 2xx responses) of the endpoint's non-empty buckets, in time order."""
        return sorted((float(t), int(n)) for t, n in self._all(
            f"SELECT t, count(*) FROM ({_bucketed('status', OK_SQL + ' AND endpoint = $e')}) WHERE NOT isnan(t) "
            "GROUP BY t", {"w": float(bucket_s), "e": endpoint}))

    def ok_latencies(self, endpoint: str, bucket_s: float, within: tuple[float, float] | None = None,
                     untimed: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(bucket start, latency_ms) of the endpoint's 2xx responses, in no particular order; a send time that
        is not finite has a NaN bucket. `within`: only the buckets from .. to (both included), and with
        `untimed` the NaN ones."""
        import duckdb

        mine, where, bounds = f"{OK_SQL} AND endpoint = $e", "", {}
        if within is not None:  # a send a bucket off either end cannot be in them: cheap to skip before bucketing
            untimed_sql = " OR NOT isfinite(sent_s)" if untimed else ""
            mine += f" AND (sent_s >= $lo - $w AND sent_s < $hi + 2 * $w{untimed_sql})"
            where, bounds = " AND (t BETWEEN $lo AND $hi" + (" OR isnan(t))" if untimed else ")"), dict(
                lo=within[0], hi=within[1])
        relation = self._con.sql(f"SELECT t, latency_ms FROM ({_bucketed('latency_ms', mine)}) WHERE true{where}",
                                 params={"w": float(bucket_s), "e": endpoint} | bounds)
        assert relation is not None  # a SELECT gives a relation
        try:
            batches = list(relation.to_arrow_reader(BATCH_ROWS))
        except duckdb.Error as exc:
            raise RequestsError(str(exc).splitlines()[0]) from None
        if not batches:
            return np.empty(0), np.empty(0)
        return tuple(np.concatenate([b.column(i).to_numpy() for b in batches]) for i in (0, 1))  # type: ignore[return-value]

    def class_counts(self, bucket_s: float) -> list[tuple[float, str, int]]:
        """(bucket start, status class, requests) of every non-empty bucket."""
        return [(float(t), str(c), int(n)) for t, c, n in self._all(
            f"SELECT t, {STATUS_CLASS_SQL} AS c, count(*) FROM ({_bucketed('status', 'true')}) WHERE NOT isnan(t) "
            "GROUP BY t, c", {"w": float(bucket_s)})]

    def kind_counts(self) -> list[tuple[str, int, int]]:
        """(user kind, admitted, rejected with 429) per user kind; an empty kind reads "unknown"."""
        return [(str(k), int(a), int(r)) for k, a, r in self._all(
            "SELECT CASE WHEN user_kind = '' THEN 'unknown' ELSE user_kind END AS k, "
            "count(*) FILTER (WHERE status != 429), count(*) FILTER (WHERE status = 429) FROM requests GROUP BY k")]

    def limited_keys(self) -> list[tuple[str, int, int]]:
        """(client key, 429 responses, position of its first request) of every rate-limited key."""
        return [(str(k), int(n), int(first)) for k, n, first in self._all(
            "SELECT client_key, count(*) FILTER (WHERE status = 429) AS n, min(pos) FROM requests "
            "GROUP BY client_key HAVING n > 0")]

    def limited_endpoints(self, client_key: str) -> list[tuple[str, int]]:
        """(endpoint, 429 responses) of one client key."""
        return [(str(e), int(n)) for e, n in self._all(
            "SELECT endpoint, count(*) FROM requests WHERE status = 429 AND client_key = ? GROUP BY endpoint",
            [client_key])]

    def key_windows(self, client_key: str, endpoint: str, window_s: float) -> list[tuple[float, int, int]]:
        """(window start, admitted, rejected with 429) of one key's answered requests to one endpoint."""
        if not (math.isfinite(window_s) and window_s != 0):
            return []
        mine = "client_key = $k AND endpoint = $e AND status != 0"
        return [(float(t), int(a), int(r)) for t, a, r in self._all(
            "SELECT t, count(*) FILTER (WHERE status != 429), count(*) FILTER (WHERE status = 429) "
            f"FROM ({_bucketed('status', mine)}) WHERE NOT isnan(t) GROUP BY t",
            {"w": float(window_s), "k": client_key, "e": endpoint})]

    def _one(self, sql: str, params: Any = None) -> tuple[Any, ...]:
        (row,) = self._all(sql, params)  # an aggregate without GROUP BY: one row
        return row

    def _all(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        import duckdb

        try:
            return [tuple(r) for r in self._con.execute(sql, params).fetchall()]
        except duckdb.Error as exc:
            raise RequestsError(str(exc).splitlines()[0]) from None


def _bucketed(columns: str, where: str) -> str:
    """`columns` of the rows matching `where`, and t: numpy's `(sent_s // $w) * $w` (npy_divmod: fmod, then the
    quotient snapped to an integer; so a bucket holds the same rows, also at its edge), NaN for a send time that
    is not finite (pandas drops those from a groupby). Each step is computed once, in its own projection."""
    return ("SELECT CASE WHEN NOT isfinite(q) THEN 'NaN'::DOUBLE WHEN q = 0 THEN 0.0 WHEN q - floor(q) > 0.5 "
            f"THEN floor(q) + 1.0 ELSE floor(q) END * $w AS t, {columns} FROM (SELECT CASE WHEN m != 0 AND "
            "(($w < 0) != (m < 0)) THEN (sent_s - m) / $w - 1.0 ELSE (sent_s - m) / $w END AS q, "
            f"{columns} FROM (SELECT sent_s % $w AS m, sent_s, {columns} FROM requests WHERE {where}))")


def _select(present: set[str]) -> str:
    """The view's columns, typed; a column an older file lacks reads as the RequestRecord default."""
    missing = [c for c in REQUIRED if c not in present and DEFAULTS[c] is MISSING]
    if missing:
        raise RequestsError(f"the request records lack columns {missing}")
    parts = []
    for name, kind in COLUMNS.items():
        raw = f'CAST("{name}" AS {kind})' if name in present else f"CAST({_literal(DEFAULTS[name])} AS {kind})"
        parts.append(f"coalesce({raw}, 'NaN'::DOUBLE) AS {name}" if kind == "DOUBLE" else f"{raw} AS {name}")
    return ", ".join(parts)


def _literal(value: Any) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)
