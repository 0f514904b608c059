"""Retry with capped exponential backoff and full jitter (DESIGN §4.1).

The decision (`RetryPolicy.decide`: attempt + error -> `RetryAfter(delay)` or `GiveUp(reason)`) is
pure apart from the injected seeded `random.Random`; the sync and async loops in `RetryHandler`
only act on it and sleep through the injected clock, so tests run in virtual time.
"""

from __future__ import annotations

import errno
import functools
import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ConfigurationError, RetryExhaustedError

logger = logging.getLogger(__name__)

T = TypeVar("T")
ErrorPredicate = Callable[[BaseException], bool]
RetryableSpec = type[BaseException] | ErrorPredicate
RetryCallback = Callable[[str, int, float, BaseException], None]
"""Called before each retry sleep with (operation, failed attempt number from 1, delay s, error)."""
ShouldRetry = Callable[[BaseException, int], "bool | Awaitable[bool]"]
"""Veto hook: (error, failed attempt number) -> False to stop retrying and re-raise the error."""

MAX_RETRIES_LIMIT = 1000
_TRANSIENT_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
     errno.ENETUNREACH, errno.EPIPE}
)
_TRANSIENT_FOREIGN = frozenset(
    {("stellar_sdk.exceptions", "ConnectionError"), ("stellar_sdk.exceptions", "BadResponseError"),
     ("httpx", "TransportError"), ("aiohttp.client_exceptions", "ClientConnectionError")}
)


def _status_of(error: BaseException) -> int | None:
    for attribute in ("status", "status_code"):
        value = getattr(error, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def is_transient_error(error: BaseException) -> bool:
    """Default classification: connection refused/reset, timeouts, HTTP 5xx and 429, SDK transport errors.

    stellar_sdk / httpx / aiohttp classes are recognised by module and name so this module does not
    import them.
    """
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
        return True
    status = _status_of(error)
    if status is not None:
        return status == 429 or 500 <= status <= 599
    return any((cls.__module__, cls.__name__) in _TRANSIENT_FOREIGN for cls in type(error).__mro__)


@dataclass(frozen=True)
class RetryConfig:
    """Retry options; validated at construction (`ConfigurationError`).

    `retryable_errors` replaces the default classification: a tuple of exception classes and/or
    predicates, any match makes an error retryable. Include `is_transient_error` to extend the default.
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
            raise ConfigurationError("retryable_errors must be a tuple of exception classes or predicates")
        for spec in self.retryable_errors:
            if not (isinstance(spec, type) and issubclass(spec, BaseException)) and not callable(spec):
                raise ConfigurationError(f"retryable_errors entry {spec!r} is neither an exception class nor callable")

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


class RetryHandler:
    """Runs a zero-argument callable (or coroutine function) with retries per `RetryConfig`."""

    policy_type: type[RetryPolicy] = RetryPolicy

    def __init__(
        self,
        config: RetryConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_retry: RetryCallback | Iterable[RetryCallback] = (),
        should_retry: ShouldRetry | None = None,
    ) -> None:
        self.config = config if config is not None else RetryConfig()
        if not isinstance(self.config, RetryConfig):
            raise ConfigurationError("config must be a RetryConfig")
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

    def run(self, fn: Callable[[], T], operation_name: str = "operation",
            should_retry: ShouldRetry | None = None) -> RetryResult:
        """Run `fn` synchronously until it succeeds or the policy gives up; never raises `Exception`."""
        veto = should_retry or self._should_retry
        total_delay, attempts = 0.0, 0
        while True:  # bounded: the policy gives up after max_retries + 1 attempts
            attempts += 1
            try:
                return RetryResult(True, fn(), None, attempts, total_delay)
            except Exception as error:
                decision = self._next(attempts, error)
                if isinstance(decision, RetryAfter) and veto is not None and not veto(error, attempts):
                    decision = GiveUp("non_retryable")
                if isinstance(decision, GiveUp):
                    return RetryResult(False, None, error, attempts, total_delay, decision.reason == "exhausted")
                self._notify(operation_name, attempts, decision.delay, error)
                self.clock.sleep(decision.delay)
                total_delay += decision.delay

    async def run_async(self, fn: Callable[[], Awaitable[T]], operation_name: str = "operation",
                        should_retry: ShouldRetry | None = None) -> RetryResult:
        """Async twin of `run`; `should_retry` may be a coroutine function."""
        veto = should_retry or self._should_retry
        total_delay, attempts = 0.0, 0
        while True:  # bounded: the policy gives up after max_retries + 1 attempts
            attempts += 1
            try:
                return RetryResult(True, await fn(), None, attempts, total_delay)
            except Exception as error:
                decision = self._next(attempts, error)
                if isinstance(decision, RetryAfter) and veto is not None:
                    verdict = veto(error, attempts)
                    if inspect.isawaitable(verdict):
                        verdict = await verdict
                    if not verdict:
                        decision = GiveUp("non_retryable")
                if isinstance(decision, GiveUp):
                    return RetryResult(False, None, error, attempts, total_delay, decision.reason == "exhausted")
                self._notify(operation_name, attempts, decision.delay, error)
                await self.clock.sleep_async(decision.delay)
                total_delay += decision.delay

    @staticmethod
    def _unwrap(result: RetryResult, operation_name: str) -> Any:
        if result.success:
            return result.value
        assert result.error is not None
        if result.exhausted:
            raise RetryExhaustedError(operation_name, result.attempts, result.error) from result.error
        raise result.error

    def execute(self, fn: Callable[[], T], operation_name: str = "operation",
                should_retry: ShouldRetry | None = None) -> T:
        """Return `fn()`; re-raise a non-retryable (or vetoed) error at once; `RetryExhaustedError` at the end."""
        result: T = self._unwrap(self.run(fn, operation_name, should_retry), operation_name)
        return result

    async def execute_async(self, fn: Callable[[], Awaitable[T]], operation_name: str = "operation",
                            should_retry: ShouldRetry | None = None) -> T:
        """Async twin of `execute`: `fn` returns an awaitable, sleeps use `clock.sleep_async`."""
        result: T = self._unwrap(await self.run_async(fn, operation_name, should_retry), operation_name)
        return result

    def execute_with_result(self, fn: Callable[[], T], operation_name: str = "operation",
                            should_retry: ShouldRetry | None = None) -> RetryResult:
        """Like `execute` but returns a `RetryResult` instead of raising."""
        return self.run(fn, operation_name, should_retry)

    async def execute_with_result_async(self, fn: Callable[[], Awaitable[T]], operation_name: str = "operation",
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
