"""The report's former aggregation, whole table in one pandas frame (harness/report/data.py before the
DuckDB view), kept as the oracle the new aggregation must match figure for figure (test_report_aggregates.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.records_store import RecordStore
from harness.report.data import CURVE_PERCENTILES, STATUS_CLASSES

WANTED = ["sent_s", "endpoint", "status", "latency_ms", "latency_from_intended_ms", "user_kind", "client_key"]


def read_parquet(path: Path) -> pd.DataFrame:
    store = RecordStore([path])
    labels = ("endpoint", "user_kind", "client_key")
    return pd.DataFrame({name: (store.column(name).dictionary_encode() if name in labels
                                else store.column(name)).to_pandas() for name in WANTED})


def end_s(records: pd.DataFrame) -> float:
    return float((records["sent_s"] + records["latency_ms"] / 1000).max())


def ok_counts(records: pd.DataFrame) -> dict[str, int]:
    ok = records[(records["status"] >= 200) & (records["status"] < 300)]
    return {ep: int((ok["endpoint"].astype(str) == ep).sum()) for ep in sorted(str(e) for e in ok["endpoint"].unique())}


def latency_over_time(records: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
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
    cls = np.select([status == 0, status == 429, status >= 500, status >= 400],
                    ["no response", "429", "5xx", "4xx"], default="2xx")
    return pd.Series(cls, index=status.index)


def throughput_over_time(records: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
    if records.empty:
        return pd.DataFrame(columns=list(STATUS_CLASSES))
    bucket = (records["sent_s"] // bucket_s) * bucket_s
    counts = records.groupby([bucket, status_class(records["status"])]).size().unstack(fill_value=0)
    return counts.reindex(columns=list(STATUS_CLASSES), fill_value=0) / bucket_s


def rate_limit_table(records: pd.DataFrame) -> pd.DataFrame:
    if records.empty:
        return pd.DataFrame(columns=["admitted", "rejected"])
    kind = records["user_kind"].astype(str).replace("", "unknown")
    limited = records["status"] == 429
    table = pd.DataFrame({"admitted": (~limited).groupby(kind).sum(), "rejected": limited.groupby(kind).sum()})
    return table.astype(int)


def most_limited(records: pd.DataFrame) -> tuple[str, str] | None:
    limited = records[records["status"] == 429]
    if limited.empty:
        return None
    key = str(limited["client_key"].value_counts().index[0])
    mine = records[(records["client_key"] == key) & (records["status"] != 0)]
    return key, str(mine.loc[mine["status"] == 429, "endpoint"].astype(str).mode().iloc[0])


def key_windows(records: pd.DataFrame, key: str, endpoint: str, window: float) -> pd.DataFrame:
    mine = records[(records["client_key"] == key) & (records["status"] != 0)]
    mine = mine[mine["endpoint"].astype(str) == endpoint]
    bucket = (mine["sent_s"] // window) * window
    return pd.DataFrame({"admitted": (mine["status"] != 429).groupby(bucket).sum(),
                         "rejected": (mine["status"] == 429).groupby(bucket).sum()})


def percentile_curves(records: pd.DataFrame) -> dict[str, np.ndarray]:
    ok = records[(records["status"] >= 200) & (records["status"] < 300)]
    return {str(ep): np.percentile(group["latency_ms"].to_numpy(), CURVE_PERCENTILES)
            for ep, group in ok.groupby(ok["endpoint"].astype(str), observed=True) if len(group)}
