"""Circuit breaker with a sliding failure window, bounded half-open trials and fallback (DESIGN §4.2).

The state logic lives in `circuit_breaker_core.BreakerCore` (re-exported here with the config and
state types). `CircuitBreaker` adds the clock, a lock held only around that bookkeeping (never around
the protected call), listeners and fallback. `CircuitBreakerManager` keeps one breaker per service name.

Hot path: a CLOSED breaker admits a call by reading the core's `closed_ticket` (no lock, no clock),
then takes the lock once to record the outcome; the wall clock is read only when a transition is
announced, and listener hooks are skipped when there are no listeners.

The seed's forms work too: a config mapping (`{"failureThreshold": 5, "timeout": 60000}`, ms), and
`await breaker.execute(fn)` for an `fn` that returns an awaitable: `execute` then returns a coroutine
that records the outcome when awaited (see `CircuitBreaker._pending`).
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, overload

from reference_impl.circuit_breaker_core import (
    Allow,
    BreakerCore,
    CircuitBreakerConfig,
    CircuitState,
    Reject,
    Ticket,
    Transition,
)
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import AllFailedError, ApiUsageError, CircuitOpenError, ConfigurationError
from reference_impl.seed_forms import SeedKeys, coerce_config, is_awaitable, require_callable

__all__ = [
    "Allow", "BreakerCore", "CircuitBreaker", "CircuitBreakerConfig", "CircuitBreakerListener",
    "CircuitBreakerManager", "CircuitBreakerStats", "CircuitState", "Reject", "Ticket", "Transition",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
FailurePredicate = Callable[[BaseException], bool]
AnyConfig = CircuitBreakerConfig | Mapping[str, Any] | None

SEED_KEYS = SeedKeys(
    owner="CircuitBreaker",
    example="{'failureThreshold': 5, 'timeout': 60000}",
    plain={"failureThreshold": "failure_threshold", "successThreshold": "success_threshold",
           "volumeThreshold": "volume_threshold", "halfOpenMaxCalls": "half_open_max_calls"},
    durations_ms={"timeout": "timeout", "timeoutMs": "timeout", "monitoringPeriod": "monitoring_period",
                  "monitoringPeriodMs": "monitoring_period"},
)
"""The seed's keys (durations in ms, as the seed and the files' `security.circuitBreaker` write them)."""


def breaker_config(config: AnyConfig) -> CircuitBreakerConfig:
    """A `CircuitBreakerConfig` from itself, a seed-shaped mapping, or None (the defaults)."""
    if config is None:
        return CircuitBreakerConfig()
    return coerce_config(config, CircuitBreakerConfig, SEED_KEYS)


_EXAMPLE = "breaker.execute(lambda: client.load_account(address))"


@dataclass(frozen=True)
class CircuitBreakerStats:
    """Snapshot of one breaker; `failures`/`successes` count since the last transition,
    window counts are capped at the thresholds, `opened_at` is wall-clock seconds."""

    name: str
    state: CircuitState
    failures: int
    successes: int
    calls_in_window: int
    failures_in_window: int
    opened_at: float | None
    retry_after: float
    rejected: int
    transitions: int
    total_calls: int
    total_failures: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


class CircuitBreakerListener:
    """Observer with no-op hooks; override what you need. Exceptions raised here are logged and dropped."""

    def on_state_change(self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState, at: float) -> None:
        """`at` is wall-clock seconds (`clock.time()`)."""

    def on_success(self, breaker: CircuitBreaker, elapsed: float) -> None: ...

    def on_failure(self, breaker: CircuitBreaker, error: BaseException, elapsed: float) -> None: ...

    def on_rejected(self, breaker: CircuitBreaker, retry_after: float) -> None: ...


def _count_everything(error: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Protects calls to one dependency; `is_failure(error)` decides which exceptions count as failures
    (others are re-raised but count as successes and never trigger a fallback)."""

    core_type: type[BreakerCore] = BreakerCore

    def __init__(self, name: str, config: AnyConfig = None, *, clock: Clock = SYSTEM_CLOCK,
                 is_failure: FailurePredicate | None = None,
                 listeners: Iterable[CircuitBreakerListener] = ()) -> None:
        if not isinstance(name, str) or not name:
            raise ApiUsageError("CircuitBreaker(name, config): name must be a non-empty string, e.g. "
                                f"CircuitBreaker('stellar-api', {{'failureThreshold': 5}}), got {name!r}")
        self.config = breaker_config(config)
        self.name = name
        self.clock = clock
        self.is_failure = is_failure or _count_everything
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        self._core = self.core_type(self.config)
        self._dropped: deque[Ticket] = deque()  # trial tickets of pending calls dropped un-awaited

    def add_listener(self, listener: CircuitBreakerListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: CircuitBreakerListener) -> None:
        self._listeners.remove(listener)

    @property
    def state(self) -> CircuitState:
        return self._core.state

    def get_state(self) -> CircuitState:
        return self._core.state

    def get_stats(self) -> CircuitBreakerStats:
        with self._lock:
            core, now, wall = self._core, self.clock.now(), self.clock.time()
            calls, failures = core.window_counts(now)
            opened_at = None if core.opened_at is None else wall - (now - core.opened_at)
            return CircuitBreakerStats(self.name, core.state, core.failures, core.successes, calls, failures,
                                       opened_at, core.retry_after(now), core.rejected, core.transitions,
                                       core.total_calls, core.total_failures)

    def reset(self) -> None:
        """Force CLOSED (listeners see the transition if the state changes)."""
        with self._lock:
            transitions, wall = self._core.reset(self.clock.now()), self.clock.time()
        self._announce(transitions, wall)

    def _emit(self, hook: str, *args: Any) -> None:
        for listener in list(self._listeners):
            try:
                getattr(listener, hook)(self, *args)
            except Exception as exc:  # a broken observer must never break the call
                logger.warning("breaker %s listener %r failed in %s: %s", self.name, listener, hook,
                               type(exc).__name__)

    def _announce(self, transitions: list[Transition], wall: float) -> None:
        for transition in transitions:
            self._emit("on_state_change", transition.old, transition.new, wall)

    def _admit(self) -> Ticket:
        """A ticket for one call: lock-free while CLOSED, else the core decides under the lock."""
        ticket = self._core.closed_ticket
        if ticket is not None:
            return ticket
        with self._lock:
            while self._dropped:
                self._core.release(self._dropped.popleft())
            decision, transitions = self._core.decide(self.clock.now())
            wall = self.clock.time() if transitions else 0.0
        if transitions:
            self._announce(transitions, wall)
        if isinstance(decision, Reject):
            if self._listeners:
                self._emit("on_rejected", decision.retry_after)
            raise CircuitOpenError(self.name, decision.retry_after)
        return decision.ticket

    def _counts_as_failure(self, error: BaseException) -> bool:
        try:
            return bool(self.is_failure(error))
        except Exception as exc:  # a broken predicate must not leak a trial slot: count the failure
            logger.warning("breaker %s is_failure predicate failed: %s", self.name, type(exc).__name__)
            return True

    def _finish(self, ticket: Ticket, error: BaseException | None, started: float) -> None:
        """Record the outcome at `now` (one clock read); listeners get `elapsed = now - started`."""
        failed = error is not None and self._counts_as_failure(error)
        clock = self.clock
        with self._lock:
            now = clock.now()
            transitions = self._core.record(ticket, failed, now)
            wall = clock.time() if transitions else 0.0
        if self._listeners:
            if failed:
                assert error is not None
                self._emit("on_failure", error, now - started)
            else:
                self._emit("on_success", now - started)
        if transitions:
            self._announce(transitions, wall)

    def _abandon(self, ticket: Ticket) -> None:
        with self._lock:
            self._core.release(ticket)

    def _start(self, fn: Callable[[], Any]) -> tuple[Ticket, float, Any]:
        """Admit one call and make it: (ticket, start time, what `fn()` returned). A raised error is
        recorded (or, for BaseException, the ticket given back) and re-raised."""
        ticket, started = self._admit(), self.clock.now()
        try:
            return ticket, started, fn()
        except Exception as error:
            self._finish(ticket, error, started)
            raise
        except BaseException:
            self._abandon(ticket)
            raise

    async def _settle(self, ticket: Ticket, started: float, awaitable: Awaitable[T],
                      running: list[bool] | None = None) -> T:
        """Await the call's awaitable and record its outcome; a cancelled trial gives its slot back."""
        if running is not None:
            running[0] = True
        try:
            result = await awaitable
        except Exception as error:
            self._finish(ticket, error, started)
            raise
        except BaseException:
            self._abandon(ticket)
            raise
        self._finish(ticket, None, started)
        return result

    def _pending(self, ticket: Ticket, started: float, awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
        """The coroutine `execute` returns for an admitted call whose `fn()` gave an awaitable.

        Dropped without being awaited, it gives a half-open trial slot back (through a lock-free
        queue the breaker drains under its lock), so one missing `await` cannot wedge the breaker.
        """
        if not ticket.trial:
            return self._settle(ticket, started, awaitable)
        running = [False]
        pending = self._settle(ticket, started, awaitable, running)
        weakref.finalize(pending, _give_back, self._dropped, ticket, running)
        return pending

    @overload
    def execute(self, fn: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...
    @overload
    def execute(self, fn: Callable[[], T]) -> T: ...

    def execute(self, fn: Callable[[], Any]) -> Any:
        """Run `fn()` if admitted, else raise `CircuitOpenError` without calling it.

        When `fn()` returns an awaitable (a coroutine function, or the seed's `await
        breaker.execute(lambda: client.get_account(a))`), the call is admitted now and this returns
        a coroutine that records the outcome when awaited, so an async failure counts as a failure.
        """
        if not callable(fn):
            require_callable(fn, "execute", _EXAMPLE)
        ticket, started, result = self._start(fn)
        if is_awaitable(result):
            return self._pending(ticket, started, result)
        self._finish(ticket, None, started)
        return result

    async def execute_async(self, fn: Callable[[], Awaitable[T] | T]) -> T:
        """Async `execute` (admission when awaited); `fn` may return an awaitable or a value."""
        require_callable(fn, "execute_async", _EXAMPLE)
        ticket, started, result = self._start(fn)
        if is_awaitable(result):
            return await self._settle(ticket, started, result)
        self._finish(ticket, None, started)
        return result

    def _falls_back(self, error: Exception) -> bool:
        return isinstance(error, CircuitOpenError) or self._counts_as_failure(error)

    def _fallback(self, primary_error: Exception, fallback: Callable[[], Any]) -> Any:
        """`fallback()` after `primary_error` (re-raised when it does not fall back); an awaitable
        fallback result comes back as an awaitable that raises `AllFailedError` if it fails."""
        if not self._falls_back(primary_error):
            raise primary_error
        try:
            value = fallback()
        except Exception as fallback_error:
            raise AllFailedError(primary_error, fallback_error) from fallback_error
        if inspect.isawaitable(value):
            return _fallback_awaited(primary_error, value)
        return value

    async def _with_fallback(self, primary: Awaitable[T], fallback: Callable[[], Any]) -> T:
        try:
            return await primary
        except Exception as primary_error:
            value = self._fallback(primary_error, fallback)
            return await value if inspect.isawaitable(value) else value

    def execute_with_fallback(self, primary: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
        """`primary()` through the breaker; `fallback()` when it fails or the breaker is open.
        Raises `AllFailedError(primary_error, fallback_error)` when both fail. When either returns
        an awaitable (or is a coroutine function), this returns an awaitable: `await` it."""
        require_callable(fallback, "execute_with_fallback", _EXAMPLE)
        if inspect.iscoroutinefunction(primary) or inspect.iscoroutinefunction(fallback):
            return self.execute_with_fallback_async(primary, fallback)
        try:
            result = self.execute(primary)
        except Exception as primary_error:
            return self._fallback(primary_error, fallback)
        if is_awaitable(result):  # execute's pending coroutine: primary() gave an awaitable
            return self._with_fallback(result, fallback)
        return result

    async def execute_with_fallback_async(self, primary: Callable[[], Any],
                                          fallback: Callable[[], Any]) -> Any:
        """Async twin of `execute_with_fallback`; either function may be sync or async."""
        require_callable(fallback, "execute_with_fallback_async", _EXAMPLE)
        return await self._with_fallback(self.execute_async(primary), fallback)


def _give_back(dropped: deque[Ticket], ticket: Ticket, running: list[bool]) -> None:
    """Finalizer of a pending trial call: queue its ticket for release unless it ever ran."""
    if not running[0]:
        dropped.append(ticket)


async def _fallback_awaited(primary_error: Exception, value: Awaitable[T]) -> T:
    try:
        return await value
    except Exception as fallback_error:
        raise AllFailedError(primary_error, fallback_error) from fallback_error


class CircuitBreakerManager:
    """One breaker per service name, sharing a clock, a default config and listeners."""

    def __init__(self, default_config: AnyConfig = None, *, clock: Clock = SYSTEM_CLOCK,
                 listeners: Iterable[CircuitBreakerListener] = ()) -> None:
        self.default_config = breaker_config(default_config)
        self.clock = clock
        self._listeners = list(listeners)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get_or_create(self, name: str, config: AnyConfig = None, *,
                      is_failure: FailurePredicate | None = None) -> CircuitBreaker:
        """The breaker called `name`, created on first use; a different `config` for an existing one is an error."""
        config = None if config is None else breaker_config(config)
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(name, config or self.default_config, clock=self.clock,
                                         is_failure=is_failure, listeners=self._listeners)
                self._breakers[name] = breaker
            elif config is not None and config != breaker.config:
                raise ConfigurationError(f"breaker '{name}' already exists with a different config")
            return breaker

    def add_listener(self, listener: CircuitBreakerListener) -> None:
        """Attach `listener` to every existing and future breaker."""
        with self._lock:
            self._listeners.append(listener)
            breakers = list(self._breakers.values())
        for breaker in breakers:
            breaker.add_listener(listener)

    def get(self, name: str) -> CircuitBreaker | None:
        with self._lock:
            return self._breakers.get(name)

    def states(self) -> dict[str, CircuitState]:
        """State of every breaker by name."""
        with self._lock:
            breakers = dict(self._breakers)
        return {name: breaker.get_state() for name, breaker in breakers.items()}

    def get_all_stats(self) -> dict[str, CircuitBreakerStats]:
        with self._lock:
            breakers = dict(self._breakers)
        return {name: breaker.get_stats() for name, breaker in breakers.items()}

    def reset_all(self) -> None:
        with self._lock:
            breakers = list(self._breakers.values())
        for breaker in breakers:
            breaker.reset()
