"""P35: circuit breaker transitions follow DESIGN §4.2 exactly; no call passes an open breaker.

A RuleBasedStateMachine drives a breaker class in virtual time against `BreakerModel`, a plain
re-statement of §4.2 (unbounded outcome list, no tickets). After every step the states must agree
and the protected function must have run exactly as often as the model admitted calls.
The same machine must fail on every deliberately broken variant in `mutants_breaker`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from reference_impl.circuit_breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from reference_impl.clock import ManualClock
from reference_impl.errors import CircuitOpenError
from tests.property.mutants_breaker import BREAKER_STATE_MUTANTS

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class DependencyDown(Exception):
    """A failure of the protected dependency."""


class BusinessError(Exception):
    """An error the breaker is told not to count (is_failure predicate)."""


@dataclass
class BreakerModel:
    """§4.2 in the most literal form: every outcome kept with its time, pruned only when read."""

    failure_threshold: int
    success_threshold: int
    timeout: float
    period: float
    volume_threshold: int
    trial_limit: int
    state: CircuitState = CLOSED
    opened_at: float = 0.0
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    trial_successes: int = 0
    trials: int = 0
    epoch: int = 0
    transitions: int = 0

    def _go(self, state: CircuitState, now: float) -> None:
        self.state, self.epoch, self.transitions = state, self.epoch + 1, self.transitions + 1
        self.outcomes, self.trial_successes, self.trials = [], 0, 0
        if state is OPEN:
            self.opened_at = now

    def admit(self, now: float) -> tuple[bool, float, int]:
        """(admitted, retry_after if rejected, epoch of the admission)."""
        if self.state is OPEN and now - self.opened_at >= self.timeout:
            self._go(HALF_OPEN, now)
        if self.state is OPEN:
            return False, self.opened_at + self.timeout - now, self.epoch
        if self.state is HALF_OPEN:
            if self.trials >= self.trial_limit:
                return False, 0.0, self.epoch
            self.trials += 1
        return True, 0.0, self.epoch

    def complete(self, epoch: int, failed: bool, now: float) -> None:
        if epoch != self.epoch:
            return  # admitted before the last transition: its outcome no longer counts
        if self.state is HALF_OPEN:
            self.trials -= 1
            if failed:
                self._go(OPEN, now)
            else:
                self.trial_successes += 1
                if self.trial_successes >= self.success_threshold:
                    self._go(CLOSED, now)
            return
        self.outcomes.append((now, failed))
        recent = [f for t, f in self.outcomes if now - t < self.period]
        if len(recent) >= self.volume_threshold and sum(recent) >= self.failure_threshold:
            self._go(OPEN, now)


durations = st.integers(min_value=0, max_value=80).map(lambda n: n / 2)


def make_breaker_machine(breaker_cls: type[CircuitBreaker]) -> type[RuleBasedStateMachine]:
    """The P35 state machine for `breaker_cls` (the reference class or a mutant)."""

    class BreakerMachine(RuleBasedStateMachine):
        @initialize(
            failure_threshold=st.integers(1, 4),
            success_threshold=st.integers(1, 3),
            timeout=st.integers(1, 12).map(float),
            period=st.integers(2, 30).map(float),
            volume_threshold=st.integers(1, 6),
            trial_limit=st.one_of(st.none(), st.integers(1, 3)),
        )
        def setup(
            self,
            failure_threshold: int,
            success_threshold: int,
            timeout: float,
            period: float,
            volume_threshold: int,
            trial_limit: int | None,
        ) -> None:
            self.clock = ManualClock()
            config = CircuitBreakerConfig(
                failure_threshold, success_threshold, timeout, period, volume_threshold, trial_limit
            )
            self.breaker = breaker_cls(
                "dep", config, clock=self.clock, is_failure=lambda e: not isinstance(e, BusinessError)
            )
            self.model = BreakerModel(
                failure_threshold, success_threshold, timeout, period, volume_threshold, config.trial_limit
            )
            self.calls_made = 0
            self.calls_admitted = 0

        def _protected(self, outcome: str) -> str:
            self.calls_made += 1
            if outcome == "fail":
                raise DependencyDown()
            if outcome == "business":
                raise BusinessError()
            return "ok"

        def _one_call(self, outcome: str) -> None:
            now = self.clock.now()
            admitted, retry_after, epoch = self.model.admit(now)
            self.calls_admitted += admitted
            try:
                result = self.breaker.execute(lambda: self._protected(outcome))
            except CircuitOpenError as rejected:
                assert not admitted, f"breaker rejected a call the model admits (state {self.model.state})"
                assert rejected.retry_after == pytest.approx(retry_after)
                return
            except (DependencyDown, BusinessError):
                assert admitted and outcome != "ok"
            else:
                assert admitted and outcome == "ok" and result == "ok"
            self.model.complete(epoch, outcome == "fail", now)

        @rule()
        def succeed_call(self) -> None:
            self._one_call("ok")

        @rule()
        def fail_call(self) -> None:
            self._one_call("fail")

        @rule()
        def business_error_call(self) -> None:
            self._one_call("business")

        @rule(seconds=durations)
        def advance_clock(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @rule()
        def wait_for_trial(self) -> None:
            """Advance exactly to the end of the open timeout (the boundary where a trial is due)."""
            if self.model.state is OPEN:
                self.clock.advance(max(0.0, self.model.opened_at + self.model.timeout - self.clock.now()))

        @rule(
            outcomes=st.lists(st.booleans(), min_size=2, max_size=5), order=st.randoms(use_true_random=False)
        )
        def concurrent_calls(self, outcomes: list[bool], order: random.Random) -> None:
            """Start len(outcomes) async calls at once, then finish them one by one in a shuffled order."""
            finish_order = list(range(len(outcomes)))
            order.shuffle(finish_order)
            asyncio.run(self._concurrent(outcomes, finish_order))

        async def _concurrent(self, failing: list[bool], finish_order: list[int]) -> None:
            gates = [asyncio.Event() for _ in failing]
            entered: list[int] = []

            async def protected(i: int) -> str:
                entered.append(i)
                self.calls_made += 1
                await gates[i].wait()
                if failing[i]:
                    raise DependencyDown()
                return "ok"

            now = self.clock.now()
            admissions = [self.model.admit(now) for _ in failing]
            self.calls_admitted += sum(admitted for admitted, _, _ in admissions)
            tasks = [
                asyncio.create_task(self.breaker.execute_async(lambda i=i: protected(i)))
                for i in range(len(failing))
            ]
            try:
                for _ in range(3):
                    await asyncio.sleep(0)
                expected = [i for i, (admitted, _, _) in enumerate(admissions) if admitted]
                assert sorted(entered) == expected, f"ran {sorted(entered)}, model admits {expected}"
                for i in finish_order:
                    gates[i].set()
                    try:
                        await tasks[i]
                    except CircuitOpenError as rejected:
                        assert rejected.retry_after == pytest.approx(admissions[i][1])
                    except DependencyDown:
                        pass
                    if admissions[i][0]:
                        self.model.complete(admissions[i][2], failing[i], now)
            finally:
                for gate in gates:
                    gate.set()
                await asyncio.gather(*tasks, return_exceptions=True)

        @invariant()
        def agrees_with_model(self) -> None:
            if not hasattr(self, "breaker"):
                return
            state = self.breaker.get_state()
            assert state is self.model.state, f"breaker is {state.value}, model says {self.model.state.value}"
            assert self.calls_made == self.calls_admitted, (
                f"protected function ran {self.calls_made} times, model admitted {self.calls_admitted}"
            )
            transitions = self.breaker.get_stats().transitions
            assert transitions == self.model.transitions, (
                f"{transitions} transitions, model {self.model.transitions}"
            )

    BreakerMachine.__name__ = f"P35Machine[{breaker_cls.__name__}]"
    return BreakerMachine


MACHINE_SETTINGS = settings(stateful_step_count=40)
MUTANT_SETTINGS = settings(
    stateful_step_count=40, database=None, report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate]
)


@pytest.mark.timeout(90)
def test_p35_reference_breaker_matches_the_model() -> None:
    run_state_machine_as_test(make_breaker_machine(CircuitBreaker), settings=MACHINE_SETTINGS)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mutant", BREAKER_STATE_MUTANTS, ids=lambda cls: cls.__name__)
def test_p35_catches_broken_breaker(mutant: type[CircuitBreaker]) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(make_breaker_machine(mutant), settings=MUTANT_SETTINGS)
