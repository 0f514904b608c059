"""Open-model arrivals: seeded, rate-following, and the queue counts late and dropped sends."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from harness.profiles import Phase
from scenarios.arrivals import (
    MAX_POOL,
    ArrivalQueue,
    build_schedules,
    kind_shares,
    poisson_arrivals,
    pool_sizes,
)
from scenarios.shapes import expected_arrivals, phase_at, rate_at

PHASES = (
    Phase("ramp", "ramp", 20.0, 40.0, rate_start=0.0),
    Phase("steady", "steady", 60.0, 40.0, steady=True),
    Phase("spike", "spike", 30.0, 40.0, peak_rate=120.0),
)


def test_rate_function_follows_the_shapes():
    assert rate_at(PHASES, -1) == 0 and rate_at(PHASES, 200) == 0
    assert rate_at(PHASES, 10) == 20.0  # half way up the ramp
    assert rate_at(PHASES, 50) == 40.0
    assert rate_at(PHASES, 85) == 40.0 and rate_at(PHASES, 95) == 120.0 and rate_at(PHASES, 105) == 40.0
    assert phase_at(PHASES, 0) == "ramp" and phase_at(PHASES, 80) == "spike" and phase_at(PHASES, 110) == ""
    assert expected_arrivals(PHASES) == 20 * 20 + 40 * 60 + 40 * 20 + 120 * 10


def test_schedules_are_deterministic_per_seed_and_differ_across_seeds():
    mix = {"settler": 1.0, "paying_agent": 3.0}
    a, b, c = build_schedules(PHASES, mix, 7), build_schedules(PHASES, mix, 7), build_schedules(PHASES, mix, 8)
    assert a == b
    assert a != c
    assert all(x < y for x, y in zip(a["settler"], a["settler"][1:], strict=False))


def test_total_count_and_mix_shares_match_the_profile():
    mix = {"settler": 1.0, "paying_agent": 3.0}
    schedules = build_schedules(PHASES, mix, 11)
    expected = expected_arrivals(PHASES)  # 4800: Poisson sd ~69
    total = sum(len(v) for v in schedules.values())
    assert abs(total - expected) < 5 * expected**0.5
    assert abs(len(schedules["paying_agent"]) / total - 0.75) < 0.03


def test_spike_third_is_denser_than_its_shoulders():
    times = build_schedules(PHASES, {"decider": 1.0}, 3)["decider"]
    middle = sum(1 for t in times if 90 <= t < 100)
    shoulder = sum(1 for t in times if 80 <= t < 90)
    assert middle > 2 * shoulder


@given(st.floats(0.5, 50.0), st.floats(1.0, 60.0), st.integers(0, 2**32))
def test_poisson_arrivals_stay_inside_the_run(rate, duration, seed):
    times = poisson_arrivals(lambda t: rate, duration, rate, random.Random(seed))
    assert all(0 <= t < duration for t in times)
    assert times == sorted(times)


def test_kind_shares_drop_zero_weights():
    assert kind_shares({"a": 1, "b": 0, "c": 3}) == {"a": 0.25, "c": 0.75}


def test_queue_sends_on_time_counts_late_and_drops_hopeless_arrivals():
    queue = ArrivalQueue([1.0, 2.0, 3.0, 30.0], max_lag_s=10.0, late_after_s=0.05)
    assert queue.take(0.5) == 1.0  # future arrival: the user sleeps until it
    queue.mark_sent(1.0, 1.01)
    assert queue.take(2.5) == 2.0  # behind schedule: sent late, latency counts from 2.0
    queue.mark_sent(2.0, 2.5)
    assert queue.take(20.0) == 30.0  # 3.0 is 17 s late: dropped, not sent
    assert queue.counters.dropped == 1
    assert queue.take(40.0) is None
    assert queue.drop_remaining() == 0
    c = queue.counters
    assert (c.scheduled, c.sent, c.late, c.dropped) == (4, 2, 1, 1)


def test_pools_scale_with_each_kinds_peak_rate_and_honour_overrides():
    pools = pool_sizes(PHASES, {"settler": 1.0, "paying_agent": 3.0}, {})
    # peak 120/s: settler 30/s x 4 s + 2; paying_agent 90/s x 4 s + 2 = 362, capped at MAX_POOL
    assert pools == {"settler": 122, "paying_agent": MAX_POOL}
    assert pool_sizes(PHASES, {"settler": 1.0}, {"settler": 5}) == {"settler": 5}
