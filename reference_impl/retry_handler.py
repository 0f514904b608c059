"""Retry with capped exponential backoff and full jitter (DESIGN §4.1).

The decision (`RetryPolicy.decide`: attempt + error -> `RetryAfter(delay)` or `GiveUp(reason)`) is
pure apart from the injected seeded `random.Random`. One generator (`RetryHandler._steps`) turns
outcomes into steps (call, ask the veto, sleep, finish); a sync and an async driver only act on
them, sleeping through the injected clock, so tests run in virtual time and a fix lands once.
`execute(fn)` switches to the async driver, and returns an awaitable, as soon as `fn()` returns one
(a coroutine function, or the seed's `lambda: client.submit(tx)` around one).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ApiUsageError, ConfigurationError, RetryExhaustedError
from reference_impl.retryable_errors import ErrorCode, RetryableSpec, is_transient_error, retryable_spec
from reference_impl.seed_forms import SeedKeys, coerce_config, is_awaitable, require_callable

__all__ = [
    "ErrorCode", "GiveUp", "RetryAfter", "RetryConfig", "RetryHandler", "RetryPolicy", "RetryResult",
    "is_transient_error", "retry",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
ErrorPredicate = Callable[[BaseException], bool]
RetryCallback = Callable[[str, int, float, BaseException], None]
"""Called before each retry sleep with (operation, failed attempt number from 1, delay s, error)."""
ShouldRetry = Callable[[BaseException, int], "bool | Awaitable[bool]"]
"""Veto hook: (error, failed attempt number) -> False to stop retrying and re-raise the error."""

MAX_RETRIES_LIMIT = 1000


@dataclass(frozen=True)
class RetryConfig:
    """Retry options; validated at construction (`ConfigurationError`).

    `retryable_errors` replaces the default classification: a tuple of exception classes, predicates
    and/or error-code names ("ECONNREFUSED", stored as `ErrorCode`); any match makes an error
    retryable. Include `is_transient_error` to extend the default.
    `RetryHandler` also takes the seed's mapping (`SEED_KEYS`): {"maxRetries": 5, "baseDelay": 1000}.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    exponential_base: float = 2
    jitter: bool = True
    retryable_errors: tuple[RetryableSpec, ...] = (is_transient_error,)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ConfigurationError("max_retries must be an int")
        if not 0 <= self.max_retries <= MAX_RETRIES_LIMIT:
            raise ConfigurationError(f"max_retries must be in [0, {MAX_RETRIES_LIMIT}]")
        for field, value, low in (("base_delay", self.base_delay, 0.0), ("max_delay", self.max_delay, 0.0),
                                  ("exponential_base", self.exponential_base, 1.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigurationError(f"{field} must be a finite number")
            if value < low:
                raise ConfigurationError(f"{field} must be >= {low}")
        if self.max_delay < self.base_delay:
            raise ConfigurationError("max_delay must be >= base_delay")
        if not isinstance(self.jitter, bool):
            raise ConfigurationError("jitter must be a bool")
        if not isinstance(self.retryable_errors, tuple):
            raise ConfigurationError("retryable_errors must be a tuple of classes, predicates or codes")
        object.__setattr__(self, "retryable_errors", tuple(retryable_spec(s) for s in self.retryable_errors))

    def delay_cap(self, retry_index: int) -> float:
        """Upper bound of the delay before retry `retry_index` (0-based): min(max_delay, base*b**n)."""
        try:
            raw = self.base_delay * float(self.exponential_base) ** retry_index
        except OverflowError:
            return float(self.max_delay)
        return float(min(self.max_delay, raw))

    def is_retryable(self, error: BaseException) -> bool:
        """True when any `retryable_errors` entry matches `error`."""
        for spec in self.retryable_errors:
            if isinstance(spec, type):
                if isinstance(error, spec):
                    return True
            elif spec(error):
                return True
        return False


SEED_KEYS = SeedKeys(
    owner="RetryHandler",
    example="{'maxRetries': 5, 'baseDelay': 1000}",
    plain={"maxRetries": "max_retries", "exponentialBase": "exponential_base", "jitter": "jitter",
           "retryableErrors": "retryable_errors"},
    durations_ms={"baseDelay": "base_delay", "baseDelayMs": "base_delay", "maxDelay": "max_delay",
                  "maxDelayMs": "max_delay"},
    converters={"retryableErrors": lambda v: tuple(v) if isinstance(v, list | tuple) else v},
)
"""The seed's keys (durations in ms, as the seed and the config files' `security.retry` write them)."""


@dataclass(frozen=True)
class RetryAfter:
    """Decision: sleep `delay` seconds, then try again."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Decision: stop; `reason` is "non_retryable" or "exhausted"."""

    reason: Literal["non_retryable", "exhausted"]


Decision = RetryAfter | GiveUp


class RetryPolicy:
    """The pure retry decision: given how many attempts failed and the last error, retry or give up."""

    def __init__(self, config: RetryConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng

    def delay(self, retry_index: int) -> float:
        """Delay before retry `retry_index`: full jitter in [0, cap], or the cap without jitter."""
        cap = self.config.delay_cap(retry_index)
        return self._rng.uniform(0.0, cap) if self.config.jitter else cap

    def decide(self, attempts: int, error: BaseException) -> Decision:
        """`attempts` is the number of attempts made so far (>= 1), the last of which raised `error`."""
        if not self.config.is_retryable(error):
            return GiveUp("non_retryable")
        if attempts > self.config.max_retries:
            return GiveUp("exhausted")
        return RetryAfter(self.delay(attempts - 1))


@dataclass(frozen=True)
class RetryResult:
    """Outcome of `execute_with_result`: `error` is the last underlying error when `success` is False."""

    success: bool
    value: Any
    error: BaseException | None
    attempts: int
    total_delay: float
    exhausted: bool = False


@dataclass(frozen=True)
class _Veto:
    """Step: ask `should_retry(error, attempts)` whether to go on."""

    hook: ShouldRetry
    error: BaseException
    attempts: int


_CALL = object()
"""Step: call `fn` once and send back (True, value) or (False, error)."""
Step = object
Steps = Generator[Step, Any, RetryResult]


def _check_call(fn: Any, operation_name: Any, method: str) -> None:
    """Refuse, with the right form, what `execute(fn, operation_name)` cannot run or retry."""
    if callable(fn) and type(operation_name) is str:
        return
    if not callable(fn) and callable(operation_name):
        raise ApiUsageError(f"{method}(fn, operation_name): arguments swapped? got {type(fn).__name__} first")
    require_callable(fn, method, "retry_handler.execute(lambda: client.submit(tx), 'submit')")
    if not isinstance(operation_name, str):
        raise ApiUsageError(f"{method}(fn, operation_name): operation_name must be a str, got "
                            f"{type(operation_name).__name__}")


class RetryHandler:
    """Runs a zero-argument callable (sync, or returning an awaitable) with retries per `RetryConfig`."""

    policy_type: type[RetryPolicy] = RetryPolicy

    def __init__(
        self,
        config: RetryConfig | Mapping[str, Any] | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_retry: RetryCallback | Iterable[RetryCallback] = (),
        should_retry: ShouldRetry | None = None,
    ) -> None:
        self.config = RetryConfig() if config is None else coerce_config(config, RetryConfig, SEED_KEYS)
        self.clock = clock
        self.policy = self.policy_type(self.config, rng if rng is not None else random.Random())
        self._callbacks: list[RetryCallback] = [on_retry] if callable(on_retry) else list(on_retry)
        self._should_retry = should_retry

    def add_retry_listener(self, callback: RetryCallback) -> None:
        """Register another `on_retry` callback."""
        self._callbacks.append(callback)

    def _notify(self, operation: str, attempt: int, delay: float, error: BaseException) -> None:
        for callback in list(self._callbacks):
            try:
                callback(operation, attempt, delay, error)
            except Exception as exc:  # a broken observer must never break the call
                logger.warning("on_retry callback %r failed: %s", callback, type(exc).__name__)

    def _next(self, attempts: int, error: BaseException) -> Decision:
        return self.policy.decide(attempts, error)

    def _steps(self, operation: str, veto: ShouldRetry | None) -> Steps:
        """The one retry loop: yields what to do next, receives each outcome, returns the result."""
        total_delay, attempts = 0.0, 0
        while True:  # bounded: the policy gives up after max_retries + 1 attempts
            attempts += 1
            ok, outcome = yield _CALL
            if ok:
                return RetryResult(True, outcome, None, attempts, total_delay)
            decision = self._next(attempts, outcome)
            if isinstance(decision, RetryAfter) and veto is not None:
                if not (yield _Veto(veto, outcome, attempts)):
                    decision = GiveUp("non_retryable")
            if isinstance(decision, GiveUp):
                exhausted = decision.reason == "exhausted"
                return RetryResult(False, None, outcome, attempts, total_delay, exhausted)
            self._notify(operation, attempts, decision.delay, outcome)
            yield decision
            total_delay += decision.delay

    def _begin(self, operation: str, should_retry: ShouldRetry | None) -> Steps:
        """A new run of `_steps`, advanced to its first step (a call)."""
        steps = self._steps(operation, should_retry or self._should_retry)
        next(steps)
        return steps

    def run(self, fn: Callable[[], Any], operation_name: str = "operation",
            should_retry: ShouldRetry | None = None) -> Any:
        """Run `fn` until it succeeds or the policy gives up; never raises `Exception`.

        Returns a `RetryResult`, or an awaitable of one once `fn()` returns an awaitable. The loop
        (`_steps`) starts at the first failure: a first attempt that succeeds has nothing to decide.
        """
        _check_call(fn, operation_name, "execute")
        steps: Steps | None = None
        step: Step = _CALL
        while True:
            reply: Any = None
            if step is _CALL:
                try:
                    value = fn()
                except Exception as error:
                    reply = (False, error)
                else:
                    if is_awaitable(value):
                        steps = steps or self._begin(operation_name, should_retry)
                        return self._drive_async(steps, fn, step, value)
                    if steps is None:
                        return RetryResult(True, value, None, 1, 0.0)
                    reply = (True, value)
            elif isinstance(step, _Veto):
                reply = step.hook(step.error, step.attempts)
                if inspect.isawaitable(reply):
                    if inspect.iscoroutine(reply):
                        reply.close()
                    raise ApiUsageError("should_retry returned an awaitable to a synchronous call: "
                                        "use execute_async, or a plain function")
            else:
                assert isinstance(step, RetryAfter)  # `_steps` yields only _CALL, _Veto and RetryAfter
                self.clock.sleep(step.delay)
            if steps is None:
                steps = self._begin(operation_name, should_retry)
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value

    async def _drive_async(self, steps: Steps, fn: Callable[[], Any], step: Step,
                           pending: Any = None) -> RetryResult:
        """The async driver of `_steps`; `pending` is an awaitable `fn()` already returned."""
        while True:
            reply: Any = None
            if step is _CALL:
                try:
                    value = fn() if pending is None else pending
                    pending = None
                    reply = (True, await value if is_awaitable(value) else value)
                except Exception as error:
                    reply = (False, error)
            elif isinstance(step, _Veto):
                reply = step.hook(step.error, step.attempts)
                if inspect.isawaitable(reply):
                    reply = await reply
            else:
                assert isinstance(step, RetryAfter)  # `_steps` yields only _CALL, _Veto and RetryAfter
                await self.clock.sleep_async(step.delay)
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value

    async def run_async(self, fn: Callable[[], Any], operation_name: str = "operation",
                        should_retry: ShouldRetry | None = None) -> RetryResult:
        """Async `run`: `fn` may return an awaitable or a value; `should_retry` may be async."""
        _check_call(fn, operation_name, "execute_async")
        return await self._drive_async(self._begin(operation_name, should_retry), fn, _CALL)

    @staticmethod
    def _unwrap(result: RetryResult, operation_name: str) -> Any:
        if result.success:
            return result.value
        assert result.error is not None
        if result.exhausted:
            raise RetryExhaustedError(operation_name, result.attempts, result.error) from result.error
        raise result.error

    async def _unwrap_async(self, pending: Awaitable[RetryResult], operation_name: str) -> Any:
        return self._unwrap(await pending, operation_name)

    @overload
    def execute(self, fn: Callable[[], Awaitable[T]], operation_name: str = ...,
                should_retry: ShouldRetry | None = ...) -> Awaitable[T]: ...
    @overload
    def execute(self, fn: Callable[[], T], operation_name: str = ...,
                should_retry: ShouldRetry | None = ...) -> T: ...

    def execute(self, fn: Callable[[], Any], operation_name: str = "operation",
                should_retry: ShouldRetry | None = None) -> Any:
        """Return `fn()`; re-raise a non-retryable (or vetoed) error at once; `RetryExhaustedError` last.

        When `fn()` returns an awaitable (a coroutine function, or a lambda around one, as the seed
        writes it), the rest runs in the async driver and `execute` returns an awaitable: `await` it.
        """
        result = self.run(fn, operation_name, should_retry)
        if isinstance(result, RetryResult):
            return self._unwrap(result, operation_name)
        return self._unwrap_async(result, operation_name)

    async def execute_async(self, fn: Callable[[], Awaitable[T] | T], operation_name: str = "operation",
                            should_retry: ShouldRetry | None = None) -> T:
        """Async `execute`: `fn` returns an awaitable (or a value), sleeps use `clock.sleep_async`."""
        result: T = self._unwrap(await self.run_async(fn, operation_name, should_retry), operation_name)
        return result

    def execute_with_result(self, fn: Callable[[], Any], operation_name: str = "operation",
                            should_retry: ShouldRetry | None = None) -> Any:
        """Like `execute` but returns a `RetryResult` (or an awaitable of one) instead of raising."""
        return self.run(fn, operation_name, should_retry)

    async def execute_with_result_async(self, fn: Callable[[], Any], operation_name: str = "operation",
                                        should_retry: ShouldRetry | None = None) -> RetryResult:
        """Async twin of `execute_with_result`."""
        return await self.run_async(fn, operation_name, should_retry)


F = TypeVar("F", bound=Callable[..., Any])


@overload
def retry(config: F) -> F: ...
@overload
def retry(config: RetryConfig | None = None, *, handler: RetryHandler | None = None,
          operation_name: str | None = None, **handler_options: Any) -> Callable[[F], F]: ...


def retry(config: Any = None, *, handler: RetryHandler | None = None, operation_name: str | None = None,
          **handler_options: Any) -> Any:
    """Decorator retrying a sync or async function: `@retry`, `@retry(RetryConfig(...), clock=...)`,
    or `@retry(handler=shared_handler)`. `handler_options` are `RetryHandler` keyword arguments."""
    if callable(config) and not isinstance(config, RetryConfig):
        return retry()(config)
    if handler is not None and (config is not None or handler_options):
        raise ConfigurationError("pass either handler= or config/handler options, not both")
    runner = handler if handler is not None else RetryHandler(config, **handler_options)

    def decorate(fn: F) -> F:
        name = operation_name or fn.__qualname__
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await runner.execute_async(lambda: fn(*args, **kwargs), name)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return runner.execute(lambda: fn(*args, **kwargs), name)
        return wrapper  # type: ignore[return-value]

    return decorate
