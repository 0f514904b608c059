"""Unit tests for reference_impl.retry_handler (DESIGN §4.1), in virtual time."""

from __future__ import annotations

import asyncio
import errno
import logging
import random

import httpx
import pytest
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import BadRequestError, BadResponseError
from stellar_sdk.exceptions import ConnectionError as StellarConnectionError

from reference_impl.clock import ManualClock
from reference_impl.errors import ConfigurationError, RetryExhaustedError
from reference_impl.retry_handler import (
    GiveUp,
    RetryAfter,
    RetryConfig,
    RetryHandler,
    RetryPolicy,
    is_transient_error,
    retry,
)


class Flaky:
    """Fails with `error` for the first `failures` calls, then returns "done"."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error if error is not None else ConnectionRefusedError("refused")

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"

    async def call_async(self) -> str:
        return self()


class HttpStatusError(Exception):
    def __init__(self, status: int, attribute: str = "status") -> None:
        super().__init__(f"HTTP {status}")
        setattr(self, attribute, status)


def horizon_error(cls: type[Exception], status: int) -> Exception:
    return cls(Response(status, '{"title": "x"}', {}, "http://127.0.0.1:1/transactions"))


def no_jitter(**options: object) -> RetryConfig:
    return RetryConfig(jitter=False, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [
    {"max_retries": -1}, {"max_retries": 1.5}, {"max_retries": True}, {"max_retries": 10_000},
    {"base_delay": -0.1}, {"base_delay": float("nan")}, {"max_delay": float("inf")},
    {"base_delay": 5.0, "max_delay": 1.0}, {"exponential_base": 0.5}, {"exponential_base": "2"},
    {"jitter": 1}, {"retryable_errors": [ConnectionError]}, {"retryable_errors": ("ConnectionError",)},
])
def test_invalid_config_is_rejected_with_a_typed_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryConfig(**options)  # type: ignore[arg-type]


def test_handler_rejects_a_config_of_the_wrong_type() -> None:
    with pytest.raises(ConfigurationError):
        RetryHandler({"max_retries": 3})  # type: ignore[arg-type]


def test_delay_cap_is_capped_exponential_and_survives_overflow() -> None:
    config = RetryConfig(base_delay=1.0, max_delay=30.0, exponential_base=2)
    assert [config.delay_cap(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert RetryConfig(max_retries=1000, exponential_base=10).delay_cap(999) == 30.0


@pytest.mark.parametrize("error", [
    ConnectionRefusedError("refused"), ConnectionResetError(), TimeoutError(), BrokenPipeError(),
    OSError(errno.ECONNREFUSED, "refused"), OSError(errno.ETIMEDOUT, "timed out"),
    HttpStatusError(503), HttpStatusError(500, "status_code"), HttpStatusError(429),
    StellarConnectionError("no route"), httpx.ConnectError("refused"),
])
def test_transient_errors_are_retryable_by_default(error: Exception) -> None:
    assert is_transient_error(error)


@pytest.mark.parametrize("error", [
    ValueError("bad amount"), OSError(errno.ENOENT, "missing"), HttpStatusError(400), HttpStatusError(404),
    KeyError("x"),
])
def test_other_errors_are_not_retryable_by_default(error: Exception) -> None:
    assert not is_transient_error(error)


def test_horizon_5xx_is_retryable_and_4xx_is_not() -> None:
    assert is_transient_error(horizon_error(BadResponseError, 503))
    assert not is_transient_error(horizon_error(BadRequestError, 400))


def test_retryable_errors_accepts_classes_and_predicates() -> None:
    config = RetryConfig(retryable_errors=(KeyError, lambda e: "again" in str(e)))
    assert config.is_retryable(KeyError("k")) and config.is_retryable(RuntimeError("try again"))
    assert not config.is_retryable(ConnectionRefusedError("not listed any more"))


def test_success_on_first_attempt_does_not_sleep() -> None:
    clock = ManualClock()
    assert RetryHandler(clock=clock).execute(lambda: 42, "op") == 42
    assert clock.sleeps == []


def test_transient_failures_are_retried_with_the_exponential_schedule() -> None:
    clock, flaky = ManualClock(), Flaky(3)
    handler = RetryHandler(no_jitter(max_retries=5, base_delay=0.5, max_delay=1.5), clock=clock)
    assert handler.execute(flaky, "settle") == "done"
    assert flaky.calls == 4 and clock.sleeps == [0.5, 1.0, 1.5] and clock.now() == 3.0


def test_jitter_is_full_and_reproducible_from_the_seed() -> None:
    def delays(seed: int) -> list[float]:
        clock = ManualClock()
        RetryHandler(RetryConfig(max_retries=4), clock=clock, rng=random.Random(seed)).execute(Flaky(4))
        return clock.sleeps

    first = delays(7)
    assert first == delays(7) and first != delays(8)
    assert all(0.0 <= d <= cap for d, cap in zip(first, [1, 2, 4, 8], strict=True))


def test_non_retryable_error_is_raised_at_once() -> None:
    clock, flaky = ManualClock(), Flaky(5, ValueError("tx_bad_auth"))
    with pytest.raises(ValueError, match="tx_bad_auth"):
        RetryHandler(clock=clock).execute(flaky)
    assert flaky.calls == 1 and clock.sleeps == []


def test_exhaustion_raises_with_last_error_and_attempt_count() -> None:
    flaky = Flaky(10)
    with pytest.raises(RetryExhaustedError) as raised:
        RetryHandler(no_jitter(max_retries=2), clock=ManualClock()).execute(flaky, "submit")
    assert raised.value.attempts == 3 == flaky.calls and raised.value.operation == "submit"
    assert raised.value.last_error is flaky.error and raised.value.__cause__ is flaky.error


def test_zero_retries_means_one_attempt() -> None:
    flaky = Flaky(1)
    with pytest.raises(RetryExhaustedError):
        RetryHandler(RetryConfig(max_retries=0), clock=ManualClock()).execute(flaky)
    assert flaky.calls == 1


def test_execute_with_result_never_raises() -> None:
    handler = RetryHandler(no_jitter(max_retries=2, base_delay=1.0), clock=ManualClock())
    ok = handler.execute_with_result(Flaky(1))
    assert (ok.success, ok.value, ok.error, ok.attempts, ok.total_delay) == (True, "done", None, 2, 1.0)
    down = Flaky(10)
    failed = handler.execute_with_result(down)
    assert (failed.success, failed.error, failed.attempts, failed.total_delay, failed.exhausted) == (
        False, down.error, 3, 3.0, True)
    bad = handler.execute_with_result(Flaky(1, ValueError("no")))
    assert not bad.success and not bad.exhausted and bad.attempts == 1


def test_async_execution_sleeps_through_the_clock() -> None:
    clock, flaky = ManualClock(), Flaky(2)
    handler = RetryHandler(no_jitter(base_delay=2.0), clock=clock)
    assert asyncio.run(handler.execute_async(flaky.call_async, "async-op")) == "done"
    assert clock.sleeps == [2.0, 4.0]
    result = asyncio.run(handler.execute_with_result_async(Flaky(9).call_async))
    assert not result.success and result.attempts == 4


def test_cancellation_is_not_retried() -> None:
    calls = []

    async def cancelled() -> None:
        calls.append(1)
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(RetryHandler(clock=ManualClock()).execute_async(cancelled))
    assert calls == [1]


def test_every_retry_is_reported_to_callbacks_and_a_broken_one_is_only_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, int, float, str]] = []

    def broken(*_: object) -> None:
        raise RuntimeError("observer bug")

    handler = RetryHandler(no_jitter(), clock=ManualClock(),
                           on_retry=[lambda op, n, d, e: seen.append((op, n, d, type(e).__name__)), broken])
    late: list[int] = []
    handler.add_retry_listener(lambda op, n, d, e: late.append(n))
    with caplog.at_level(logging.WARNING, logger="reference_impl.retry_handler"):
        assert handler.execute(Flaky(2), "pay") == "done"
    assert seen == [("pay", 1, 1.0, "ConnectionRefusedError"), ("pay", 2, 2.0, "ConnectionRefusedError")]
    assert late == [1, 2] and "RuntimeError" in caplog.text


def test_should_retry_can_veto_a_retry() -> None:
    looked_up: list[int] = []

    def already_on_ledger(error: BaseException, attempt: int) -> bool:
        looked_up.append(attempt)
        return attempt < 2

    flaky = Flaky(5)
    handler = RetryHandler(no_jitter(), clock=ManualClock(), should_retry=already_on_ledger)
    with pytest.raises(ConnectionRefusedError):
        handler.execute(flaky)
    assert flaky.calls == 2 and looked_up == [1, 2]
    assert handler.execute(Flaky(1), should_retry=lambda e, n: True) == "done"


def test_async_should_retry_may_be_a_coroutine() -> None:
    async def veto(error: BaseException, attempt: int) -> bool:
        return False

    flaky = Flaky(3)
    handler = RetryHandler(clock=ManualClock())
    result = asyncio.run(handler.execute_with_result_async(flaky.call_async, should_retry=veto))
    assert not result.success and not result.exhausted and flaky.calls == 1


def test_policy_decisions_are_pure_values() -> None:
    policy = RetryPolicy(no_jitter(max_retries=2), random.Random(0))
    assert policy.decide(1, TimeoutError()) == RetryAfter(1.0)
    assert policy.decide(2, TimeoutError()) == RetryAfter(2.0)
    assert policy.decide(3, TimeoutError()) == GiveUp("exhausted")
    assert policy.decide(1, ValueError()) == GiveUp("non_retryable")


def test_decorator_wraps_sync_and_async_functions() -> None:
    clock = ManualClock()
    flaky, flaky_async = Flaky(1), Flaky(2)

    @retry(no_jitter(), clock=clock)
    def settle(amount: str) -> str:
        return f"{flaky()} {amount}"

    @retry(no_jitter(), clock=clock, operation_name="settle-async")
    async def settle_async() -> str:
        return await flaky_async.call_async()

    assert settle("5") == "done 5" and settle.__name__ == "settle"
    assert asyncio.run(settle_async()) == "done"
    assert clock.sleeps == [1.0, 1.0, 2.0]


def test_bare_decorator_and_shared_handler() -> None:
    @retry
    def plain() -> int:
        return 1

    shared = RetryHandler(no_jitter(max_retries=1), clock=ManualClock())

    @retry(handler=shared)
    def down() -> None:
        raise TimeoutError()

    assert plain() == 1
    with pytest.raises(RetryExhaustedError) as raised:
        down()
    assert raised.value.attempts == 2 and raised.value.operation.endswith("down")
    with pytest.raises(ConfigurationError):
        retry(RetryConfig(), handler=shared)
