"""P36: integration fallback and the retry schedule it relies on (DESIGN §4.1, §4.2, §8 row 36).

- The fallback's result comes back whenever the primary fails or the breaker is open; when both
  fail, `AllFailedError` carries both causes (sync and async paths).
- Retry delays satisfy 0 <= delay_n <= min(max_delay, base_delay * exponential_base**n); a
  persistently retryable failure makes max_retries + 1 attempts; a non-retryable one makes 1.
Each property is a function of the class under test and must fail on the mutants in `mutants_breaker`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st

from reference_impl.circuit_breaker import CircuitBreaker, CircuitBreakerConfig
from reference_impl.clock import ManualClock
from reference_impl.errors import AllFailedError, CircuitOpenError, RetryExhaustedError
from reference_impl.retry_handler import RetryConfig, RetryHandler
from tests.property.mutants_breaker import FALLBACK_MUTANTS, RETRY_MUTANTS

MUTANT_SETTINGS = settings(database=None, report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate])


class PrimaryDown(ConnectionError):
    """The primary dependency failed."""


class SecondaryDown(ConnectionError):
    """The fallback dependency failed."""


class Rejected(ValueError):
    """A non-retryable error (e.g. a 4xx from Horizon)."""


class Dependency:
    """A protected call that counts its invocations and raises `error` if one is given."""

    def __init__(self, name: str, error: Exception | None) -> None:
        self.name, self.error, self.calls = name, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.name

    async def call_async(self) -> str:
        return self()


breaker_configs = st.builds(
    CircuitBreakerConfig,
    failure_threshold=st.integers(1, 3),
    success_threshold=st.integers(1, 2),
    timeout=st.integers(1, 5).map(float),
    monitoring_period=st.integers(5, 20).map(float),
    volume_threshold=st.integers(1, 4),
)
steps = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.booleans(), st.sampled_from([0, 0, 1, 2, 6])),
    min_size=4,
    max_size=30,
)
"""Each step: (primary fails, fallback fails, use the async path, seconds to advance afterwards)."""


def check_fallback(breaker_cls: type[CircuitBreaker]) -> Callable[[], None]:
    """P36 fallback property for `breaker_cls`; returns the Hypothesis test (call it to run)."""

    @given(config=breaker_configs, plan=steps)
    def prop(config: CircuitBreakerConfig, plan: list[tuple[bool, bool, bool, int]]) -> None:
        clock = ManualClock()
        breaker = breaker_cls("horizon-primary", config, clock=clock)
        for primary_fails, fallback_fails, use_async, wait in plan:
            primary = Dependency("primary", PrimaryDown("primary") if primary_fails else None)
            fallback = Dependency("fallback", SecondaryDown("secondary") if fallback_fails else None)
            try:
                if use_async:
                    result = asyncio.run(
                        breaker.execute_with_fallback_async(primary.call_async, fallback.call_async)
                    )
                else:
                    result = breaker.execute_with_fallback(primary, fallback)
            except AllFailedError as both:
                result = both
            except Exception as other:
                raise AssertionError(
                    f"escaped {type(other).__name__} instead of a result or AllFailedError"
                ) from other
            event("primary not called (breaker open)" if primary.calls == 0 else "primary called")
            if primary.calls == 1 and not primary_fails:
                assert result == "primary" and fallback.calls == 0
            elif not fallback_fails:
                assert result == "fallback" and fallback.calls == 1
            else:
                assert isinstance(result, AllFailedError), "both failed but AllFailedError was not raised"
                assert result.fallback_error is fallback.error
                if primary.calls == 1:
                    assert result.primary_error is primary.error
                else:
                    assert isinstance(result.primary_error, CircuitOpenError)
            clock.advance(wait)

    return prop


def raised_by(action: Callable[[], object]) -> BaseException | None:
    """The exception `action` raised (None if it returned): keeps every mismatch an AssertionError."""
    try:
        action()
    except Exception as error:
        return error
    return None


retry_configs = st.builds(
    RetryConfig,
    max_retries=st.integers(0, 6),
    base_delay=st.floats(0.0, 2.0),
    max_delay=st.floats(2.0, 10.0),
    exponential_base=st.sampled_from([1, 1.5, 2, 3, 10]),
    jitter=st.booleans(),
)


def check_retry_schedule(handler_cls: type[RetryHandler]) -> Callable[[], None]:
    """Persistent retryable failure: max_retries + 1 attempts, every delay within its bound."""

    @given(config=retry_configs, seed=st.integers(0, 2**32), use_async=st.booleans())
    def prop(config: RetryConfig, seed: int, use_async: bool) -> None:
        clock, observed = ManualClock(), []
        handler = handler_cls(
            config,
            clock=clock,
            rng=random.Random(seed),
            on_retry=lambda op, attempt, delay, error: observed.append((attempt, delay)),
        )
        attempts = [0]

        def always_down() -> None:
            attempts[0] += 1
            raise PrimaryDown("down")

        async def always_down_async() -> None:
            always_down()

        if use_async:
            exhausted = raised_by(lambda: asyncio.run(handler.execute_async(always_down_async, "settle")))
        else:
            exhausted = raised_by(lambda: handler.execute(always_down, "settle"))
        assert isinstance(exhausted, RetryExhaustedError), f"expected RetryExhaustedError, got {exhausted!r}"
        assert attempts[0] == config.max_retries + 1 == exhausted.attempts
        assert isinstance(exhausted.last_error, PrimaryDown)
        assert [attempt for attempt, _ in observed] == list(range(1, config.max_retries + 1))
        assert [delay for _, delay in observed] == clock.sleeps
        for n, delay in enumerate(clock.sleeps):
            bound = min(config.max_delay, config.base_delay * float(config.exponential_base) ** n)
            assert 0.0 <= delay <= bound * (1 + 1e-12), f"delay {n} = {delay} exceeds {bound}"

    return prop


def check_non_retryable(handler_cls: type[RetryHandler]) -> Callable[[], None]:
    """A non-retryable error is raised as-is after exactly one attempt, with no sleep."""

    @given(config=retry_configs, seed=st.integers(0, 2**32))
    def prop(config: RetryConfig, seed: int) -> None:
        clock, attempts = ManualClock(), [0]
        handler = handler_cls(config, clock=clock, rng=random.Random(seed))
        error = Rejected("tx_bad_auth")

        def rejected() -> None:
            attempts[0] += 1
            raise error

        assert raised_by(lambda: handler.execute(rejected, "settle")) is error
        assert attempts[0] == 1 and clock.sleeps == []
        result = handler.execute_with_result(rejected, "settle")
        assert (result.success, result.error, result.attempts, result.total_delay) == (False, error, 1, 0.0)

    return prop


RETRY_PROPERTIES = (check_retry_schedule, check_non_retryable)


@pytest.mark.timeout(60)
def test_p36_fallback_result_or_both_causes() -> None:
    check_fallback(CircuitBreaker)()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prop", RETRY_PROPERTIES, ids=lambda f: f.__name__)
def test_p36_retry_handler_properties(prop: Callable[[type[RetryHandler]], Callable[[], None]]) -> None:
    prop(RetryHandler)()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mutant", FALLBACK_MUTANTS, ids=lambda cls: cls.__name__)
def test_p36_catches_broken_fallback(mutant: type[CircuitBreaker]) -> None:
    with pytest.raises(AssertionError):
        MUTANT_SETTINGS(check_fallback(mutant))()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mutant", RETRY_MUTANTS, ids=lambda cls: cls.__name__)
def test_p36_catches_broken_retry(mutant: type[RetryHandler]) -> None:
    caught = []
    for prop in RETRY_PROPERTIES:
        try:
            MUTANT_SETTINGS(prop(mutant))()
        except AssertionError as counterexample:
            caught.append((prop.__name__, counterexample))
    assert caught, f"no retry property caught {mutant.__name__}"
