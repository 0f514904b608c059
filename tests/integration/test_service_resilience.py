"""Integration fallback on the real stack: failover when the primary Horizon is stopped, breaker
transitions in the admin feed (and no request reaching the primary while its breaker is open),
503 + Retry-After when both are down, and idempotent retry after an unknown outcome."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.integration.test_service_support import running_stack, wait_for

pytestmark = pytest.mark.timeout(90)
DID = "did:web:agent.example.com"
FAST = {"call_timeout": 0.5, "submit_timeout": 1.0, "request_deadline": 3.0}
NO_LIMITS = {"SRH__SECURITY__RATE_LIMIT__ENABLED": "false"}  # these tests probe breakers, not limits


def settle(stack, key, dest=8, amount="0.5"):
    return stack.http.post("/settlements", headers={"Idempotency-Key": key},
                           json={"destination": stack.keys[dest].public_key, "amount": amount, "agent_did": DID})


def transitions(stack, breaker):
    return [(e["data"]["from"], e["data"]["to"]) for e in stack.events("breaker.transition")
            if e["data"]["breaker"] == breaker]


def primary_hits(stack, since):
    return [r for r in stack.ledger.ledger.access_log(since=since) if r["listener"] == 0]


def open_windows(stack, breaker):
    """(opened_at, closed_or_half_opened_at) wall-time intervals of `breaker` from the admin feed."""
    windows, opened = [], None
    for event in stack.events("breaker.transition"):
        if event["data"]["breaker"] != breaker:
            continue
        if event["data"]["to"] == "open":
            opened = event["t"]
        elif opened is not None:
            windows.append((opened, event["t"]))
            opened = None
    return windows + ([(opened, float("inf"))] if opened is not None else [])


def test_failover_breaker_cycle_and_no_traffic_to_an_open_primary():
    with running_stack(env={"SRH__SECURITY__CIRCUIT_BREAKER__TIMEOUT_MS": "4000", **NO_LIMITS}, **FAST) as stack:
        assert settle(stack, "warm-up").status_code == 200
        stack.proxies[0].set_mode("down")
        for i in range(6):
            response = settle(stack, f"failover-{i}")
            assert response.status_code == 200, response.text
        assert ("closed", "open") in transitions(stack, "horizon-primary")
        assert stack.http.get("/health").json()["breakers"]["horizon-primary"] == "open"

        stack.proxies[0].set_mode("up")
        mark = len(stack.ledger.ledger.access_log(since=0))
        served_while_open = []
        for i in range(3):
            assert settle(stack, f"while-open-{i}").status_code == 200
            served_while_open.append(time.time())

        wait_for(lambda: settle(stack, f"probe-{time.monotonic()}").status_code == 200 and
                 transitions(stack, "horizon-primary")[-1] == ("half_open", "closed"), timeout=20, interval=0.3)
        assert transitions(stack, "horizon-primary")[-2:] == [("open", "half_open"), ("half_open", "closed")]
        hits = primary_hits(stack, mark)
        assert hits  # after recovery the primary serves again
        (opened, ended), = open_windows(stack, "horizon-primary")
        assert any(opened < t < ended for t in served_while_open)  # settlements did succeed while open
        assert [h for h in hits if opened < h["t"] < ended] == []  # ...and none of them reached the primary
        events = stack.events("breaker.transition")
        assert all(isinstance(e["t"], float) and e["seq"] >= 1 for e in events)


def test_both_down_answers_503_fast_with_retry_after_and_decisions_use_the_cache():
    with running_stack(env=NO_LIMITS, **FAST) as stack:
        me = stack.keys[0].public_key
        decision = {"agent_did": DID, "opportunities": [{"id": "o", "type": "loan", "terms": {
            "lender": me, "borrower": stack.keys[9].public_key, "principal": "1", "interestRate": 0.01,
            "durationSeconds": 60, "collateral": "2"}}]}
        assert stack.http.post("/agent/decisions", json=decision).json()["balance"]["source"] == "live"
        for proxy in stack.proxies:
            proxy.set_mode("down")
        statuses = []
        for i in range(6):
            started = time.monotonic()
            response = settle(stack, f"down-{i}")
            statuses.append((response.status_code, time.monotonic() - started))
            assert response.json()["error"] == "unavailable" and int(response.headers["Retry-After"]) >= 1
        # connections refused everywhere: known not sent, 503 at once (no retry backoff), never "unknown"
        assert all(code == 503 and elapsed < 0.5 for code, elapsed in statuses), statuses
        assert stack.http.get("/health").json()["status"] == "degraded"
        cached = stack.http.post("/agent/decisions", json=decision).json()
        assert cached["balance"]["source"] == "cache" and cached["decisions"][0]["action"] == "accept"
        req = stack.http.get("/resources/r").json()["accepts"][0]
        assert req["payTo"]  # challenges need no ledger


@pytest.mark.parametrize("fault, applied_count", [(None, 1), ("retry-without-idempotency", 2)])
def test_unknown_outcome_is_resolved_by_hash_and_never_pays_twice(fault, applied_count):
    with running_stack(fault=fault, env=NO_LIMITS, **FAST) as stack:
        assert settle(stack, "warm-up").status_code == 200
        for proxy in stack.proxies:
            proxy.set_mode("blackhole")
        first = settle(stack, "unknown-1", dest=9)
        assert first.status_code == 504, first.text
        assert first.json()["error"] == "outcome_unknown" and first.json()["tx_hash"]
        if fault is None:
            for proxy in stack.proxies:
                proxy.set_mode("down")
            started = time.monotonic()
            again = settle(stack, "unknown-1", dest=9)
            assert again.status_code == 503 and time.monotonic() - started < 1.0, again.text
            assert again.json()["status"] == "unknown" and again.json()["tx_hash"] == first.json()["tx_hash"]
        for proxy in stack.proxies:
            proxy.set_mode("up")
        time.sleep(1.6)  # let the breakers half-open
        memo = hashlib.sha256(b"unknown-1").hexdigest()
        retry = wait_for(lambda: (r := settle(stack, "unknown-1", dest=9)).status_code == 200 and r, timeout=15)
        assert retry.json()["status"] == "success"
        time.sleep(0.6)
        applied = [r for r in stack.applied() if r["memo_hash"] == memo and r["successful"]]
        assert len(applied) == applied_count if fault is None else len(applied) >= applied_count
        if fault is None:
            assert retry.json()["replayed"] is True and applied[0]["hash"] == retry.json()["tx_hash"]


def test_no_failover_fault_keeps_failing_while_the_secondary_is_healthy():
    with running_stack(fault="no-failover", env=NO_LIMITS, **FAST) as stack:
        assert settle(stack, "warm-up").status_code == 200
        stack.proxies[0].set_mode("down")
        codes = [settle(stack, f"nf-{i}").status_code for i in range(3)]
        assert codes == [503, 503, 503]


def test_breaker_never_opens_fault_hides_the_outage_from_the_feed():
    with running_stack(fault="breaker-never-opens", env=NO_LIMITS, **FAST) as stack:
        stack.proxies[0].set_mode("down")
        for i in range(6):
            assert settle(stack, f"bno-{i}").status_code == 200
        assert transitions(stack, "horizon-primary") == []
