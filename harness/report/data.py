"""Load a run folder with pandas and aggregate it into small, chart-ready tables.

Every aggregate is bucketed (bounded size whatever the run length), so a run of millions of
requests renders in seconds: nothing plots raw points. The request records are aggregated where they lie
(harness/report/requests_view.py: DuckDB over requests.parquet or an older run's requests.csv frame); only
one endpoint's 2xx latencies at a time are held, for the exact percentiles.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.outputs import (
    EVENTS_FILE,
    MANIFEST_FILE,
    REQUESTS_FILE,
    REQUESTS_PARQUET,
    SUMMARY_FILE,
    read_events,
)
from harness.report.requests_view import COLUMNS as CHART_COLUMNS
from harness.report.requests_view import Requests, RequestsError

NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
MAX_BUCKETS = 150
MIN_PER_BUCKET = 8
# Percentile curve points (HDR-style): 0 .. 99.999 %, evenly spaced on the 1/(1-p) log axis.
CURVE_PERCENTILES = tuple(100.0 * (1.0 - 10.0 ** (-k / 8.0)) for k in range(0, 41))
STATUS_CLASSES = ("2xx", "4xx", "429", "5xx", "no response")
SLICE_ROWS = 4_000_000  # one endpoint's 2xx latencies in work at once (4 million: about 300 MiB with pandas')
_NUMERIC = {"sent_s": "float64", "latency_ms": "float64", "status": "int64"}


class ReportError(HarnessError):
    """A run folder cannot be read or a report cannot be written."""


@dataclass
class RunData:
    """One run folder, loaded (the request records as a DuckDB view: see requests_view.py)."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    requests: Requests = field(default_factory=lambda: Requests.from_frame(empty_requests()))
    events: pd.DataFrame = field(default_factory=pd.DataFrame)  # columns t, source, kind, data
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        ends = [float(self.summary.get("duration_s") or 0.0)]
        if len(self.requests):
            ends.append(self.requests.end_s)
        if len(self.events):
            ends.append(float(self.events["t"].max()))
        return max(ends)

    @cached_property
    def latency_bucket_s(self) -> float:
        """The latency chart's bucket: about MIN_PER_BUCKET 2xx responses per endpoint per bucket."""
        ok = self.requests.ok_counts
        return bucket_seconds(self.duration_s, sum(ok.values()), len(ok))

    @cached_property
    def latency(self) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """`latency_figures` at `latency_bucket_s` (read once for both latency charts)."""
        return latency_figures(self.requests, self.latency_bucket_s)

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.summary.get("checks") or [])

    @property
    def faults(self) -> list[dict[str, Any]]:
        return list(self.summary.get("faults") or [])


def load_run(run_dir: Path | str) -> RunData:
    """Read summary.json, requests.parquet (an older run's requests.csv), events.jsonl and manifest.json;
    missing files give empty parts."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ReportError(f"run folder {root} does not exist")
    parquet = root / REQUESTS_PARQUET
    try:
        requests = (Requests.from_parquet(parquet) if parquet.exists()
                    else Requests.from_frame(read_requests(root / REQUESTS_FILE)))
    except RequestsError as exc:
        raise ReportError(f"{parquet.name if parquet.exists() else REQUESTS_FILE} is not a valid requests file: "
                          f"{exc}") from None
    return RunData(root, read_json(root / SUMMARY_FILE), requests, _read_events(root / EVENTS_FILE),
                   read_json(root / MANIFEST_FILE))


def empty_requests() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_NUMERIC.get(c, "str")) for c in CHART_COLUMNS})


def read_requests(path: Path) -> pd.DataFrame:
    """An older run's requests.csv as a typed frame (only the columns charts need are read)."""
    if not path.exists():
        return empty_requests()
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in CHART_COLUMNS,
                            dtype={c: t for c, t in _NUMERIC.items() if c in CHART_COLUMNS}
                            | {"endpoint": "category", "user_kind": "category"}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ReportError(f"{path.name} is not a valid requests file: {exc}") from None
    missing = [c for c in ("sent_s", "endpoint", "status", "latency_ms") if c not in frame.columns]
    if missing:
        raise ReportError(f"{path.name} lacks columns {missing}")
    for name in CHART_COLUMNS:
        if name not in frame.columns:
            frame[name] = ""
    return frame


def _read_events(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({"t": pd.Series(dtype="float64"), "source": [], "kind": [], "data": []})
    try:
        events = read_events(path)
    except (ValueError, TypeError) as exc:
        raise ReportError(f"{path.name} is not a valid events file: {exc}") from None
    return pd.DataFrame({"t": [e.t for e in events], "source": [e.source for e in events],
                         "kind": [e.kind for e in events], "data": [e.data for e in events]})


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path.name} must hold a JSON object")
    return data


def bucket_seconds(duration_s: float, samples: int = 0, series: int = 1, max_buckets: int = MAX_BUCKETS) -> float:
    """A round bucket width: at most `max_buckets` buckets and, when `samples` is given, about
    MIN_PER_BUCKET samples per bucket in each of `series` series (so a bucket's p95 means something)."""
    duration_s = max(duration_s, 1.0)
    for width in NICE_BUCKETS_S:
        dense = samples <= 0 or samples / max(series, 1) * width / duration_s >= MIN_PER_BUCKET
        if duration_s / width <= max_buckets and dense:
            return float(width)
    return float(max(NICE_BUCKETS_S[-1], math.ceil(duration_s / max_buckets)))


def latency_figures(requests: Requests, bucket_s: float) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """From one read of each endpoint's 2xx latencies (at most SLICE_ROWS rows of them in work at a time):
    p50/p95/p99 per endpoint and time bucket (columns endpoint, t, p50, p95, p99, n; pandas' exact linear
    quantiles) and, per endpoint, the latency at CURVE_PERCENTILES (numpy's)."""
    tables, curves = [], {}
    for endpoint, count in requests.ok_counts.items():
        latencies, at = np.empty(count), 0
        for i, within in enumerate(_slices(requests, endpoint, bucket_s, count)):
            bucket, latency = requests.ok_latencies(endpoint, bucket_s, within, untimed=i == 0)
            latencies[at:at + len(latency)] = latency
            at += len(latency)
            grouped = pd.Series(latency, name="latency_ms").groupby(pd.Series(bucket, name="t"))
            table = grouped.quantile([0.5, 0.95, 0.99]).unstack()
            table.columns = ["p50", "p95", "p99"]
            table["n"] = grouped.size()
            tables.append(table.reset_index().assign(endpoint=endpoint))
        curves[endpoint] = np.percentile(latencies[:at], CURVE_PERCENTILES)
    if not tables:
        return pd.DataFrame(columns=["endpoint", "t", "p50", "p95", "p99", "n"]), curves
    return pd.concat(tables, ignore_index=True)[["endpoint", "t", "p50", "p95", "p99", "n"]], curves


def _slices(requests: Requests, endpoint: str, bucket_s: float, count: int) -> list[tuple[float, float] | None]:
    """Runs of consecutive buckets of at most SLICE_ROWS responses (a bigger bucket alone); [None]: read all."""
    if count <= SLICE_ROWS:
        return [None]
    slices: list[tuple[float, float] | None] = []
    first, last, rows = math.nan, math.nan, 0
    for t, n in requests.ok_buckets(endpoint, bucket_s):
        if rows and rows + n > SLICE_ROWS:
            slices.append((first, last))
            rows = 0
        first, last, rows = (t if not rows else first), t, rows + n
    return slices + [(first, last)] if rows else [None]


def throughput_over_time(requests: Requests, bucket_s: float) -> pd.DataFrame:
    """Requests per second by status class and bucket: index t, columns STATUS_CLASSES."""
    counts = requests.class_counts(bucket_s)
    if not counts:
        return pd.DataFrame(columns=list(STATUS_CLASSES))
    index = pd.Index(sorted({t for t, _, _ in counts}), name="sent_s")
    table = pd.DataFrame(0, index=index, columns=list(STATUS_CLASSES), dtype="int64")
    for t, cls, n in counts:
        table.loc[t, cls] = n
    return table / bucket_s


def breaker_intervals(events: pd.DataFrame, end_s: float) -> dict[str, list[tuple[float, float, str]]]:
    """Per breaker, (start, end, STATE) bands from breaker.transition events; CLOSED before the first one."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    trs = events[events["kind"] == "breaker.transition"].sort_values("t", kind="stable")
    for name, group in trs.groupby(trs["data"].map(lambda d: str(d.get("breaker", "?"))), sort=True):
        bands, start, state = [], 0.0, "CLOSED"
        for t, data in zip(group["t"], group["data"], strict=True):
            bands.append((start, float(t), state))
            start, state = float(t), str(data.get("to", "?")).upper().replace("-", "_")
        bands.append((start, max(end_s, start), state))
        out[str(name)] = [b for b in bands if b[1] > b[0]]
    return out


def rate_limit_table(requests: Requests) -> pd.DataFrame:
    """Admitted (not 429) vs rejected (429) per user kind: index user_kind, columns admitted, rejected."""
    rows = sorted(requests.kind_counts())
    if not rows:
        return pd.DataFrame(columns=["admitted", "rejected"])
    return pd.DataFrame({"admitted": [a for _, a, _ in rows], "rejected": [r for _, _, r in rows]},
                        index=pd.Index([k for k, _, _ in rows], name="user_kind"), dtype="int64")


def most_limited(requests: Requests) -> tuple[str, str] | None:
    """(client key, endpoint) most often answered 429: the key with the most 429s (among equals, the first to
    appear in the records), on its endpoint with the most (the first by name among equals); None when nothing
    was limited."""
    keys = requests.limited_keys()
    if not keys:
        return None
    key = min(keys, key=lambda k: (-k[1], k[2]))[0]
    endpoint = min(requests.limited_endpoints(key), key=lambda e: (-e[1], e[0]))[0]
    return key, endpoint


def key_windows(requests: Requests, client_key: str, endpoint: str, window_s: float) -> pd.DataFrame:
    """One key's answered requests to one endpoint per window: index window start, columns admitted, rejected."""
    rows = sorted(requests.key_windows(client_key, endpoint, window_s))
    return pd.DataFrame({"admitted": [a for _, a, _ in rows], "rejected": [r for _, _, r in rows]},
                        index=pd.Index([t for t, _, _ in rows], name="sent_s", dtype="float64"), dtype="int64")


def error_records_over_time(events: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
    """error.record counts per severity and bucket: index t, columns severities."""
    recs = events[events["kind"] == "error.record"]
    if recs.empty:
        return pd.DataFrame()
    severity = recs["data"].map(lambda d: str(d.get("severity", "unknown")).upper())
    bucket = (recs["t"] // bucket_s) * bucket_s
    return recs.groupby([bucket, severity]).size().unstack(fill_value=0)


def alert_times(events: pd.DataFrame) -> pd.DataFrame:
    alerts = events[events["kind"] == "alert"]
    return pd.DataFrame({"t": alerts["t"], "metric": alerts["data"].map(lambda d: str(d.get("metric", "")))})


def target_rows(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per target check: metric, threshold_ms, p50/p95/p99 (None when not measured), verdict."""
    rows = []
    for check in checks:
        if check.get("kind") != "target":
            continue
        fig = check.get("figures") or {}
        rows.append({"metric": fig.get("metric", check.get("id", "")), "threshold_ms": _f(fig.get("threshold_ms")),
                     "p50": _f(fig.get("p50_ms")), "p95": _f(fig.get("p95_ms")), "p99": _f(fig.get("p99_ms")),
                     "samples": fig.get("samples", 0), "verdict": check.get("verdict", "")})
    return rows


def _f(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out
