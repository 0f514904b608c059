"""The report's aggregation (DuckDB over requests.parquet or an in-memory frame, harness/report/requests_view.py)
gives the former whole-frame pandas figures (tests/unit/report_reference.py) bit for bit, on the same data:
empty and one-row runs, NaN latencies and send times, bucket edges, and both ways in (Parquet, frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.records_store import DEFAULTS, SCHEMA, write_parquet
from harness.report import ReportError, render_report, requests_view
from harness.report import data as rd
from harness.report.requests_view import Requests
from tests.unit import report_reference as old

ENDPOINTS = ["x402", "channel", "settlement", "decision", "escrow"]
STATUSES = [200, 200, 200, 201, 204, 429, 503, 500, 404, 0, 302]


def synthetic(n: int, seed: int = 7, duration_s: float = 600.0) -> pd.DataFrame:
    """Seeded records with every status class, NaN latencies and send times, and sends on bucket edges."""
    rng = np.random.default_rng(seed)
    sent = rng.uniform(0.0, duration_s, n).round(4)
    edges = rng.random(n) < 0.05  # exactly on, or one ulp below, a multiple of 0.1 / 1 / 5 / 15 / 30 s
    step = rng.choice([0.1, 1.0, 5.0, 15.0, 30.0, 7.3], n)
    on_edge = np.floor(sent / step) * step
    sent = np.where(edges, np.where(rng.random(n) < 0.5, on_edge, np.nextafter(on_edge, -np.inf)), sent)
    latency = rng.lognormal(3.0, 1.0, n)
    latency = np.where(rng.random(n) < 0.5, latency.round(1), latency)  # ties and full-precision values
    latency = np.where(rng.random(n) < 0.01, np.nan, latency)
    sent = np.where(rng.random(n) < 0.005, np.nan, sent)
    return pd.DataFrame({
        "sent_s": sent, "endpoint": rng.choice(ENDPOINTS, n), "status": rng.choice(STATUSES, n),
        "latency_ms": latency, "latency_from_intended_ms": latency,
        "user_kind": rng.choice(["paying_agent", "decider", ""], n),
        "client_key": np.char.add("key-", rng.integers(0, 7, n).astype(str)),
    })


def to_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as a requests.parquet (SCHEMA; the columns it lacks hold defaults)."""
    def column(name: str) -> list | np.ndarray:
        if name in frame.columns:
            return frame[name].to_numpy()
        default = DEFAULTS[name] if isinstance(DEFAULTS[name], int | float | str) else ""
        return [default if SCHEMA.field(name).type == pa.string() or default != "" else 0] * len(frame)
    write_parquet(path, [pa.table({n: pa.array(column(n), SCHEMA.field(n).type) for n in SCHEMA.names})])
    return path


def both_ways(frame: pd.DataFrame, tmp_path: Path) -> list[tuple[Requests, pd.DataFrame]]:
    """(new view, the frame the old code read) for the Parquet file and for the in-memory frame."""
    path = to_parquet(frame, tmp_path / "requests.parquet")
    return [(Requests.from_parquet(path), old.read_parquet(path)), (Requests.from_frame(frame), frame)]


def assert_same_figures(new: Requests, records: pd.DataFrame, bucket_s: float, window_s: float) -> None:
    assert len(new) == len(records)
    np.testing.assert_array_equal(new.end_s if len(records) else np.nan,
                                  old.end_s(records) if len(records) else np.nan)
    assert new.ok_counts == old.ok_counts(records)
    table, curves = rd.latency_figures(new, bucket_s)
    pd.testing.assert_frame_equal(table, old.latency_over_time(records, bucket_s),
                                  check_exact=True, check_dtype=False, check_column_type=False,
                                  check_index_type=False)
    pd.testing.assert_frame_equal(rd.throughput_over_time(new, bucket_s), old.throughput_over_time(records, bucket_s),
                                  check_exact=True, check_index_type=False, check_column_type=False,
                                  check_dtype=not records.empty)
    pd.testing.assert_frame_equal(rd.rate_limit_table(new), old.rate_limit_table(records), check_exact=True,
                                  check_index_type=False, check_dtype=not records.empty)
    expected = old.percentile_curves(records)
    assert list(curves) == list(expected)
    for endpoint, values in expected.items():
        np.testing.assert_array_equal(curves[endpoint], values, strict=True)
    most = rd.most_limited(new)
    assert most == old.most_limited(records)
    if most is not None:
        pd.testing.assert_frame_equal(rd.key_windows(new, *most, window_s), old.key_windows(records, *most, window_s),
                                      check_exact=True, check_index_type=False)


@pytest.mark.parametrize("bucket_s, window_s", [(1.0, 0.1), (5.0, 60.0), (15.0, 7.3), (30.0, 1.0)])
def test_the_new_aggregation_gives_the_old_figures_bit_for_bit(bucket_s: float, window_s: float,
                                                                 tmp_path: Path) -> None:
    frame = synthetic(40_000)
    frame.loc[frame["client_key"] == "key-3", "status"] = 429  # one key clearly most limited
    for new, records in both_ways(frame, tmp_path):
        assert_same_figures(new, records, bucket_s, window_s)


@pytest.mark.parametrize("rows", [0, 1, 2, 9])
def test_empty_and_tiny_runs_give_the_old_figures(rows: int, tmp_path: Path) -> None:
    frame = synthetic(rows, seed=rows).assign(status=200)
    if rows > 1:
        frame.loc[frame.index[-1], "status"] = 429
    for new, records in both_ways(frame, tmp_path):
        assert_same_figures(new, records, 5.0, 60.0)


def test_an_endpoint_without_a_single_latency_gives_nan_figures_as_before(tmp_path: Path) -> None:
    frame = synthetic(2_000).assign(endpoint="channel", status=200)
    frame.loc[frame.index[:1000], "endpoint"] = "settlement"
    frame.loc[frame["endpoint"] == "settlement", "latency_ms"] = np.nan
    for new, records in both_ways(frame, tmp_path):
        assert_same_figures(new, records, 30.0, 60.0)
        table, curves = rd.latency_figures(new, 30.0)
        assert np.isnan(curves["settlement"]).all()
        timed = (frame["endpoint"] == "settlement") & frame["sent_s"].notna()
        assert table.query("endpoint == 'settlement'")["n"].sum() == timed.sum()


@pytest.mark.parametrize("limited_rows", [[10, 11, 14, 15], [11, 15, 18, 22]])
def test_the_most_limited_key_among_equals_is_the_first_in_the_records(limited_rows: list[int],
                                                                       tmp_path: Path) -> None:
    """As the Parquet path always chose (value_counts over the key categories, in order of appearance); the old
    requests.csv path chose the first rate-limited, so that path alone changes, and only between equals."""
    frame = synthetic(100).assign(status=200, endpoint="decision")
    frame["client_key"] = [f"key-{i % 4}" for i in range(100)]  # row i belongs to key-(i % 4)
    frame.loc[limited_rows, "status"] = 429  # key-2 and key-3 with two 429s each
    path = to_parquet(frame, tmp_path / "requests.parquet")
    assert old.most_limited(old.read_parquet(path)) == ("key-2", "decision")
    for new, _ in both_ways(frame, tmp_path):
        assert rd.most_limited(new) == ("key-2", "decision")


def test_a_bucket_edge_falls_where_numpy_floor_division_puts_it(tmp_path: Path) -> None:
    sent = np.array([0.3, 0.7, 2.9999999999999996, 3.0, 14.999999999999998, 15.0, 29.999999999999996, 1.0])
    frame = pd.DataFrame({"sent_s": sent, "endpoint": "decision", "status": 429, "latency_ms": 1.0,
                          "user_kind": "decider", "client_key": "k"})
    for window in (0.1, 1.0, 3.0, 15.0, 7.3):
        expected = np.unique((sent // window) * window)
        for new, _ in both_ways(frame, tmp_path):
            np.testing.assert_array_equal(rd.key_windows(new, "k", "decision", window).index.to_numpy(), expected)


def test_a_deliberately_broken_bucket_rule_is_caught(tmp_path: Path) -> None:
    """The edge test can fail: SQL's plain floor(a / b) puts a send at 1.0 s in the window of width 0.1 s that
    starts at 1.0 s (1.0 / 0.1 rounds to 10), numpy's floor division in the one at 0.9 s (1.0 // 0.1 == 9)."""
    new = Requests.from_frame(pd.DataFrame({"sent_s": [1.0], "endpoint": "e", "status": 429, "latency_ms": 1.0,
                                            "user_kind": "", "client_key": "k"}))
    naive = new._all("SELECT floor(sent_s / 0.1) * 0.1 FROM requests")[0][0]
    assert naive != (1.0 // 0.1) * 0.1 == rd.key_windows(new, "k", "e", 0.1).index[0]


def test_an_endpoint_read_in_slices_gives_the_same_figures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Latencies are read in runs of whole buckets of at most SLICE_ROWS responses: slices change nothing."""
    frame = synthetic(20_000)
    monkeypatch.setattr(rd, "SLICE_ROWS", 397)
    reads: list[tuple[float, float] | None] = []
    for new, records in both_ways(frame, tmp_path):
        def counted(*args: Any, real: Any = new.ok_latencies, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
            reads.append(args[2])
            return real(*args, **kwargs)
        monkeypatch.setattr(new, "ok_latencies", counted)
        assert_same_figures(new, records, 5.0, 60.0)
        assert_same_figures(new, records, 60.0, 60.0)  # buckets of more than SLICE_ROWS: one bucket a slice
    assert len(reads) > 4 * len(ENDPOINTS) and None not in reads  # every endpoint in several slices


def test_a_broken_or_incomplete_requests_parquet_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "requests.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(ReportError, match="requests.parquet is not a valid requests file"):
        render_report(tmp_path)
    pq.write_table(pa.table({"endpoint": ["x402"], "status": [200]}), tmp_path / "requests.parquet")
    with pytest.raises(ReportError, match=r"lack columns \['sent_s', 'latency_ms'\]"):
        render_report(tmp_path)
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "charts").exists()


def test_an_older_parquet_without_the_later_columns_reads_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "requests.parquet"
    pq.write_table(pa.table({"sent_s": [1.0, 2.0], "endpoint": ["decision"] * 2, "status": [200, 429],
                             "latency_ms": [5.0, 6.0]}), path)
    new = Requests.from_parquet(path)
    assert rd.rate_limit_table(new).to_dict("index") == {"unknown": {"admitted": 1, "rejected": 1}}
    assert rd.most_limited(new) == ("", "decision")


def many_keys(n: int) -> pd.DataFrame:
    return pd.DataFrame({"sent_s": np.arange(n, dtype=float), "endpoint": "decision", "status": 429,
                         "latency_ms": 1.0, "user_kind": "", "client_key": [f"k{i}" for i in range(n)]})


def test_a_big_group_by_spills_to_a_folder_of_its_own_not_the_working_one(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """DuckDB's default spill folder is `.tmp` in the working directory (seen there with the default)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(requests_view, "MEMORY_LIMIT", "64MB")
    new = Requests.from_frame(many_keys(1_000_000))
    assert len(new.limited_keys()) == 1_000_000
    spill = Path(new._spill.name)
    new.close()
    assert list(tmp_path.iterdir()) == [] and not spill.exists()


def test_a_query_out_of_memory_is_a_report_error_and_writes_no_report(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    to_parquet(many_keys(300_000), tmp_path / "requests.parquet")
    monkeypatch.setattr(requests_view, "MEMORY_LIMIT", "8MB")
    with pytest.raises(ReportError, match="Out of Memory"):
        render_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
