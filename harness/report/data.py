"""Load a run folder with pandas and aggregate it into small, chart-ready tables.

Every aggregate is bucketed (bounded size whatever the run length), so a run of millions of
requests renders in seconds: nothing plots raw points.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
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

NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
MAX_BUCKETS = 150
MIN_PER_BUCKET = 8
# Percentile curve points (HDR-style): 0 .. 99.999 %, evenly spaced on the 1/(1-p) log axis.
CURVE_PERCENTILES = tuple(100.0 * (1.0 - 10.0 ** (-k / 8.0)) for k in range(0, 41))
STATUS_CLASSES = ("2xx", "4xx", "429", "5xx", "no response")
_NUMERIC = {"intended_s": "float64", "sent_s": "float64", "latency_ms": "float64",
            "latency_from_intended_ms": "float64", "status": "int64"}


class ReportError(HarnessError):
    """A run folder cannot be read or a report cannot be written."""


@dataclass
class RunData:
    """One run folder, loaded."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)  # columns t, source, kind, data
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        ends = [float(self.summary.get("duration_s") or 0.0)]
        if len(self.records):
            ends.append(float((self.records["sent_s"] + self.records["latency_ms"] / 1000).max()))
        if len(self.events):
            ends.append(float(self.events["t"].max()))
        return max(ends)

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
    requests = root / REQUESTS_PARQUET if (root / REQUESTS_PARQUET).exists() else root / REQUESTS_FILE
    return RunData(root, read_json(root / SUMMARY_FILE), read_requests(requests),
                   _read_events(root / EVENTS_FILE), read_json(root / MANIFEST_FILE))


def read_requests(path: Path) -> pd.DataFrame:
    """requests.parquet or requests.csv as a typed DataFrame (only the columns charts need are read)."""
    wanted = ["sent_s", "endpoint", "status", "latency_ms", "latency_from_intended_ms", "user_kind", "client_key"]
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=_NUMERIC.get(c, "str")) for c in wanted})
    if path.suffix == ".parquet":
        return _read_parquet(path, wanted)
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in wanted, dtype={c: t for c, t in _NUMERIC.items()
                                                                        if c in wanted} | {"endpoint": "category",
                                                                                           "user_kind": "category"},
                            keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ReportError(f"{path.name} is not a valid requests file: {exc}") from None
    missing = [c for c in ("sent_s", "endpoint", "status", "latency_ms") if c not in frame.columns]
    if missing:
        raise ReportError(f"{path.name} lacks columns {missing}")
    for name in wanted:
        if name not in frame.columns:
            frame[name] = ""
    return frame


def _read_parquet(path: Path, wanted: list[str]) -> pd.DataFrame:
    """The chart columns of a requests.parquet; the repetitive labels as categories (a few bytes a row)."""
    from harness.records_store import RecordStore, RecordStoreError

    try:
        store = RecordStore([path])
        labels = ("endpoint", "user_kind", "client_key")
        return pd.DataFrame({name: (store.column(name).dictionary_encode() if name in labels
                                    else store.column(name)).to_pandas() for name in wanted})
    except RecordStoreError as exc:
        raise ReportError(f"{path.name} is not a valid requests file: {exc}") from None


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


def latency_over_time(records: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
    """p50/p95/p99 of 2xx latency per endpoint and time bucket: columns endpoint, t, p50, p95, p99, n."""
    ok = records[(records["status"] >= 200) & (records["status"] < 300)]
    if ok.empty:
        return pd.DataFrame(columns=["endpoint", "t", "p50", "p95", "p99", "n"])
    bucket = (ok["sent_s"] // bucket_s) * bucket_s
    grouped = ok.groupby([ok["endpoint"].astype(str), bucket], observed=True)["latency_ms"]
    table = grouped.quantile([0.5, 0.95, 0.99]).unstack()
    table.columns = ["p50", "p95", "p99"]
    table["n"] = grouped.size()
    table.index.names = ["endpoint", "t"]
    return table.reset_index()


def status_class(status: pd.Series) -> pd.Series:
    """2xx, 4xx (without 429), 429, 5xx, no response (status 0); 1xx/3xx count as 2xx-like "other"."""
    cls = np.select([status == 0, status == 429, status >= 500, status >= 400],
                    ["no response", "429", "5xx", "4xx"], default="2xx")
    return pd.Series(cls, index=status.index)


def throughput_over_time(records: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
    """Requests per second by status class and bucket: index t, columns STATUS_CLASSES."""
    if records.empty:
        return pd.DataFrame(columns=list(STATUS_CLASSES))
    bucket = (records["sent_s"] // bucket_s) * bucket_s
    counts = records.groupby([bucket, status_class(records["status"])]).size().unstack(fill_value=0)
    return counts.reindex(columns=list(STATUS_CLASSES), fill_value=0) / bucket_s


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


def rate_limit_table(records: pd.DataFrame) -> pd.DataFrame:
    """Admitted (not 429) vs rejected (429) per user kind: index user_kind, columns admitted, rejected."""
    if records.empty:
        return pd.DataFrame(columns=["admitted", "rejected"])
    kind = records["user_kind"].astype(str).replace("", "unknown")
    limited = records["status"] == 429
    table = pd.DataFrame({"admitted": (~limited).groupby(kind).sum(), "rejected": limited.groupby(kind).sum()})
    return table.astype(int)


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


def percentile_curves(records: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per endpoint, 2xx latency at CURVE_PERCENTILES (a bounded number of points)."""
    ok = records[(records["status"] >= 200) & (records["status"] < 300)]
    return {str(ep): np.percentile(group["latency_ms"].to_numpy(), CURVE_PERCENTILES)
            for ep, group in ok.groupby(ok["endpoint"].astype(str), observed=True) if len(group)}


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
