"""Deliberately broken variants of the breaker, fallback and retry handler (test helpers only).

Each mutant breaks one rule of DESIGN §4.1/§4.2; the property tests P35/P36 must find a
counterexample for every one of them (tests/property/test_p35_*.py, test_p36_*.py).
Never imported by production code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reference_impl.circuit_breaker import CircuitBreaker
from reference_impl.circuit_breaker_core import (
    Allow,
    BreakerCore,
    CircuitState,
    Reject,
    Ticket,
    Transition,
)
from reference_impl.errors import CircuitOpenError
from reference_impl.retry_handler import Decision, GiveUp, RetryAfter, RetryHandler, RetryPolicy

T = TypeVar("T")


# --- breaker state mutants (P35) ---------------------------------------------------------------


class _NeverHalfOpensCore(BreakerCore):
    def decide(self, now: float) -> tuple[Allow | Reject, list[Transition]]:
        if self.state is CircuitState.OPEN:
            self.rejected += 1
            return Reject(max(self.retry_after(now), 0.0)), []
        return super().decide(now)


class NeverHalfOpensBreaker(CircuitBreaker):
    """Stays OPEN forever once tripped: the timeout never leads to a trial."""

    core_type = _NeverHalfOpensCore


class _VolumeBlindCore(BreakerCore):
    def _full_in_window(self, times: object, now: float) -> bool:
        if times is self._calls:
            return True
        return super()._full_in_window(self._failure_times, now)


class VolumeBlindBreaker(CircuitBreaker):
    """Opens on `failure_threshold` failures even when fewer than `volume_threshold` calls were made."""

    core_type = _VolumeBlindCore


class _LeakyOpenCore(BreakerCore):
    def decide(self, now: float) -> tuple[Allow | Reject, list[Transition]]:
        if self.state is CircuitState.OPEN and self.retry_after(now) > 0:
            return Allow(Ticket(self.generation, trial=False)), []
        return super().decide(now)


class LeakyOpenBreaker(CircuitBreaker):
    """Lets calls reach the dependency while OPEN (they are simply not counted)."""

    core_type = _LeakyOpenCore


class _StickyCountsCore(BreakerCore):
    def _clear(self) -> None:
        self.generation += 1
        self.successes = self.failures = self.trials_in_flight = 0


class StickyCountsBreaker(CircuitBreaker):
    """Keeps the window's call/failure times across transitions, so old failures re-open it at once."""

    core_type = _StickyCountsCore


class _UnboundedTrialsCore(BreakerCore):
    def decide(self, now: float) -> tuple[Allow | Reject, list[Transition]]:
        decision, transitions = super().decide(now)
        if isinstance(decision, Reject) and self.state is CircuitState.HALF_OPEN:
            self.rejected -= 1
            self.trials_in_flight += 1
            return Allow(Ticket(self.generation, trial=True)), transitions
        return decision, transitions


class UnboundedTrialsBreaker(CircuitBreaker):
    """Ignores `half_open_max_calls`: any number of concurrent trials run in HALF_OPEN."""

    core_type = _UnboundedTrialsCore


class _EarlyHalfOpenCore(BreakerCore):
    def retry_after(self, now: float) -> float:
        if self.state is CircuitState.OPEN and self.opened_at is not None:
            return max(0.0, self.opened_at + 0.9 * self.config.timeout - now)
        return super().retry_after(now)


class EarlyHalfOpenBreaker(CircuitBreaker):
    """Half-opens a tenth of the timeout early (9 s of a 10 s timeout): below what an end-to-end run resolves
    (P35's `breaker_tolerance_s`), so only this model-based test can see it (docs/judges.md)."""

    core_type = _EarlyHalfOpenCore


BREAKER_STATE_MUTANTS: tuple[type[CircuitBreaker], ...] = (
    NeverHalfOpensBreaker,
    EarlyHalfOpenBreaker,
    VolumeBlindBreaker,
    LeakyOpenBreaker,
    StickyCountsBreaker,
    UnboundedTrialsBreaker,
)


# --- fallback mutants (P36) --------------------------------------------------------------------


class NoFallbackWhenOpenBreaker(CircuitBreaker):
    """Calls the fallback when the primary raises, but lets `CircuitOpenError` escape instead."""

    def execute_with_fallback(self, primary: Callable[[], T], fallback: Callable[[], T]) -> T:
        try:
            return self.execute(primary)
        except CircuitOpenError:
            raise
        except Exception:
            return fallback()


class FallbackErrorOnlyBreaker(CircuitBreaker):
    """When both fail, raises only the fallback's error and loses the primary cause."""

    def execute_with_fallback(self, primary: Callable[[], T], fallback: Callable[[], T]) -> T:
        try:
            return self.execute(primary)
        except Exception:
            return fallback()


FALLBACK_MUTANTS: tuple[type[CircuitBreaker], ...] = (NoFallbackWhenOpenBreaker, FallbackErrorOnlyBreaker)


# --- retry mutants (P36) -----------------------------------------------------------------------


class _RetryEverythingPolicy(RetryPolicy):
    def decide(self, attempts: int, error: BaseException) -> Decision:
        if attempts > self.config.max_retries:
            return GiveUp("exhausted")
        return RetryAfter(self.delay(attempts - 1))


class RetriesNonRetryableHandler(RetryHandler):
    """Retries every error, including non-retryable ones (a double-pay risk)."""

    policy_type = _RetryEverythingPolicy


class _UncappedDelayPolicy(RetryPolicy):
    def delay(self, retry_index: int) -> float:
        raw = self.config.base_delay * float(self.config.exponential_base) ** retry_index
        return self._rng.uniform(0.0, raw) if self.config.jitter else raw


class UncappedDelayHandler(RetryHandler):
    """Never caps the backoff at `max_delay`."""

    policy_type = _UncappedDelayPolicy


class _OneAttemptShortPolicy(RetryPolicy):
    def decide(self, attempts: int, error: BaseException) -> Decision:
        if self.config.is_retryable(error) and attempts >= self.config.max_retries:
            return GiveUp("exhausted")
        return super().decide(attempts, error)


class OneAttemptShortHandler(RetryHandler):
    """Makes `max_retries` attempts in total instead of `max_retries + 1`."""

    policy_type = _OneAttemptShortPolicy


RETRY_MUTANTS: tuple[type[RetryHandler], ...] = (
    RetriesNonRetryableHandler,
    UncappedDelayHandler,
    OneAttemptShortHandler,
)
