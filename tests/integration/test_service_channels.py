"""Payment-channel updates and agent decisions on the real service."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from stellar_sdk import Keypair

from tests.integration.test_service_support import channel_state, running_stack

pytestmark = pytest.mark.timeout(90)
DID = "did:web:agent.example.com"


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:
        yield s


@pytest.fixture(scope="module")
def parties():
    return Keypair.random(), Keypair.random()


def update(stack, channel_id, state):
    return stack.http.post(f"/channels/{channel_id}/updates", json=state, headers={"X-API-Key": "channels"})


def test_channel_opens_and_accepts_increasing_conserving_updates(stack, parties):
    a, b = parties
    first = update(stack, "ch-1", channel_state("ch-1", 1, a, b, 700, 300))
    assert first.status_code == 200, first.text
    assert first.json() == {"channelId": "ch-1", "sequence": 1, "total": 1000, "accepted": True,
                            "balances": {a.public_key: 700, b.public_key: 300}}
    second = update(stack, "ch-1", channel_state("ch-1", 5, a, b, 400, 600))
    assert second.status_code == 200 and second.json()["sequence"] == 5
    assert stack.components.channels.latest("ch-1")["sequence"] == 5


@pytest.mark.parametrize("make, code", [
    (lambda a, b: channel_state("ch-2", 2, a, b, 500, 500), "stale_sequence"),
    (lambda a, b: channel_state("ch-2", 9, a, b, 500, 600), "total_not_conserved"),
    (lambda a, b: channel_state("ch-2", 9, a, Keypair.random(), 500, 500), "party_mismatch"),
])
def test_updates_that_do_not_continue_the_channel_are_409(stack, parties, make, code):
    a, b = parties
    assert update(stack, "ch-2", channel_state("ch-2", 3, a, b, 500, 500)).status_code in (200, 409)
    response = update(stack, "ch-2", make(a, b))
    assert response.status_code == 409 and response.json()["error"] == code
    assert stack.components.channels.latest("ch-2")["sequence"] == 3


def test_bad_signatures_are_401_and_critical(stack, parties):
    a, b = parties
    mallory = Keypair.random()
    state = channel_state("ch-3", 1, a, b, 10, 10, signers=(a,))
    state["signatures"][b.public_key] = channel_state("ch-3", 1, a, b, 10, 10,
                                                      signers=(mallory,))["signatures"][mallory.public_key]
    crypto_before = [r for r in stack.components.error_logger.get_records() if r.category == "crypto"]
    response = update(stack, "ch-3", state)
    assert response.status_code == 401 and response.json()["error"] == "invalid_signature"
    crypto = [r for r in stack.components.error_logger.get_records() if r.category == "crypto"]
    assert len(crypto) == len(crypto_before) + 1 and crypto[-1].severity.name == "CRITICAL"
    tampered = channel_state("ch-3", 1, a, b, 10, 10)
    tampered["balances"][a.public_key] = 11
    tampered["balances"][b.public_key] = 9
    assert update(stack, "ch-3", tampered).status_code == 401
    assert stack.components.channels.latest("ch-3") is None


@pytest.mark.parametrize("mutate, field", [
    (lambda s: s.pop("participants"), "state.participants"),
    (lambda s: s.update(total=5), "state.balances"),
    (lambda s: s.update(sequence=-1), "state.sequence"),
    (lambda s: s.update(channelId="other"), "state.channelId"),
    (lambda s: s.update(signatures={}), None),
])
def test_malformed_states_are_400(stack, parties, mutate, field):
    a, b = parties
    state = channel_state("ch-4", 1, a, b, 1, 1)
    mutate(state)
    response = update(stack, "ch-4", state)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    if field is not None:
        assert response.json()["field"] == field


def test_concurrent_updates_on_one_channel_are_serialised(stack, parties):
    a, b = parties
    states = [channel_state("ch-5", seq, a, b, seq, 100 - seq) for seq in range(1, 41)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda s: update(stack, "ch-5", s).status_code, reversed(states)))
    assert set(codes) <= {200, 409} and codes.count(200) >= 1
    latest = stack.components.channels.latest("ch-5")
    assert latest["sequence"] == 40 and latest["balances"][a.public_key] == 40


def opportunity_loan(ident, lender, borrower, principal, rate, collateral=None):
    terms = {"lender": lender, "borrower": borrower, "principal": principal, "interestRate": rate,
             "durationSeconds": 30 * 86400}
    if collateral is not None:
        terms["collateral"] = collateral
    return {"id": ident, "type": "loan", "terms": terms}


def test_decisions_apply_limits_and_risk_tolerance(stack):
    me, other = stack.keys[0].public_key, stack.keys[9].public_key
    body = {"agent_did": DID, "opportunities": [
        opportunity_loan("safe", me, other, "10", 0.05, collateral="20"),
        opportunity_loan("greedy", me, other, "10", 0.9),
        opportunity_loan("huge", me, other, "5000", 0.05, collateral="10000"),
        {"id": "esc", "type": "escrow", "escrow": {"payer": me, "payee": other, "amount": "3",
                                                    "deadline": int(time.time()) + 86400}},
    ]}
    response = stack.http.post("/agent/decisions", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    by_id = {d["id"]: d for d in result["decisions"]}
    assert by_id["safe"]["action"] == "accept" and by_id["safe"]["reasons"] == []
    assert "risk_above_tolerance" in by_id["greedy"]["reasons"]
    assert "exceeds_limit" in by_id["huge"]["reasons"]
    assert all(0 <= d["risk_score"] <= 1 for d in result["decisions"])
    assert result["balance"]["source"] == "live" and result["balance"]["account"] == me
    assert result["decision_ms"] >= 0


@pytest.mark.parametrize("body, field", [
    ({"agent_did": DID, "opportunities": []}, "opportunities"),
    ({"agent_did": DID, "opportunities": [{"id": "x", "type": "swap"}]}, "opportunities[0].type"),
    ({"agent_did": DID, "opportunities": [{"id": "x", "type": "loan", "terms": {}}]},
     "opportunities[0].terms.lender"),
    ({"agent_did": DID, "account": "G123", "opportunities": [{"id": "x", "type": "loan"}]}, "account"),
])
def test_invalid_decision_requests_are_400(stack, body, field):
    response = stack.http.post("/agent/decisions", json=body)
    assert response.status_code == 400 and response.json()["field"] == field


def test_daily_limit_counts_accepted_amounts_per_agent():
    env = {"SRH__AGENT__DAILY_LIMIT": "15", "SRH__AGENT__MAX_OPERATION_AMOUNT": "10"}
    with running_stack(env=env) as s:
        me, other = s.keys[0].public_key, s.keys[9].public_key

        def decide(agent):
            body = {"agent_did": agent, "opportunities": [opportunity_loan("l", me, other, "10", 0.01, "30")]}
            return s.http.post("/agent/decisions", json=body).json()["decisions"][0]

        assert decide(DID)["action"] == "accept"
        second = decide(DID)
        assert second["action"] == "reject" and second["reasons"] == ["exceeds_daily_limit"]
        assert decide("did:web:other.example.com")["action"] == "accept"


def test_channel_quota_per_client_and_the_configured_bound():
    env = {"SRH__PAYMENT__CHANNELS__MAX_OPEN_CHANNELS": "3", "SRH__PAYMENT__CHANNELS__MAX_CHANNELS_PER_CLIENT": "2"}
    with running_stack(env=env) as s:
        def open_channel(channel_id, api_key=None):
            a, b = Keypair.random(), Keypair.random()
            headers = {"X-API-Key": api_key} if api_key else {}
            return s.http.post(f"/channels/{channel_id}/updates", json=channel_state(channel_id, 1, a, b, 5, 5),
                               headers=headers)

        assert [open_channel(f"k{i}", "channels").status_code for i in range(2)] == [200, 200]
        over = open_channel("k2", "channels")
        assert over.status_code == 403 and over.json()["error"] == "quota_exceeded"
        assert open_channel("anon-0", "fresh-key-0").status_code == 200  # anonymous: one client by address
        full = open_channel("anon-1", "fresh-key-1")
        assert full.status_code == 503 and full.json()["error"] == "store_full" and "Retry-After" in full.headers
        assert len(s.components.channels) == 3 and s.components.channels.latest("k0") is not None

