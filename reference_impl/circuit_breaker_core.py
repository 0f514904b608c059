"""Pure circuit-breaker state logic of DESIGN §4.2: no clock, no lock, no I/O.

`BreakerCore.decide(now)` -> `Allow(ticket)` / `Reject(retry_after)` and `record(ticket, failed, now)`
both return the transitions they caused; `reference_impl.circuit_breaker.CircuitBreaker` executes.
While CLOSED, `closed_ticket` is the ticket `decide` would hand out, so the executor can admit a call
by reading that one attribute instead of taking its lock and the clock (see `BreakerCore`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from reference_impl.errors import ConfigurationError


class CircuitState(StrEnum):
    """CLOSED lets calls through, OPEN rejects them, HALF_OPEN lets a bounded number of trials through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """Breaker options (seconds); validated at construction (`ConfigurationError`).

    `half_open_max_calls` (None means `success_threshold`) bounds concurrent trials in HALF_OPEN.
    """

    failure_threshold: int = 5
    success_threshold: int = 2
    timeout: float = 60.0
    monitoring_period: float = 120.0
    volume_threshold: int = 10
    half_open_max_calls: int | None = None

    def __post_init__(self) -> None:
        for field in ("failure_threshold", "success_threshold", "volume_threshold", "half_open_max_calls"):
            value = getattr(self, field)
            if value is None and field == "half_open_max_calls":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{field} must be an int >= 1")
        for field in ("timeout", "monitoring_period"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{field} must be a finite number > 0")

    @property
    def trial_limit(self) -> int:
        """How many trial calls may run at once in HALF_OPEN."""
        return self.half_open_max_calls if self.half_open_max_calls is not None else self.success_threshold


@dataclass(frozen=True, slots=True)
class Ticket:
    """Permission for one call; outcomes of tickets from an earlier state (`generation`) are ignored."""

    generation: int
    trial: bool


@dataclass(frozen=True, slots=True)
class Allow:
    """Decision: run the call and report its outcome with `ticket`."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class Reject:
    """Decision: do not call; `retry_after` seconds until a trial may run (0 when trials are in flight)."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change at monotonic time `at`."""

    old: CircuitState
    new: CircuitState
    at: float


class BreakerCore:
    """The §4.2 state machine without clock or lock; callers pass monotonic `now`.

    The window keeps only the newest `volume_threshold` call times and `failure_threshold` failure
    times, dropping those older than the period: "at least V calls and F failures within the period"
    holds exactly when each is full and its oldest entry is inside the period, so memory is bounded
    by min(threshold, calls per period) without approximation.

    `closed_ticket` is `Ticket(generation, trial=False)` while CLOSED and None otherwise; it is
    cleared before any change of state or generation and set only after one into CLOSED, so a
    reader that sees a ticket there (one atomic attribute read, no lock) has seen a CLOSED state
    that `decide` would have admitted with exactly that ticket. (A subclass whose `decide` treats
    CLOSED differently must keep it None, which sends every call through `decide`.)
    """

    def __init__(self, config: CircuitBreakerConfig) -> None:
        self.config = config
        self.state = CircuitState.CLOSED
        self.generation = 0
        self.opened_at: float | None = None
        self.successes = 0
        self.failures = 0
        self.trials_in_flight = 0
        self.rejected = 0
        self.transitions = 0
        self.total_calls = 0
        self.total_failures = 0
        self._period = config.monitoring_period
        self._calls: deque[float] = deque(maxlen=config.volume_threshold)
        self._failure_times: deque[float] = deque(maxlen=config.failure_threshold)
        self.closed_ticket: Ticket | None = Ticket(self.generation, trial=False)

    def _clear(self) -> None:
        self.generation += 1
        self.successes = self.failures = self.trials_in_flight = 0
        self._calls.clear()
        self._failure_times.clear()

    def _restart(self) -> None:
        """Start a new generation in the current state; `closed_ticket` is withdrawn first."""
        self.closed_ticket = None
        self._clear()
        if self.state is CircuitState.CLOSED:
            self.closed_ticket = Ticket(self.generation, trial=False)

    def _move(self, new: CircuitState, now: float) -> Transition:
        self.closed_ticket = None  # before the state changes: a reader never sees a ticket while not CLOSED
        transition = Transition(self.state, new, now)
        self.state = new
        self.transitions += 1
        self.opened_at = now if new is CircuitState.OPEN else None
        self._restart()
        return transition

    def retry_after(self, now: float) -> float:
        """Seconds until an OPEN breaker admits a trial (0 in other states)."""
        if self.state is CircuitState.OPEN and self.opened_at is not None:
            return max(0.0, self.opened_at + self.config.timeout - now)
        return 0.0

    def decide(self, now: float) -> tuple[Allow | Reject, list[Transition]]:
        """Admit or reject one call at `now`."""
        transitions: list[Transition] = []
        if self.state is CircuitState.OPEN:
            if self.retry_after(now) > 0:
                self.rejected += 1
                return Reject(self.retry_after(now)), transitions
            transitions.append(self._move(CircuitState.HALF_OPEN, now))
        if self.state is CircuitState.HALF_OPEN:
            if self.trials_in_flight >= self.config.trial_limit:
                self.rejected += 1
                return Reject(0.0), transitions
            self.trials_in_flight += 1
            return Allow(Ticket(self.generation, trial=True)), transitions
        return Allow(Ticket(self.generation, trial=False)), transitions

    def record(self, ticket: Ticket, failed: bool, now: float) -> list[Transition]:
        """Account the outcome of an admitted call that finished at `now`."""
        self.total_calls += 1
        self.total_failures += int(failed)
        if ticket.generation != self.generation:
            return []
        if self.state is CircuitState.HALF_OPEN:
            self.trials_in_flight -= 1
            if failed:
                return [self._move(CircuitState.OPEN, now)]
            self.successes += 1
            if self.successes >= self.config.success_threshold:
                return [self._move(CircuitState.CLOSED, now)]
            return []
        self._prune(now)
        self._calls.append(now)
        if failed:
            self.failures += 1
            self._failure_times.append(now)
        else:
            self.successes += 1
        # failures first: on the common success path that deque is rarely full, so one check decides
        if self._full_in_window(self._failure_times, now) and self._full_in_window(self._calls, now):
            return [self._move(CircuitState.OPEN, now)]
        return []

    def release(self, ticket: Ticket) -> None:
        """Give back a trial slot of a call that ended without an outcome (e.g. cancelled)."""
        if ticket.trial and ticket.generation == self.generation and self.state is CircuitState.HALF_OPEN:
            self.trials_in_flight -= 1

    def reset(self, now: float) -> list[Transition]:
        """Force CLOSED with empty counts."""
        if self.state is CircuitState.CLOSED:
            self._restart()
            return []
        return [self._move(CircuitState.CLOSED, now)]

    def _prune(self, now: float) -> None:
        horizon, calls, failure_times = now - self._period, self._calls, self._failure_times
        while calls and calls[0] <= horizon:
            calls.popleft()
        while failure_times and failure_times[0] <= horizon:
            failure_times.popleft()

    def _full_in_window(self, times: deque[float], now: float) -> bool:
        return len(times) == times.maxlen and times[0] > now - self._period

    def window_counts(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the current window, each capped at its threshold."""
        horizon = now - self.config.monitoring_period
        return sum(t > horizon for t in self._calls), sum(t > horizon for t in self._failure_times)
