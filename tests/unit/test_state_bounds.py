"""Bounded server state (issue 15.1): the x402 nonce store and the channel store hold per-client quotas
and global bounds, and no client's action ever removes another client's state.

The nonce store is checked against a model (a Hypothesis state machine: issue, take, advance time);
`mutants` are the broken variants the machine must catch: the old store (one least-recently-issued
list shared by everyone) and one without the per-client quota.
"""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from stellar_sdk import Keypair

from reference_impl.clock import ManualClock
from reference_impl.errors import ConfigurationError
from reference_impl.input_validator import InputValidator, sign_channel_state
from reference_impl.service.channels import ChannelCapacityError, ChannelQuotaError, ChannelStore
from reference_impl.service.nonces import NonceCapacityError, NonceRejectedError, NonceStore

TTL, CAPACITY, PER_CLIENT = 10.0, 6, 3
CLIENTS = ("key:a", "key:b", "ip:127.0.0.1")


class GlobalLruStore(NonceStore):
    """The old store: one list for everyone, oldest dropped when full (another client's nonce)."""

    def issue(self, resource: str, client: str):  # type: ignore[no-untyped-def]
        now = self._clock.time()
        self._purge(now)
        if len(self._issued) >= self.capacity:
            self._forget(next(iter(self._issued.values())))
        self.per_client = 10**9
        return super().issue(resource, client)


class NoQuotaStore(NonceStore):
    """No per-client quota: one client fills the store and everyone else is refused."""

    def issue(self, resource: str, client: str):  # type: ignore[no-untyped-def]
        self.per_client = 10**9
        return super().issue(resource, client)


class NonceModel(RuleBasedStateMachine):
    """Every unexpired nonce a client was given stays takeable unless that client itself went over
    its quota; the store's size never exceeds its capacity nor a client's share its quota."""

    store_type: type[NonceStore] = NonceStore

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(wall_start=1000.0)
        self.store = self.store_type(TTL, capacity=CAPACITY, per_client=PER_CLIENT, clock=self.clock)
        self.held: dict[str, deque[tuple[str, float]]] = {c: deque() for c in CLIENTS}

    def _expire(self) -> None:
        now = self.clock.time()
        for own in self.held.values():
            while own and own[0][1] <= now:
                own.popleft()

    @rule(client=st.sampled_from(CLIENTS))
    def issue(self, client: str) -> None:
        self._expire()
        own = self.held[client]
        total = sum(len(v) for v in self.held.values())
        try:
            nonce = self.store.issue("/resources/r", client)
        except NonceCapacityError as error:
            assert total >= CAPACITY and len(own) < PER_CLIENT, "refused while there was room"
            assert 0 < error.retry_after <= TTL
            return
        if len(own) >= PER_CLIENT:
            own.popleft()  # the client's own oldest makes room
        own.append((nonce.value, nonce.expires_at))

    @rule(client=st.sampled_from(CLIENTS), data=st.data())
    def take(self, client: str, data: st.DataObject) -> None:
        self._expire()
        own = self.held[client]
        if not own:
            return
        value, _ = own[data.draw(st.integers(0, len(own) - 1))]
        self.store.take(value, "/resources/r")  # must not raise: the nonce is still the client's
        own.remove(next(item for item in own if item[0] == value))
        with pytest.raises(NonceRejectedError) as replay:
            self.store.take(value, "/resources/r")
        assert replay.value.reason == "invalid_exact_stellar_payload_replay"

    @rule(seconds=st.floats(0.5, 2 * TTL))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def bounded(self) -> None:
        self._expire()
        sizes = self.store.sizes()
        assert sizes["issued"] <= CAPACITY and sizes["used"] <= self.store.used_capacity
        assert sizes["issued"] == sum(len(v) for v in self.held.values())


NonceModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestNonceStoreModel = NonceModel.TestCase


@pytest.mark.parametrize("mutant", [GlobalLruStore, NoQuotaStore])
def test_the_model_catches_stores_that_evict_others_or_have_no_quota(mutant: type[NonceStore]) -> None:
    machine = type(f"{mutant.__name__}Model", (NonceModel,), {"store_type": mutant})
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(
            max_examples=200, stateful_step_count=40, deadline=None, database=None, report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck)))


def test_a_client_over_quota_loses_only_its_own_oldest_nonce() -> None:
    clock = ManualClock(wall_start=1000.0)
    store = NonceStore(60, capacity=100, per_client=2, clock=clock)
    other = store.issue("/resources/r", "key:honest")
    flood = [store.issue("/resources/r", "ip:1.2.3.4") for _ in range(50)]
    assert store.sizes() == {"issued": 3, "used": 0, "clients": 2} and store.dropped_own == 48
    with pytest.raises(NonceRejectedError) as dropped:
        store.take(flood[0].value, "/resources/r")
    assert dropped.value.reason == "invalid_exact_stellar_payload_unknown_nonce"
    store.take(flood[-1].value, "/resources/r")
    store.take(other.value, "/resources/r")  # the honest client's nonce survived the flood


def test_a_full_store_refuses_new_nonces_and_frees_them_on_expiry() -> None:
    clock = ManualClock(wall_start=1000.0)
    store = NonceStore(60, capacity=3, per_client=5, clock=clock)
    for i in range(3):
        store.issue("/resources/r", f"key:{i}")
        clock.advance(10)
    with pytest.raises(NonceCapacityError) as full:
        store.issue("/resources/r", "key:late")
    assert full.value.retry_after == pytest.approx(30.0)
    clock.advance(30)
    assert store.issue("/resources/r", "key:late").client == "key:late"
    assert store.sizes()["issued"] == 3


def test_used_entries_are_forgotten_after_two_ttls_and_bounded() -> None:
    clock = ManualClock(wall_start=1000.0)
    store = NonceStore(5, capacity=4, per_client=4, used_capacity=3, clock=clock)
    for i in range(5):
        store.mark_used(f"h{i}")
    assert store.sizes()["used"] == 3 and not store.is_used("h0") and store.is_used("h4")
    clock.advance(10.0)
    assert store.sizes()["used"] == 0


@pytest.mark.parametrize("kwargs", [{"capacity": 0}, {"per_client": 0}])
def test_nonce_store_refuses_zero_bounds(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        NonceStore(60, **kwargs)


def _opening_state(channel_id: str) -> dict:  # type: ignore[type-arg]
    a, b = Keypair.random(), Keypair.random()
    state = {"channelId": channel_id, "sequence": 1, "participants": [a.public_key, b.public_key],
             "balances": {a.public_key: 5, b.public_key: 5}, "total": 10}
    return sign_channel_state(sign_channel_state(state, a), b)


def test_channel_store_honours_its_bound_and_each_clients_quota() -> None:
    store = ChannelStore(InputValidator(), max_channels=5, per_client=3)

    async def scenario() -> list[str]:
        outcomes = []
        for client, channel_id in [("key:a", f"a{i}") for i in range(4)] + [("key:b", f"b{i}") for i in range(3)]:
            state = store.check(channel_id, _opening_state(channel_id))
            try:
                await store.apply(channel_id, state, client)
                outcomes.append("open")
            except ChannelQuotaError:
                outcomes.append("quota")
            except ChannelCapacityError:
                outcomes.append("full")
        return outcomes

    assert asyncio.run(scenario()) == ["open", "open", "open", "quota", "open", "open", "full"]
    assert len(store) == 5 and store.latest("a0") is not None  # nobody's channel was dropped
