"""Deliberately broken variants with the silent misbehaviours the seed's forms used to meet; the
checks in test_seed_api.py must fail each of them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from reference_impl.circuit_breaker import CircuitBreaker
from reference_impl.error_logger import ErrorLogger, ErrorRecord
from reference_impl.metrics_collector import MetricsCollector
from reference_impl.retry_handler import _CALL, RetryHandler


class AwaitableAsValueHandler(RetryHandler):
    """The old sync loop: whatever `fn()` returns, a coroutine too, is a success after one call."""

    def run(self, fn: Callable[[], Any], operation_name: str = "operation", should_retry: Any = None) -> Any:
        steps = self._steps(operation_name, None)
        step = next(steps)
        while True:
            reply: Any = None
            if step is _CALL:
                try:
                    reply = (True, fn())
                except Exception as error:
                    reply = (False, error)
            else:
                self.clock.sleep(step.delay)  # type: ignore[attr-defined]
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value


class AwaitableAsSuccessBreaker(CircuitBreaker):
    """The old execute: `fn()` returning a coroutine is recorded as a success before it even runs."""

    def execute(self, fn: Callable[[], Any]) -> Any:
        ticket, started = self._admit(), self.clock.now()
        try:
            result = fn()
        except Exception as error:
            self._finish(ticket, error, started)
            raise
        self._finish(ticket, None, started)
        return result


class ForgetsDroppedTrialsBreaker(CircuitBreaker):
    """Never gives back the trial slot of a pending call dropped without being awaited."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dropped = _Forgetful()


class _Forgetful(deque):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


class PythonOrderOnlyLogger(ErrorLogger):
    """The old signature: (tx_id, agent_did, operation, cause) whatever the arguments are."""

    def log_transaction_failure(
        self,
        tx_id: str,
        agent_did: Any = None,
        operation: Any = None,  # type: ignore[override]
        cause: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        return super().log_transaction_failure(
            tx_id, agent_did=str(agent_did), operation=str(operation), cause=cause, context=context
        )


class OneArgumentCallbackCollector(MetricsCollector):
    """The old callback contract: one `Alert` for every callback; a TypeError is logged and dropped."""

    def __init__(self, thresholds: Mapping[str, float], callback: Callable[..., None]) -> None:
        super().__init__(thresholds)
        self._alert_callbacks = [callback]


RETRY_MUTANTS: tuple[type[RetryHandler], ...] = (AwaitableAsValueHandler,)
BREAKER_MUTANTS: tuple[type[CircuitBreaker], ...] = (AwaitableAsSuccessBreaker,)
DROPPED_TRIAL_MUTANTS: tuple[type[CircuitBreaker], ...] = (ForgetsDroppedTrialsBreaker,)
LOGGER_MUTANTS: tuple[type[ErrorLogger], ...] = (PythonOrderOnlyLogger,)
METRICS_MUTANTS: tuple[type[MetricsCollector], ...] = (OneArgumentCallbackCollector,)
