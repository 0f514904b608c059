"""LogHistogram: percentiles within the stated relative error of numpy.percentile, bounded memory, merging."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from reference_impl.errors import ConfigurationError
from reference_impl.histogram import InvalidSampleError, LogHistogram
from tests.property.mutants_limiter_metrics import UpperBoundHistogram

PERCENTILES = [0, 1, 25, 50, 90, 95, 99, 99.9, 100]
ROUNDING = 1e-12


class BoundExceeded(AssertionError):
    """A percentile estimate left the stated relative error bound."""


samples = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-3, 1e8, allow_nan=False, allow_infinity=False)), min_size=1, max_size=300)


def check_bound(make: Callable[[], LogHistogram]) -> Callable[[], None]:
    @given(values=samples)
    def prop(values: list[float]) -> None:
        hist = make()
        for v in values:
            hist.record(v)
        for p in PERCENTILES:
            expected = float(np.percentile(values, p))
            got = hist.percentile(p)
            if abs(got - expected) > hist.relative_error * expected + ROUNDING * max(1.0, expected):
                raise BoundExceeded(f"p{p}: {got} vs numpy {expected}")
    return prop


def test_percentiles_within_stated_relative_error_of_numpy() -> None:
    check_bound(LogHistogram)()


def test_tighter_bound_is_honoured_too() -> None:
    check_bound(lambda: LogHistogram(relative_error=0.001))()


def test_bound_check_catches_a_histogram_reporting_bucket_upper_bounds() -> None:
    with pytest.raises(BoundExceeded):
        settings(phases=[Phase.generate])(check_bound(UpperBoundHistogram))()  # no shrinking: just find one


def test_memory_is_bounded_regardless_of_sample_count() -> None:
    rng = random.Random(7)
    hist = LogHistogram()
    for _ in range(100_000):
        hist.record(rng.lognormvariate(3, 3))
    assert hist.count == 100_000
    assert len(hist._counts) <= hist.bucket_limit < 1500
    assert len(hist.to_dict()["buckets"]) <= hist.bucket_limit


def test_exact_count_min_max_mean_and_zero() -> None:
    hist = LogHistogram()
    for v in (0, 0, 3.0, 5.0, 1e9):  # 1e9 is above max_value: clamped bucket, exact max
        hist.record(v)
    assert (hist.count, hist.zero_count, hist.min, hist.max) == (5, 2, 0, 1e9)
    assert hist.mean == pytest.approx((3 + 5 + 1e9) / 5)
    assert hist.percentile(0) == 0.0 and hist.percentile(100) == 1e9
    assert hist.quantile(0.2) == 0.0


def test_empty_and_bad_queries() -> None:
    hist = LogHistogram()
    assert math.isnan(hist.quantile(0.5)) and math.isnan(hist.mean)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigurationError):
            hist.quantile(bad)
    with pytest.raises(ConfigurationError):
        hist.percentile(101)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "3", None])
def test_bad_samples_are_refused_and_change_nothing(bad: object) -> None:
    hist = LogHistogram()
    hist.record(10.0)
    before = hist.to_dict()
    with pytest.raises(InvalidSampleError):
        hist.record(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSampleError):
        hist.record(5.0, count=0)
    assert hist.to_dict() == before


@pytest.mark.parametrize("kwargs", [{"relative_error": 0}, {"relative_error": 0.6},
                                    {"min_value": 0}, {"min_value": 10, "max_value": 5}])
def test_bad_layouts(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        LogHistogram(**kwargs)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), max_size=100),
       st.lists(st.floats(0, 1e6, allow_nan=False), max_size=100))
def test_merge_equals_recording_everything(a: list[float], b: list[float]) -> None:
    left, right, both = LogHistogram(), LogHistogram(), LogHistogram()
    for v in a:
        left.record(v)
        both.record(v)
    for v in b:
        right.record(v)
        both.record(v)
    left.merge(right)
    merged, direct = left.to_dict(), both.to_dict()
    assert merged.pop("total") == pytest.approx(direct.pop("total"))
    assert merged == direct


def test_merge_refuses_other_layouts_and_serialisation_round_trips() -> None:
    hist = LogHistogram()
    for v in (0.0, 1.5, 2.5, 4000.0):
        hist.record(v, count=3)
    with pytest.raises(ConfigurationError):
        hist.merge(LogHistogram(relative_error=0.02))
    copy = LogHistogram.from_dict(hist.to_dict())
    assert copy.to_dict() == hist.to_dict() and copy.percentile(95) == hist.percentile(95)
    broken = hist.to_dict()
    broken["count"] += 1
    for bad in (broken, {"relative_error": 0.01}, {**hist.to_dict(), "buckets": {"99999": 1}, "count": 1, "zero_count": 0}):
        with pytest.raises(ConfigurationError):
            LogHistogram.from_dict(bad)
