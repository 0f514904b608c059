"""Money paths on the real service. Settlements the ledger accepts at submission and fails when it applies them (op_underfunded, fee
charged): the service answers the failure truthfully and a retry with the same Idempotency-Key gets
that answer, never a new transaction; the `resubmits-failed-tx` fault pays a second one.

stellar-core checks only the fee against the source's balance when a transaction enters the queue
(src/transactions/TransactionFrame.cpp `commonValidPreSeqNum`: txINSUFFICIENT_BALANCE on the fee) and
the payment's amount when it applies (src/transactions/PaymentOpFrame.cpp `doApply` -> PathPaymentStrictReceive,
PAYMENT_UNDERFUNDED), having charged the fee first (`processFeeSeqNum`).
Also: failed transactions never open a breaker; an escrow retried while in flight is created once; of two
channel states with one sequence one is refused. Each with the deliberate fault that breaks it.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from stellar_sdk import Keypair

from tests.integration.test_service_support import channel_state, running_stack

pytestmark = pytest.mark.timeout(90)
DID = "did:web:agent.example.com"
OVERDRAWN_AMOUNT = "900000000"  # scenarios/users/settler.py's; importing it would start gevent's patching


def overdraw(stack, key: str):
    body = {"destination": stack.keys[7].public_key, "amount": OVERDRAWN_AMOUNT, "agent_did": DID}
    return stack.http.post("/settlements", json=body, headers={"X-API-Key": "settle-tests", "Idempotency-Key": key})


def ledger_txs(stack, key: str) -> list[dict]:
    memo = hashlib.sha256(key.encode()).hexdigest()
    return [r for r in stack.applied() if r["memo_hash"] == memo]


def test_an_underfunded_settlement_fails_on_the_ledger_once_and_its_retry_gets_the_same_answer():
    with running_stack() as stack:
        first = overdraw(stack, "overdrawn-1")
        assert first.status_code == 422, first.text
        body = first.json()
        assert body["error"] == "transaction_failed" and body["result_codes"]["operations"] == ["op_underfunded"]
        [applied] = ledger_txs(stack, "overdrawn-1")
        assert applied["hash"] == body["tx_hash"] and applied["successful"] is False
        assert applied["fee_charged"] == 100  # failed on the ledger: the fee is charged all the same
        again = overdraw(stack, "overdrawn-1")
        assert again.status_code == 422 and again.json()["replayed"] is True
        assert again.json()["tx_hash"] == body["tx_hash"]
        assert len(ledger_txs(stack, "overdrawn-1")) == 1


def test_the_resubmits_failed_tx_fault_pays_a_retry_of_a_failed_settlement_again():
    with running_stack(fault="resubmits-failed-tx") as stack:
        first = overdraw(stack, "overdrawn-2").json()
        again = overdraw(stack, "overdrawn-2")
        assert again.status_code == 422 and again.json()["replayed"] is False
        txs = ledger_txs(stack, "overdrawn-2")
        assert [t["hash"] for t in txs] == [first["tx_hash"], again.json()["tx_hash"]]
        assert all(t["successful"] is False and t["fee_charged"] == 100 for t in txs)


def failing_settlements(stack, prefix: str, n: int) -> None:
    for i in range(n):
        body = {"destination": stack.keys[7].public_key, "amount": OVERDRAWN_AMOUNT, "agent_did": DID}
        response = stack.http.post("/settlements", json=body,
                                   headers={"X-API-Key": "settle-tests", "Idempotency-Key": f"{prefix}-{i}"})
        assert response.status_code in (422, 503), response.text


def test_failed_transactions_never_open_a_breaker_but_do_under_the_breaker_opens_spuriously_fault():
    # FAST_ENV: 3 failures among 4 calls open a breaker; 6 ledger-failed settlements are 6+ calls, all healthy
    with running_stack() as stack:
        failing_settlements(stack, "healthy", 6)
        assert set(stack.components.client.breaker_states().values()) == {"closed"}
    with running_stack(fault="breaker-opens-spuriously") as stack:
        failing_settlements(stack, "spurious", 6)
        assert stack.components.client.breaker_states()["horizon-primary"] != "closed"


def impatient_escrow(stack, key: str) -> list[dict]:
    """The first request, and 0.2 s later (the client timed out; a ledger close is 1 s) its retry, same key."""
    body = {"agent_did": DID, "payee": stack.keys[9].public_key, "amount": "2", "deadline_seconds": 3600}

    def post() -> dict:
        response = stack.http.post("/contracts/escrow", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post)
        time.sleep(0.2)
        assert not first.done()
        retry = pool.submit(post)
        return [retry.result(), first.result()]


def test_an_escrow_retried_while_in_flight_is_created_once_and_twice_under_the_fault():
    with running_stack(close_interval=1.0) as stack:
        retry, first = impatient_escrow(stack, "impatient-1")
        assert retry["escrow_id"] == first["escrow_id"] and retry["replayed"] is True
        assert len(ledger_txs(stack, "impatient-1")) == 1
    with running_stack(close_interval=1.0, fault="escrow-ignores-key-after-timeout") as stack:
        retry, first = impatient_escrow(stack, "impatient-2")
        assert retry["escrow_id"] != first["escrow_id"]
        assert len([t for t in ledger_txs(stack, "impatient-2") if t["successful"]]) == 2


def race(stack, channel_id: str) -> list[int]:
    """Open a channel at sequence 1, then send two different states with sequence 2 at once."""
    a, b = Keypair.random(), Keypair.random()
    post = lambda state: stack.http.post(f"/channels/{channel_id}/updates", json=state,  # noqa: E731
                                         headers={"X-API-Key": "channels"}).status_code
    assert post(channel_state(channel_id, 1, a, b, 700, 300)) == 200
    with ThreadPoolExecutor(2) as pool:
        return sorted(pool.map(post, [channel_state(channel_id, 2, a, b, 600, 400),
                                      channel_state(channel_id, 2, a, b, 650, 350)]))


def test_of_two_conflicting_channel_states_one_is_refused_and_both_pass_under_the_fault():
    with running_stack() as stack:
        assert race(stack, "race-1") == [200, 409]
    with running_stack(fault="channel-accepts-conflicts") as stack:
        assert race(stack, "race-2") == [200, 200]
