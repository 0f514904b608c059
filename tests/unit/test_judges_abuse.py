"""P34 and state-bounds against key rotation (issue 15.1): the same abusive traffic played against a
service that limits by issued key else by address, and against one that takes every fresh key for a
new client. The evidence is produced by the real limiter and nonce store in virtual time, the way the
service wires them, so each verdict is the judges' answer to a realistic run."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.judges.context import JudgeContext
from harness.judges.rate_limits import ANONYMOUS, judge_rate_limits
from harness.judges.state_bounds import judge_state_bounds
from harness.outputs import Event, RequestRecord
from reference_impl.clock import ManualClock
from reference_impl.rate_limit_middleware import rate_limit_headers
from reference_impl.rate_limiter import RateLimiter, RateLimiterConfig
from reference_impl.service.faults import remaining_before_this_request, retry_after_rounded_down
from reference_impl.service.nonces import NonceCapacityError, NonceStore
from scenarios.headers import ratelimit_values

LIMIT = {"x402-challenge": {"limit": 50, "window_s": 60.0, "algorithm": "token-bucket"}}
DURATION_S, TTL, PER_CLIENT = 120, 60.0, 16
# (user kind, label or None for a fresh unissued key per request, requests per second)
CLIENTS = [*(("paying_agent", f"agent-{i}", 0.2) for i in range(5)), ("key_rotator", None, 4.0),
           ("nonce_flooder", "nonceflood-0", 0.7)]


def patient_records(headers_func: Any = rate_limit_headers, starts: tuple[float, ...] = (30.0, 80.0)) -> list[RequestRecord]:
    """A 429-honouring client (scenarios/users/patient.py) on a key of its own, whose bucket no other client
    touches: at each start it sends until refused, waits the announced Retry-After and sends once more.
    Headers are the middleware's (`headers_func`, the real one or a fault's), parsed as the load client does."""
    clock = ManualClock(wall_start=10_000.0)
    limiter = RateLimiter(RateLimiterConfig(50, 60.0, "token-bucket"), clock=clock)
    records: list[RequestRecord] = []

    def send(expected: str) -> dict[str, str]:
        result = limiter.check_limit("patient-0")
        headers = {k.decode(): v.decode() for k, v in headers_func(result)}
        remaining, reset, retry = ratelimit_values(headers)
        t = clock.now()
        records.append(RequestRecord(t, t, "x402-challenge", "GET", "/resources/r", 402 if result.allowed else 429,
                                     5.0, 5.0, user_kind="patient", client_key="patient-0", key_issued=1,
                                     expected=expected, ratelimit_headers_ok=-1 if result.allowed else 1,
                                     body_json=1, ratelimit_remaining=remaining, ratelimit_reset_s=reset,
                                     retry_after_s=retry))
        clock.advance(0.01)
        return headers if not result.allowed else {}

    for start in starts:
        clock.advance(start - clock.now())
        refused = next((h for _ in range(53) if (h := send("ratelimit"))), None)
        assert refused is not None
        clock.advance(float(refused["retry-after"]))
        send("after_retry_after")
    return records


def play(trusts_any_key: bool, seed: int = 1, headers_func: Any = rate_limit_headers
         ) -> tuple[list[RequestRecord], list[Event]]:
    """Client records and one `state` event per second of a service under the traffic above, plus a
    429-honouring client."""
    rng = random.Random(seed)
    clock = ManualClock(wall_start=10_000.0)
    limiter = RateLimiter(RateLimiterConfig(50, 60.0, "token-bucket"), clock=clock)
    nonces = NonceStore(TTL, capacity=100_000, per_client=PER_CLIENT, clock=clock)
    arrivals = sorted((rng.uniform(0, DURATION_S), kind, label) for kind, label, rate in CLIENTS
                      for _ in range(int(rate * DURATION_S)))
    records, events, next_sample = [], [], 1.0
    for t, kind, label in arrivals:
        while next_sample <= t:
            clock.advance(next_sample - clock.now())
            events.append(state_event(next_sample, nonces.sizes()["issued"]))
            next_sample += 1.0
        clock.advance(t - clock.now())
        key = label or f"rotated-{rng.getrandbits(48):012x}"
        identity = key if (label or trusts_any_key) else "ip:127.0.0.1"
        allowed = limiter.check_limit(identity).allowed
        if allowed:
            try:
                nonces.issue("/resources/r", identity)
            except NonceCapacityError:
                allowed = False
        records.append(RequestRecord(t, t, "x402-challenge", "GET", "/resources/r", 402 if allowed else 429, 5.0, 5.0,
                                     user_kind=kind, client_key=key, key_issued=int(label is not None),
                                     expected="challenge" if kind == "paying_agent" else "flood",
                                     ratelimit_headers_ok=-1 if allowed else 1, body_json=1))
    return records + patient_records(headers_func), events


def state_event(t: float, size: int, capacity: int = 100_000) -> Event:
    stores = {"x402_nonces": {"size": size, "capacity": capacity, "per_client": PER_CLIENT, "ttl_s": TTL}}
    return Event(t, "service", "state", {"stores": stores})


def context(records: list[Any], events: list[Event]) -> JudgeContext:
    return JudgeContext.build(records, events=events, rate_limits=LIMIT)


def test_a_service_limiting_by_issued_key_else_address_passes_both() -> None:
    ctx = context(*play(trusts_any_key=False))
    p34, state = judge_rate_limits(ctx), judge_state_bounds(ctx)
    assert p34.verdict == "pass", p34.reason
    assert p34.figures["key_rotator_requests"] == 480 and p34.figures["key_rotator_429"] >= 300
    assert state.verdict == "pass", state.reason
    assert state.figures["x402_nonces.max_size"] <= PER_CLIENT * 7


def test_the_real_headers_tell_a_patient_client_the_truth() -> None:
    p34 = judge_rate_limits(context(*play(trusts_any_key=False)))
    assert p34.verdict == "pass", p34.reason
    assert p34.figures["waited_retry_after"] == 2 and p34.figures["refused_after_waiting"] == 0
    assert p34.figures["remaining_values_checked"] >= 60 and p34.figures["remaining_mismatches"] == 0


@pytest.mark.parametrize(("headers_func", "problem"), [
    (retry_after_rounded_down, "refused again"), (remaining_before_this_request, "X-RateLimit-Remaining")])
def test_headers_that_lie_fail_p34(headers_func: Any, problem: str) -> None:
    """The faults `retry-after-rounds-down` and `ratelimit-remaining-off-by-one` (reference_impl/service/faults.py)."""
    p34 = judge_rate_limits(context(*play(trusts_any_key=False, headers_func=headers_func)))
    assert p34.verdict == "fail" and problem in p34.reason, p34.reason


def test_no_client_waiting_out_a_429_is_inconclusive() -> None:
    records, events = play(trusts_any_key=False)
    kept = [r for r in records if r.expected != "after_retry_after"]
    p34 = judge_rate_limits(context(kept, events))
    assert p34.verdict == "inconclusive" and "Retry-After" in p34.reason


def test_a_service_trusting_rotated_keys_fails_both() -> None:
    ctx = context(*play(trusts_any_key=True))
    p34, state = judge_rate_limits(ctx), judge_state_bounds(ctx)
    assert p34.verdict == "fail" and ANONYMOUS in p34.reason
    assert p34.figures["key_rotator_429"] == 0
    assert state.verdict == "fail" and "x402_nonces" in state.reason
    assert state.figures["x402_nonces.max_over_per_client_bound"] > 100


def test_records_without_the_key_issued_column_keep_the_old_per_key_grouping() -> None:
    records, events = play(trusts_any_key=True)
    for r in records:
        r.key_issued = -1
    assert judge_rate_limits(context(records, events)).verdict != "fail"  # the blind spot the column closes


def test_state_above_capacity_or_lost_by_a_well_behaved_client_fails() -> None:
    records, events = play(trusts_any_key=False)
    over = judge_state_bounds(context(records, [*events, state_event(DURATION_S + 0.5, 30, capacity=20)]))
    assert over.verdict == "fail" and "above its capacity 20" in over.reason
    lost = RequestRecord(50.0, 50.0, "x402", "GET", "/resources/r", 402, 5.0, 5.0, user_kind="paying_agent",
                         client_key="agent-1", key_issued=1, error="invalid_exact_stellar_payload_unknown_nonce")
    evicted = judge_state_bounds(context([*records, lost], events))
    assert evicted.verdict == "fail" and evicted.figures["well_behaved_state_refused"] == 1


@pytest.mark.parametrize("events, reason", [([], "not observable"),
                                             ([state_event(1.0, 0)], "no request created per-client state")])
def test_state_bounds_is_inconclusive_without_evidence(events: list[Event], reason: str) -> None:
    other = RequestRecord(1.0, 1.0, "decision", "POST", "/agent/decisions", 200, 5.0, 5.0, user_kind="decider")
    check = judge_state_bounds(context([other], events))
    assert check.verdict == "inconclusive" and reason in check.reason


@pytest.mark.parametrize("trusts_any_key, verdict", [(False, "pass"), (True, "fail")])
def test_channels_count_one_entry_per_path_per_client(trusts_any_key: bool, verdict: str) -> None:
    """Three updaters send many updates to their own channel; a flooder opens 50 channels under fresh keys.
    A correct service stops the anonymous flooder at its quota (4 here); a trusting one holds all 50."""
    records = [RequestRecord(i / 10, i / 10, "channel", "POST", f"/channels/own-{i % 3}/updates", 200, 5.0, 5.0,
                             user_kind="channel_updater", client_key=f"channel-{i % 3}", key_issued=1)
               for i in range(60)]
    records += [RequestRecord(10 + i / 10, 10 + i / 10, "channel", "POST", f"/channels/flood-{i}/updates",
                              200 if trusts_any_key or i < 4 else 403, 5.0, 5.0, user_kind="channel_flooder",
                              client_key=f"rotated-{i}", key_issued=0) for i in range(50)]
    size = 3 + (50 if trusts_any_key else 4)
    stores = {"channels": {"size": size, "capacity": 1000, "per_client": 4}}
    check = judge_state_bounds(context(records, [Event(20.0, "service", "state", {"stores": stores})]))
    assert check.verdict == verdict, check.reason
    assert check.figures["channels.max_over_per_client_bound"] == (46 if trusts_any_key else 0)


@pytest.mark.parametrize("held, verdict", [(1, "pass"), (3, "fail")])
def test_paid_challenges_no_longer_count_against_their_client(held: int, verdict: str) -> None:
    """Three challenges, two paid (each paid record starts with its challenge): a store still holding
    three nonces kept the two its client spent."""
    records = [RequestRecord(t, t, "x402-challenge", "GET", "/resources/r", 402, 5.0, 5.0, user_kind="paying_agent",
                             client_key="agent-0", key_issued=1) for t in (10.0, 11.0, 12.0)]
    records += [RequestRecord(t, t, "x402", "GET", "/resources/r", 200, 50.0, 50.0, user_kind="paying_agent",
                              client_key="agent-0", key_issued=1) for t in (10.0, 11.0)]
    stores = {"x402_nonces": {"size": held, "capacity": 100, "per_client": PER_CLIENT, "ttl_s": TTL}}
    sample = Event(20.0, "service", "state", {"stores": stores, "asked_at": 19.9})
    assert judge_state_bounds(context(records, [sample])).verdict == verdict
