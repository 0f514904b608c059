"""Bucketed aggregation behind the charts: bounded sizes, exact quantiles, breaker bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report import data as rd
from harness.report.requests_view import Requests


def frame(n: int, endpoint: str = "channel", status: int = 200) -> pd.DataFrame:
    sent = np.linspace(0.0, 99.9, n)
    return pd.DataFrame({"sent_s": sent, "endpoint": endpoint, "status": status,
                         "latency_ms": np.arange(n, dtype=float), "user_kind": "decider", "client_key": "k"})


@pytest.mark.parametrize("duration, samples, series, expected", [
    (100.0, 0, 1, 1.0), (3600.0, 0, 1, 30.0), (86_400.0, 0, 1, 600.0),
    (180.0, 1_800, 5, 5.0), (180.0, 100_000, 5, 2.0),
])
def test_bucket_width_bounds_bucket_count_and_density(duration: float, samples: int, series: int,
                                                      expected: float) -> None:
    width = rd.bucket_seconds(duration, samples, series)
    assert width == expected
    assert duration / width <= rd.MAX_BUCKETS


def test_latency_over_time_quantiles_are_exact_per_bucket() -> None:
    records = pd.concat([frame(1000), frame(10, status=503)])
    table, _ = rd.latency_figures(Requests.from_frame(records), 10.0)
    first = table[table["t"] == 0.0].iloc[0]
    expected = np.percentile(np.arange(100, dtype=float), [50, 95, 99])  # sent_s < 10 -> latencies 0..99
    assert first["n"] == 100 and list(first[["p50", "p95", "p99"]]) == pytest.approx(expected)
    assert len(table) == 10


def test_throughput_classes_and_rate() -> None:
    records = pd.concat([frame(100), frame(50, status=429), frame(20, status=0), frame(30, status=502)])
    table = rd.throughput_over_time(Requests.from_frame(records), 100.0)
    assert table.loc[0.0].to_dict() == {"2xx": 1.0, "4xx": 0.0, "429": 0.5, "5xx": 0.3, "no response": 0.2}


def test_breaker_bands_follow_transitions() -> None:
    events = pd.DataFrame({"t": [10.0, 40.0, 41.0], "source": "service", "kind": "breaker.transition",
                           "data": [{"breaker": "horizon-primary", "from": "closed", "to": "open"},
                                    {"breaker": "horizon-primary", "from": "open", "to": "half-open"},
                                    {"breaker": "horizon-primary", "from": "half_open", "to": "closed"}]})
    bands = rd.breaker_intervals(events, 60.0)
    assert bands == {"horizon-primary": [(0.0, 10.0, "CLOSED"), (10.0, 40.0, "OPEN"), (40.0, 41.0, "HALF_OPEN"),
                                         (41.0, 60.0, "CLOSED")]}


def test_rate_limit_table_and_curves() -> None:
    records = pd.concat([frame(30), frame(10, status=429)])
    assert rd.rate_limit_table(Requests.from_frame(records)).loc["decider"].to_dict() == {"admitted": 30,
                                                                                          "rejected": 10}
    _, curves = rd.latency_figures(Requests.from_frame(frame(1000)), 10.0)
    assert set(curves) == {"channel"} and len(curves["channel"]) == len(rd.CURVE_PERCENTILES)
    assert np.all(np.diff(curves["channel"]) >= 0)
