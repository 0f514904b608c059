"""Unit tests for reference_impl.circuit_breaker (DESIGN §4.2), in virtual time unless threads are needed."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from reference_impl.circuit_breaker import (
    Allow,
    BreakerCore,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerListener,
    CircuitBreakerManager,
    CircuitState,
    Reject,
    Ticket,
    Transition,
)
from reference_impl.clock import ManualClock
from reference_impl.errors import AllFailedError, CircuitOpenError, ConfigurationError

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
SMALL = CircuitBreakerConfig(failure_threshold=2, success_threshold=2, timeout=10.0, monitoring_period=30.0,
                             volume_threshold=3)


class Down(ConnectionError):
    pass


def fail() -> None:
    raise Down("dependency down")


def ok() -> str:
    return "ok"


def attempt(breaker: CircuitBreaker, fn: object = fail) -> None:
    try:
        breaker.execute(fn)  # type: ignore[arg-type]
    except (Down, CircuitOpenError):
        pass


def tripped(clock: ManualClock, config: CircuitBreakerConfig = SMALL, **options: object) -> CircuitBreaker:
    breaker = CircuitBreaker("horizon-primary", config, clock=clock, **options)  # type: ignore[arg-type]
    for _ in range(config.volume_threshold):
        attempt(breaker)
    assert breaker.get_state() is OPEN
    return breaker


class Recorder(CircuitBreakerListener):
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def on_state_change(self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState, at: float) -> None:
        self.events.append(("change", old, new, at))

    def on_success(self, breaker: CircuitBreaker, elapsed: float) -> None:
        self.events.append(("success",))

    def on_failure(self, breaker: CircuitBreaker, error: BaseException, elapsed: float) -> None:
        self.events.append(("failure", type(error).__name__))

    def on_rejected(self, breaker: CircuitBreaker, retry_after: float) -> None:
        self.events.append(("rejected", retry_after))


@pytest.mark.parametrize("options", [
    {"failure_threshold": 0}, {"success_threshold": -1}, {"volume_threshold": 1.5}, {"timeout": 0},
    {"monitoring_period": float("nan")}, {"half_open_max_calls": 0}, {"failure_threshold": True},
    {"timeout": "60"},
])
def test_invalid_config_is_rejected_with_a_typed_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        CircuitBreakerConfig(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", None])
def test_breaker_needs_a_name(name: object) -> None:
    with pytest.raises(ConfigurationError):
        CircuitBreaker(name)  # type: ignore[arg-type]


def test_defaults_match_the_design() -> None:
    config = CircuitBreakerConfig()
    assert (config.failure_threshold, config.success_threshold, config.timeout, config.monitoring_period,
            config.volume_threshold, config.trial_limit) == (5, 2, 60.0, 120.0, 10, 2)


def test_failures_below_the_volume_threshold_do_not_open() -> None:
    breaker = CircuitBreaker("b", SMALL, clock=ManualClock())
    attempt(breaker)
    attempt(breaker)
    assert breaker.get_state() is CLOSED
    attempt(breaker, ok)
    assert breaker.get_state() is OPEN, "3 calls with 2 failures in the window must open"


def test_failures_that_left_the_window_do_not_count() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("b", SMALL, clock=clock)
    attempt(breaker)
    attempt(breaker)
    clock.advance(30.0)
    attempt(breaker)
    attempt(breaker, ok)
    assert breaker.get_state() is CLOSED
    attempt(breaker)
    assert breaker.get_state() is OPEN


def test_open_breaker_rejects_without_calling() -> None:
    clock = ManualClock()
    breaker = tripped(clock)
    calls: list[int] = []
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as rejected:
        breaker.execute(lambda: calls.append(1))
    assert calls == [] and rejected.value.name == "horizon-primary"
    assert rejected.value.retry_after == pytest.approx(6.0)
    assert breaker.get_stats().rejected == 1


def test_half_open_successes_close_and_a_failure_reopens_with_a_fresh_timeout() -> None:
    clock = ManualClock()
    breaker = tripped(clock)
    clock.advance(10.0)
    assert breaker.execute(ok) == "ok" and breaker.get_state() is HALF_OPEN
    attempt(breaker)
    assert breaker.get_state() is OPEN
    clock.advance(9.0)
    with pytest.raises(CircuitOpenError):
        breaker.execute(ok)
    clock.advance(1.0)
    breaker.execute(ok)
    breaker.execute(ok)
    assert breaker.get_state() is CLOSED
    attempt(breaker)
    assert breaker.get_state() is CLOSED, "the transition must have cleared the window"


def test_half_open_rejects_calls_beyond_the_trial_limit() -> None:
    clock = ManualClock()
    breaker = tripped(clock, CircuitBreakerConfig(1, 1, 5.0, 30.0, 1, half_open_max_calls=1))
    clock.advance(5.0)
    inside, release = threading.Event(), threading.Event()

    def slow_trial() -> str:
        inside.set()
        release.wait(5)
        return "trial"

    results: list[object] = []
    trial = threading.Thread(target=lambda: results.append(breaker.execute(slow_trial)))
    trial.start()
    try:
        assert inside.wait(5)
        with pytest.raises(CircuitOpenError) as rejected:
            breaker.execute(ok)
        assert rejected.value.retry_after == 0.0
        assert breaker.get_stats().state is HALF_OPEN
    finally:
        release.set()
        trial.join(5)
    assert results == ["trial"] and breaker.get_state() is CLOSED


@pytest.mark.timeout(20)
def test_concurrent_threads_never_exceed_the_trial_limit() -> None:
    clock = ManualClock()
    breaker = tripped(clock, CircuitBreakerConfig(1, 3, 5.0, 30.0, 1, half_open_max_calls=3))
    clock.advance(5.0)
    lock, running, peak = threading.Lock(), [0], [0]
    start, release = threading.Barrier(8), threading.Event()
    outcomes: list[str] = []

    def trial() -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return "ran"

    def worker() -> None:
        start.wait(5)
        try:
            outcomes.append(breaker.execute(trial))
        except CircuitOpenError:
            outcomes.append("rejected")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(500):
            if outcomes.count("rejected") == 5:
                break
            threading.Event().wait(0.01)
    finally:
        release.set()
        for thread in threads:
            thread.join(5)
    assert peak[0] == 3 and sorted(outcomes) == ["ran"] * 3 + ["rejected"] * 5
    assert breaker.get_state() is CLOSED


@pytest.mark.timeout(20)
def test_no_lock_is_held_while_the_protected_call_runs() -> None:
    breaker = CircuitBreaker("b", clock=ManualClock())
    entered, done = threading.Event(), threading.Event()

    def long_call() -> None:
        entered.set()
        assert done.wait(5), "the other call never completed: the breaker serialised calls"

    worker = threading.Thread(target=lambda: breaker.execute(long_call))
    worker.start()
    try:
        assert entered.wait(5)
        assert breaker.execute(ok) == "ok" and breaker.get_stats().state is CLOSED
    finally:
        done.set()
        worker.join(5)
    assert breaker.get_stats().total_calls == 2


def test_errors_excluded_by_the_predicate_count_as_successes_and_skip_fallback() -> None:
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=ManualClock(),
                             is_failure=lambda e: not isinstance(e, ValueError))

    def invalid() -> None:
        raise ValueError("bad destination")

    for _ in range(3):
        with pytest.raises(ValueError):
            breaker.execute_with_fallback(invalid, lambda: "fallback")
    assert breaker.get_state() is CLOSED and breaker.get_stats().successes == 3


def test_outcomes_of_calls_admitted_before_a_transition_are_ignored() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=clock)
    release, entered = threading.Event(), threading.Event()

    def straggler() -> None:
        entered.set()
        release.wait(5)
        raise Down("late")

    worker = threading.Thread(target=lambda: attempt(breaker, straggler))
    worker.start()
    try:
        assert entered.wait(5)
        attempt(breaker)
        clock.advance(5.0)
        breaker.execute(ok)
        assert breaker.get_state() is CLOSED
    finally:
        release.set()
        worker.join(5)
    assert breaker.get_state() is CLOSED, "a failure from the previous CLOSED period re-opened the breaker"


def test_cancelled_async_trial_gives_its_slot_back() -> None:
    clock = ManualClock()
    breaker = tripped(clock, CircuitBreakerConfig(1, 1, 5.0, 30.0, 1, half_open_max_calls=1))
    clock.advance(5.0)

    async def scenario() -> str:
        hang = asyncio.Event()
        task = asyncio.create_task(breaker.execute_async(hang.wait))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def trial() -> str:
            return "trial"

        return await breaker.execute_async(trial)

    assert asyncio.run(scenario()) == "trial" and breaker.get_state() is CLOSED


def test_listeners_see_every_transition_and_outcome_and_a_broken_one_is_only_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken(CircuitBreakerListener):
        def on_state_change(self, *_: object) -> None:
            raise RuntimeError("listener bug")

        def on_failure(self, *_: object) -> None:
            raise RuntimeError("listener bug")

    clock, recorder = ManualClock(), Recorder()
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=clock,
                             listeners=[Broken(), recorder])
    with caplog.at_level(logging.WARNING, logger="reference_impl.circuit_breaker"):
        attempt(breaker)
        attempt(breaker, ok)
        clock.advance(5.0)
        breaker.execute(ok)
    wall = clock.time()
    assert recorder.events == [
        ("failure", "Down"), ("change", CLOSED, OPEN, wall - 5.0), ("rejected", 5.0),
        ("change", OPEN, HALF_OPEN, wall), ("success",), ("change", HALF_OPEN, CLOSED, wall),
    ]
    assert "RuntimeError" in caplog.text and "listener bug" not in caplog.text


def test_stats_snapshot_and_reset() -> None:
    clock, recorder = ManualClock(), Recorder()
    breaker = tripped(clock, listeners=[recorder])
    clock.advance(2.0)
    attempt(breaker, ok)
    stats = breaker.get_stats().to_dict()
    assert stats["state"] == "open" and stats["opened_at"] == clock.time() - 2.0
    assert (stats["retry_after"], stats["rejected"], stats["transitions"]) == (8.0, 1, 1)
    assert (stats["total_calls"], stats["total_failures"]) == (3, 3)
    breaker.reset()
    assert breaker.get_state() is CLOSED and breaker.get_stats().transitions == 2
    assert recorder.events[-1][:3] == ("change", OPEN, CLOSED)


def test_window_counts_in_stats() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("b", CircuitBreakerConfig(3, 1, 5.0, 10.0, 5), clock=clock)
    attempt(breaker)
    clock.advance(6.0)
    attempt(breaker, ok)
    attempt(breaker)
    stats = breaker.get_stats()
    assert (stats.calls_in_window, stats.failures_in_window, stats.failures, stats.successes) == (3, 2, 2, 1)
    clock.advance(5.0)
    assert (breaker.get_stats().calls_in_window, breaker.get_stats().failures_in_window) == (2, 1)


def test_fallback_runs_when_primary_fails_or_breaker_is_open() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=clock)
    assert breaker.execute_with_fallback(ok, lambda: "secondary") == "ok"
    assert breaker.execute_with_fallback(fail, lambda: "secondary") == "secondary"
    assert breaker.get_state() is OPEN
    assert breaker.execute_with_fallback(ok, lambda: "secondary") == "secondary"


def test_both_failing_surfaces_both_causes() -> None:
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=ManualClock())
    secondary = TimeoutError("secondary timed out")

    def secondary_down() -> None:
        raise secondary

    with pytest.raises(AllFailedError) as both:
        breaker.execute_with_fallback(fail, secondary_down)
    assert isinstance(both.value.primary_error, Down) and both.value.fallback_error is secondary
    assert both.value.__cause__ is secondary
    with pytest.raises(AllFailedError) as open_and_down:
        breaker.execute_with_fallback(ok, secondary_down)
    assert isinstance(open_and_down.value.primary_error, CircuitOpenError)


def test_async_fallback_accepts_sync_and_async_fallbacks() -> None:
    breaker = CircuitBreaker("b", CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=ManualClock())

    async def primary_down() -> str:
        raise Down("x")

    async def secondary() -> str:
        return "async secondary"

    async def fallback_down() -> str:
        raise TimeoutError("y")

    async def scenario() -> None:
        assert await breaker.execute_with_fallback_async(primary_down, secondary) == "async secondary"
        assert await breaker.execute_with_fallback_async(primary_down, lambda: "sync secondary") == "sync secondary"
        with pytest.raises(AllFailedError) as both:
            await breaker.execute_with_fallback_async(primary_down, fallback_down)
        assert isinstance(both.value.primary_error, CircuitOpenError)
        assert isinstance(both.value.fallback_error, TimeoutError)

    asyncio.run(scenario())


def test_manager_keeps_one_breaker_per_name() -> None:
    clock, recorder = ManualClock(), Recorder()
    manager = CircuitBreakerManager(CircuitBreakerConfig(1, 1, 5.0, 30.0, 1), clock=clock)
    primary = manager.get_or_create("horizon-primary")
    assert manager.get_or_create("horizon-primary") is primary and manager.get("missing") is None
    secondary = manager.get_or_create("horizon-secondary", CircuitBreakerConfig(failure_threshold=3))
    manager.add_listener(recorder)
    with pytest.raises(ConfigurationError):
        manager.get_or_create("horizon-secondary", CircuitBreakerConfig(failure_threshold=4))
    attempt(primary)
    assert manager.states() == {"horizon-primary": OPEN, "horizon-secondary": CLOSED}
    assert manager.get_all_stats()["horizon-primary"].state is OPEN
    assert secondary.config.failure_threshold == 3
    manager.reset_all()
    assert set(manager.states().values()) == {CLOSED}
    assert [event[1:3] for event in recorder.events if event[0] == "change"] == [(CLOSED, OPEN), (OPEN, CLOSED)]
    late = manager.get_or_create("late")
    attempt(late)
    assert recorder.events[-1][1:3] == (CLOSED, OPEN)


def test_manager_rejects_a_bad_default_config() -> None:
    with pytest.raises(ConfigurationError):
        CircuitBreakerManager(60)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="did you mean 'timeout'"):
        CircuitBreakerManager({"timout": 1000})
    assert CircuitBreakerManager({"timeout": 1500}).default_config.timeout == 1.5  # the seed's ms


def test_core_decisions_are_pure_values_and_memory_stays_bounded() -> None:
    core = BreakerCore(CircuitBreakerConfig(failure_threshold=10**9, volume_threshold=10**9,
                                            monitoring_period=10.0))
    for second in range(1000):
        decision, transitions = core.decide(float(second))
        assert isinstance(decision, Allow) and transitions == []
        assert core.record(decision.ticket, failed=True, now=float(second)) == []
    assert len(core._calls) <= 10 and len(core._failure_times) <= 10
    assert core.window_counts(999.0) == (10, 10)


def test_core_reports_transitions_with_their_time() -> None:
    core = BreakerCore(CircuitBreakerConfig(1, 1, 5.0, 30.0, 1))
    decision, _ = core.decide(0.0)
    assert isinstance(decision, Allow)
    assert core.record(decision.ticket, failed=True, now=1.0) == [Transition(CLOSED, OPEN, 1.0)]
    assert core.decide(2.0) == (Reject(4.0), [])
    decision, transitions = core.decide(6.0)
    assert transitions == [Transition(OPEN, HALF_OPEN, 6.0)] and decision == Allow(Ticket(2, trial=True))


def test_a_broken_failure_predicate_counts_the_failure_and_frees_the_trial_slot() -> None:
    def broken(error: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    clock = ManualClock()
    breaker = tripped(clock, CircuitBreakerConfig(1, 1, 5.0, 30.0, 1, half_open_max_calls=1), is_failure=broken)
    clock.advance(5.0)
    attempt(breaker)
    assert breaker.get_state() is OPEN
    clock.advance(5.0)
    assert breaker.execute(ok) == "ok" and breaker.get_state() is CLOSED


def test_reset_of_a_closed_breaker_still_trips_afterwards() -> None:
    breaker = CircuitBreaker("b", SMALL, clock=ManualClock())
    attempt(breaker, ok)
    breaker.reset()
    for _ in range(3):
        attempt(breaker)
    assert breaker.get_state() is OPEN
