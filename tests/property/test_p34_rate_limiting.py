"""Property 34 (rate limiting), component level, virtual time.

For arbitrary arrival times of one client key:
- token bucket: any interval [t1, t2] admits at most capacity + rate * (t2 - t1) requests;
- sliding window: any window of length `window` admits at most `max_requests` requests;
- a well-behaved client (requests spaced >= window / max_requests) is always admitted.
Each property is also run against deliberately broken limiters, which it must reject.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from reference_impl.clock import ManualClock
from reference_impl.rate_limiter import RateLimiter, RateLimiterConfig
from tests.property.mutants_limiter_metrics import (
    DoubleRefillBucket,
    FixedWindow,
    OffByOneWindow,
    UncappedBucket,
)

LimiterFactory = Callable[[RateLimiterConfig, ManualClock], RateLimiter]
ALGORITHMS = ["token-bucket", "sliding-window"]
FIND_ONLY = settings(phases=[Phase.generate])  # mutant runs only need a counterexample, not a shrunk one


class PropertyViolation(AssertionError):
    """The limiter broke property 34 (distinct from any other assertion failure)."""


limits = st.integers(1, 8)
windows = st.one_of(st.floats(0.5, 30, allow_nan=False), st.sampled_from([1.0, 2.0, 5.0, 10.0]))


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, float, list[float]]:
    """(max_requests, window, sorted arrival times): either arbitrary sorted times, or bursts of
    requests separated by gaps measured in windows (scale-free, so refill and expiry get exercised)."""
    cap, window = draw(limits), draw(windows)
    if draw(st.booleans()):
        return (
            cap,
            window,
            sorted(draw(st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=80))),
        )
    arrivals, t = [], 0.0
    bursts = st.tuples(
        st.floats(0, 3, allow_nan=False), st.integers(1, 10), st.floats(0, 0.1, allow_nan=False)
    )
    for gap, size, spread in draw(st.lists(bursts, min_size=1, max_size=12)):
        t += gap * window
        for _ in range(size):
            arrivals.append(t)
            t += spread * window
    return cap, window, arrivals


def admitted_times(factory: LimiterFactory, config: RateLimiterConfig, arrivals: list[float]) -> list[float]:
    """Drive one key through `arrivals` in virtual time; return the clock times of admitted requests."""
    clock = ManualClock()
    limiter = factory(config, clock)
    out = []
    for t in arrivals:
        clock.advance(max(0.0, t - clock.now()))
        if limiter.check_limit("client").allowed:
            out.append(clock.now())
    return out


def check_token_bucket(factory: LimiterFactory) -> Callable[[], None]:
    @given(case=cases())
    def prop(case: tuple[int, float, list[float]]) -> None:
        cap, window, arrivals = case
        config = RateLimiterConfig(cap, window, "token-bucket")
        admitted = admitted_times(factory, config, arrivals)
        for i in range(len(admitted)):
            for j in range(i, len(admitted)):
                bound = cap + config.rate * (admitted[j] - admitted[i])
                if j - i + 1 > bound + 1e-9:
                    raise PropertyViolation(
                        f"{j - i + 1} admitted in [{admitted[i]}, {admitted[j]}] > {bound}"
                    )

    return prop


def check_sliding_window(factory: LimiterFactory) -> Callable[[], None]:
    @given(case=cases())
    def prop(case: tuple[int, float, list[float]]) -> None:
        cap, window, arrivals = case
        admitted = admitted_times(factory, RateLimiterConfig(cap, window, "sliding-window"), arrivals)
        for i in range(len(admitted) - cap):
            if admitted[i + cap] - admitted[i] < window:
                raise PropertyViolation(
                    f"{cap + 1} admitted within {admitted[i + cap] - admitted[i]} s < window {window} s"
                )

    return prop


@given(
    gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=60),
    cap=limits,
    window=windows,
    algorithm=st.sampled_from(ALGORITHMS),
)
def test_well_behaved_clients_are_always_admitted(
    gaps: list[float], cap: int, window: float, algorithm: str
) -> None:
    spacing = window / cap * (1 + 1e-9)
    arrivals, t = [], 0.0
    for extra in gaps:
        arrivals.append(t)
        t += spacing + extra
    config = RateLimiterConfig(cap, window, algorithm)
    assert admitted_times(RateLimiter, config, arrivals) == arrivals


def test_token_bucket_admits_at_most_capacity_plus_refill() -> None:
    check_token_bucket(RateLimiter)()


def test_sliding_window_admits_at_most_max_per_window() -> None:
    check_sliding_window(RateLimiter)()


@pytest.mark.parametrize("mutant", [DoubleRefillBucket, UncappedBucket])
def test_token_bucket_property_catches_mutant(mutant: LimiterFactory) -> None:
    with pytest.raises(PropertyViolation):
        FIND_ONLY(check_token_bucket(mutant))()


@pytest.mark.parametrize("mutant", [OffByOneWindow, FixedWindow])
def test_sliding_window_property_catches_mutant(mutant: LimiterFactory) -> None:
    with pytest.raises(PropertyViolation):
        FIND_ONLY(check_sliding_window(mutant))()


def test_real_limiter_rejects_the_burst_that_breaks_each_mutant() -> None:
    """Concrete witnesses, so a regression in the real limiter shows up as a readable failure too."""
    burst_after_idle = [0.0, 100.0, 100.0, 100.0]
    assert len(admitted_times(RateLimiter, RateLimiterConfig(1, 10.0, "token-bucket"), burst_after_idle)) == 2
    assert (
        len(admitted_times(UncappedBucket, RateLimiterConfig(1, 10.0, "token-bucket"), burst_after_idle)) == 4
    )
    straddle = [9.0, 9.5, 10.0, 10.5]
    assert len(admitted_times(RateLimiter, RateLimiterConfig(2, 10.0, "sliding-window"), straddle)) == 2
    assert len(admitted_times(FixedWindow, RateLimiterConfig(2, 10.0, "sliding-window"), straddle)) == 4
