"""x402 on the real stack: challenge, paid request settled on the ledger, and every refusal with its
reason code and log severity (crypto -> CRITICAL + alert, replay -> MEDIUM, the rest LOW)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from stellar_sdk import Keypair

from tests.integration.test_service_support import TESTNET, running_stack, wait_for, x402_header

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:
        yield s


def challenge(stack, name="report", key="x402-tests"):
    response = stack.http.get(f"/resources/{name}", headers={"X-API-Key": key})
    assert response.status_code == 402
    return response.json()


def records(stack, category=None):
    return [r for r in stack.components.error_logger.get_records() if category is None or r.category == category]


def pay(stack, header, name="report", key="x402-tests"):
    return stack.http.get(f"/resources/{name}", headers={"X-PAYMENT": header, "X-API-Key": key})


def test_challenge_carries_requirements_and_a_fresh_nonce(stack):
    first, second = challenge(stack), challenge(stack)
    req = first["accepts"][0]
    assert first["x402Version"] == 1 and first["error"] == "payment_required"
    assert req["scheme"] == "exact" and req["asset"] == "native" and req["payTo"] == stack.keys[2].public_key
    assert req["maxAmountRequired"] == "100000" and req["maxTimeoutSeconds"] == 60
    assert req["resource"].endswith("/resources/report") and req["network"] == "stellar-standalone"
    assert len(req["extra"]["nonce"]) == 64 and req["extra"]["nonce"] != second["accepts"][0]["extra"]["nonce"]


def test_paid_request_is_served_and_settled_once_then_replays_are_refused(stack):
    payer = stack.keys[4]
    req = challenge(stack)["accepts"][0]
    header = x402_header(req, payer, stack.sequence(payer.public_key) + 1)
    response = pay(stack, header)
    assert response.status_code == 200, response.text
    body = response.json()
    receipt = json.loads(base64.b64decode(response.headers["X-PAYMENT-RESPONSE"]))
    assert receipt["success"] is True and receipt["payer"] == payer.public_key
    assert receipt["transaction"] == body["transaction"]
    settled = wait_for(lambda: stack.http.get(f"/settlements/{body['settlement_id']}").json()["status"] == "success")
    assert settled
    applied = [r for r in stack.applied() if r["hash"] == body["transaction"]]
    assert len(applied) == 1 and applied[0]["successful"]
    assert applied[0]["memo_hash"] == req["extra"]["nonce"]

    replay = pay(stack, header)
    assert replay.status_code == 402
    assert replay.json()["error"] == "invalid_exact_stellar_payload_replay"
    replay_records = records(stack, "replay")
    assert replay_records and all(r.severity.name == "MEDIUM" for r in replay_records)
    time.sleep(0.6)  # a couple of closes: the replay must not have been applied again
    assert len([r for r in stack.applied() if r["hash"] == body["transaction"]]) == 1


@pytest.mark.parametrize("bend, reason", [
    ({"tamper": True}, "invalid_exact_stellar_payload_signature"),
    ({"passphrase": TESTNET}, "invalid_exact_stellar_payload_signature"),
    ({"max_time": 1_000_000}, "invalid_exact_stellar_payload_expired"),
    ({"network": "stellar-testnet"}, "invalid_network"),
])
def test_crypto_failures_are_refused_logged_critical_and_alerted(stack, bend, reason):
    payer = stack.keys[5]
    req = challenge(stack)["accepts"][0]
    before_critical = len(records(stack, "crypto"))
    before_alerts = len(stack.events("alert"))
    response = pay(stack, x402_header(req, payer, stack.sequence(payer.public_key) + 1, **bend))
    assert response.status_code == 402
    assert response.json()["error"] == reason
    assert json.loads(base64.b64decode(response.headers["X-PAYMENT-RESPONSE"]))["success"] is False
    crypto = records(stack, "crypto")
    assert len(crypto) == before_critical + 1 and crypto[-1].severity.name == "CRITICAL"
    alerts = stack.events("alert")
    assert len(alerts) == before_alerts + 1 and alerts[-1]["data"]["record_id"] == crypto[-1].id


@pytest.mark.parametrize("bend, reason", [
    ({"amount_stroops": 99_999}, "invalid_exact_stellar_payload_wrong_amount"),
    ({"pay_to": Keypair.random().public_key}, "invalid_exact_stellar_payload_wrong_recipient"),
    ({"nonce": "ab" * 32}, "invalid_exact_stellar_payload_unknown_nonce"),
])
def test_mismatched_payments_are_refused_with_reason_codes_and_logged_low(stack, bend, reason):
    payer = stack.keys[5]
    req = challenge(stack)["accepts"][0]
    before = len(records(stack, "validation"))
    before_crypto = len(records(stack, "crypto"))
    response = pay(stack, x402_header(req, payer, stack.sequence(payer.public_key) + 1, **bend))
    assert response.status_code == 402 and response.json()["error"] == reason
    assert response.json()["accepts"][0]["extra"]["nonce"] != req["extra"]["nonce"]
    assert len(records(stack, "validation")) == before + 1
    assert len(records(stack, "crypto")) == before_crypto


def test_unfunded_payer_and_spent_sequence_are_refused(stack):
    req = challenge(stack)["accepts"][0]
    ghost = Keypair.random()
    response = pay(stack, x402_header(req, ghost, 1))
    assert response.status_code == 402 and response.json()["error"] == "insufficient_funds"
    payer = stack.keys[6]
    req = challenge(stack)["accepts"][0]
    stale = pay(stack, x402_header(req, payer, stack.sequence(payer.public_key)))
    assert stale.status_code == 402 and stale.json()["error"] == "invalid_transaction_state"


@pytest.mark.parametrize("header", ["not base64!!", base64.b64encode(b"[1,2]").decode(),
                                    base64.b64encode(json.dumps({"x402Version": 2}).encode()).decode()])
def test_malformed_headers_are_refused_without_server_errors(stack, header):
    response = pay(stack, header)
    assert response.status_code == 402
    assert response.json()["error"] in ("invalid_payload", "invalid_x402_version")


def test_nonce_is_bound_to_its_resource(stack):
    payer = stack.keys[6]
    req = challenge(stack, name="alpha")["accepts"][0]
    response = pay(stack, x402_header(req, payer, stack.sequence(payer.public_key) + 1), name="beta")
    assert response.status_code == 402 and response.json()["error"] == "invalid_exact_stellar_payload_unknown_nonce"


def test_bad_resource_name_is_a_400(stack):
    response = stack.http.get("/resources/" + "x" * 65)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_a_payment_refused_by_the_ledger_is_logged_medium_not_high(stack):
    payer = stack.keys[11]
    seq = stack.sequence(payer.public_key) + 1
    headers = [x402_header(challenge(stack, name=f"double-{i}")["accepts"][0], payer, seq) for i in range(2)]
    bodies = [pay(stack, h, name=f"double-{i}").json() for i, h in enumerate(headers)]
    assert all("settlement_id" in b for b in bodies)  # both verified: the sequence was unused at the time

    def settled():
        states = [stack.http.get(f"/settlements/{b['settlement_id']}").json() for b in bodies]
        return states if all(s["status"] in ("success", "failed") for s in states) else None

    outcomes = wait_for(settled)
    assert sorted(s["status"] for s in outcomes) == ["failed", "success"]
    failed = next(s for s in outcomes if s["status"] == "failed")
    assert failed["result_codes"]["transaction"] == "tx_bad_seq"
    refused = [r for r in records(stack, "transaction_refused") if r.context["tx_hash"] == failed["tx_hash"]]
    assert len(refused) == 1 and refused[0].severity.name == "MEDIUM"
    assert not [r for r in records(stack, "transaction") if r.context.get("tx_hash") == failed["tx_hash"]]


def test_a_client_flooding_challenges_holds_only_its_quota_and_evicts_nobody(stack):
    payer = stack.keys[7]
    kept = challenge(stack, name="kept")["accepts"][0]  # another client's nonce, issued before the flood
    before = stack.http.get("/health").json()["state"]["x402_nonces"]
    flood = [challenge(stack, name="flood", key="burst-3")["accepts"][0] for _ in range(40)]
    after = stack.http.get("/health").json()["state"]["x402_nonces"]
    assert after["per_client"] == 16 and after["size"] - before["size"] <= 16
    oldest = pay(stack, x402_header(flood[0], payer, stack.sequence(payer.public_key) + 1), name="flood",
                 key="burst-3")
    assert oldest.status_code == 402 and oldest.json()["error"] == "invalid_exact_stellar_payload_unknown_nonce"
    served = pay(stack, x402_header(kept, payer, stack.sequence(payer.public_key) + 1), name="kept")
    assert served.status_code == 200, served.text


def test_a_full_nonce_store_answers_503_and_keeps_every_issued_nonce():
    with running_stack(env={"SRH__PAYMENT__X402__MAX_ISSUED_NONCES": "3"}) as s:
        held = [challenge(s, key=f"burst-{i}") for i in range(3)]
        full = s.http.get("/resources/report", headers={"X-API-Key": "burst-9"})
        assert full.status_code == 503 and full.json()["error"] == "store_full"
        assert 1 <= int(full.headers["Retry-After"]) <= 60
        payer = s.keys[5]
        answer = pay(s, x402_header(held[0]["accepts"][0], payer, s.sequence(payer.public_key) + 1), key="burst-0")
        assert answer.status_code == 200, answer.text

