"""Settlements and escrow on the real stack: ledger inclusion, memo = sha256(Idempotency-Key),
idempotent retries, failures logged exactly once HIGH, validation before any ledger effect,
concurrent settlements from the account pool."""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from stellar_sdk import Keypair

from tests.integration.test_service_support import running_stack

pytestmark = pytest.mark.timeout(90)
DID = "did:web:agent.example.com"


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:
        yield s


def settle(stack, body, key=None, api_key="settle-tests"):
    headers = {"X-API-Key": api_key}
    if key is not None:
        headers["Idempotency-Key"] = key
    return stack.http.post("/settlements", json=body, headers=headers)


def tx_records(stack):
    return [r for r in stack.components.error_logger.get_records() if r.category == "transaction"]


def test_settlement_is_included_with_memo_of_the_idempotency_key(stack):
    dest = stack.keys[7].public_key
    response = settle(stack, {"destination": dest, "amount": "2.5", "agent_did": DID}, key="order-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["replayed"] is False and body["ledger"] >= 1
    assert body["amount"] == "2.5000000" and body["finality_ms"] > 0
    assert response.headers["server-timing"] == f"settlement-finality;dur={float(body['finality_ms'])!r}"
    applied = [r for r in stack.applied() if r["hash"] == body["tx_hash"]]
    assert len(applied) == 1 and applied[0]["successful"] and applied[0]["ledger"] == body["ledger"]
    assert applied[0]["memo_hash"] == hashlib.sha256(b"order-1").hexdigest()
    assert applied[0]["operations"][0]["destination"] == dest
    assert stack.http.get(f"/settlements/{body['settlement_id']}").json()["status"] == "success"


def test_repeated_idempotency_key_returns_the_first_outcome_and_never_pays_twice(stack):
    body = {"destination": stack.keys[8].public_key, "amount": "1", "agent_did": DID}
    first = settle(stack, body, key="order-2").json()
    again = settle(stack, body, key="order-2").json()
    assert again["replayed"] is True and again["tx_hash"] == first["tx_hash"]
    assert again["settlement_id"] == first["settlement_id"]
    memo = hashlib.sha256(b"order-2").hexdigest()
    assert len([r for r in stack.applied() if r["memo_hash"] == memo]) == 1
    conflict = settle(stack, {**body, "amount": "2"}, key="order-2")
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_key_reused"


def test_failed_transaction_gets_422_and_exactly_one_high_record(stack):
    before = len(tx_records(stack))
    response = settle(stack, {"destination": Keypair.random().public_key, "amount": "1", "agent_did": DID},
                      key="order-3")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "transaction_failed" and body["result_codes"]["transaction"] == "tx_failed"
    assert body["result_codes"]["operations"] == ["op_no_destination"]
    records = tx_records(stack)[before:]
    assert len(records) == 1 and records[0].severity.name == "HIGH"
    ctx = records[0].context
    assert ctx["settlement_id"] == body["settlement_id"] and ctx["tx_hash"] == body["tx_hash"]
    assert ctx["agent_did"] == DID
    again = settle(stack, {"destination": body["destination"], "amount": "1",
                           "agent_did": DID}, key="order-3")
    assert again.status_code == 422 and again.json()["replayed"] is True
    assert len(tx_records(stack)) == before + 1
    events = [e for e in stack.events("error.record") if e["data"]["category"] == "transaction"]
    assert events[-1]["data"]["context"]["settlement_id"] == body["settlement_id"]


@pytest.mark.parametrize("body, field", [
    ({"destination": "GABC", "amount": "1", "agent_did": DID}, "destination"),
    ({"destination": None, "amount": "1", "agent_did": DID}, "body.destination"),
    ({"amount": "1", "agent_did": DID}, "body.destination"),
    ({"destination": "KEY", "amount": "1.00000001", "agent_did": DID}, "amount"),
    ({"destination": "KEY", "amount": "-1", "agent_did": DID}, "amount"),
    ({"destination": "KEY", "amount": "1", "agent_did": "not-a-did"}, "agent_did"),
    ({"destination": "KEY", "amount": "1"}, "agent_did"),
    ({"destination": "KEY", "amount": "1", "agent_did": DID, "asset": "USD"}, "asset"),
    ({"destination": "KEY", "amount": "1", "agent_did": DID, "extra": 1}, "extra"),
])
def test_invalid_settlements_are_400_with_the_field_and_touch_nothing(stack, body, field):
    if body.get("destination") == "KEY":
        body = {**body, "destination": stack.keys[9].public_key}
    applied_before = len(stack.applied())
    response = settle(stack, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["field"] == field
    assert len(stack.applied()) == applied_before


def test_non_json_and_oversized_bodies_are_refused(stack):
    response = stack.http.post("/settlements", content=b"{not json", headers={"X-API-Key": "junk"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    big = stack.http.post("/settlements", content=b"[" + b"1," * 40000 + b"1]", headers={"X-API-Key": "junk"})
    assert big.status_code == 413 and big.json()["error"] == "payload_too_large"
    bad_key = settle(stack, {"destination": stack.keys[9].public_key, "amount": "1", "agent_did": DID}, key="bad key!")
    assert bad_key.status_code == 400 and bad_key.json()["field"] == "Idempotency-Key"
    assert stack.http.get("/settlements/stl_unknown").status_code == 404


def test_concurrent_settlements_from_the_pool_all_land_once(stack):
    dest = stack.keys[10].public_key

    def one(i):
        return settle(stack, {"destination": dest, "amount": "0.1", "agent_did": DID}, key=f"burst-{i}",
                      api_key=f"burst-{i}")

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(one, range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    hashes = {r.json()["tx_hash"] for r in responses}
    assert len(hashes) == 12
    applied = [r for r in stack.applied() if r["hash"] in hashes]
    assert len(applied) == 12 and all(r["successful"] for r in applied)
    per_source: dict[str, list[int]] = {}
    for r in applied:
        per_source.setdefault(r["source"], []).append(int(r["seq"]))
    assert set(per_source) <= {stack.keys[0].public_key, stack.keys[1].public_key}
    assert all(len(s) == len(set(s)) for s in per_source.values())
    # one transaction in flight per pool account: core never had to refuse the service (canAdd)
    busy = [r for r in stack.ledger.ledger.history() if r["kind"] == "submission"
            and r["outcome"] == "try_again_later" and r["source"] in per_source]
    assert busy == []
    per_close = Counter((r["ledger"], r["source"]) for r in applied)
    assert max(per_close.values()) == 1


def test_escrow_creates_a_claimable_balance_with_two_time_windows(stack):
    payee = stack.keys[9].public_key
    response = stack.http.post("/contracts/escrow", headers={"Idempotency-Key": "escrow-1"}, json={
        "agent_did": DID, "payee": payee, "amount": "5", "deadline_seconds": 3600,
        "loan_terms": {"lender": stack.keys[3].public_key, "borrower": payee, "principal": "5",
                       "interestRate": 0.05, "durationSeconds": 86400}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and len(body["balance_id"]) == 72 and body["execution_ms"] > 0
    balance = stack.ledger_get(f"/claimable_balances/{body['balance_id']}")
    assert balance.status_code == 200
    claimants = {c["destination"] for c in balance.json()["claimants"]}
    assert claimants == {payee, stack.keys[3].public_key}
    again = stack.http.post("/contracts/escrow", headers={"Idempotency-Key": "escrow-1"}, json={
        "agent_did": DID, "payee": payee, "amount": "5", "deadline_seconds": 3600,
        "loan_terms": {"lender": stack.keys[3].public_key, "borrower": payee, "principal": "5",
                       "interestRate": 0.05, "durationSeconds": 86400}})
    assert again.json()["replayed"] is True and again.json()["balance_id"] == body["balance_id"]


@pytest.mark.parametrize("patch, field", [
    ({"deadline_seconds": 0}, "deadline_seconds"),
    ({"payee": "ESCROW"}, "escrow.payee"),
    ({"amount": "0"}, "escrow.amount"),
    ({"loan_terms": {"lender": "x"}}, "loan_terms.lender"),
])
def test_invalid_escrow_is_400(stack, patch, field):
    body = {"agent_did": DID, "payee": stack.keys[9].public_key, "amount": "5", "deadline_seconds": 60, **patch}
    if body["payee"] == "ESCROW":
        body["payee"] = stack.keys[3].public_key
    response = stack.http.post("/contracts/escrow", json=body)
    assert response.status_code == 400 and response.json()["field"] == field
