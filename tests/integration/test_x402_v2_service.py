"""x402 v2 end to end on the paid route: the service's PAYMENT-REQUIRED, the Python client's payment,
the facilitator's verification and settlement through Soroban RPC behind the fault proxies, the
Stellar Asset Contract's transfer on the offline ledger, and every tampering refused with its
reason and log severity (specs/transports-v2/http.md, specs/schemes/exact/scheme_exact_stellar.md)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults.client import FaultSpec
from reference_impl.facilitator.networks import OFFLINE_NETWORK
from scenarios.users.x402_v2_client import Tamper, decode_header, pay
from tests.integration.x402_v2_stack import V2Stack, v2_stack

pytestmark = pytest.mark.timeout(240)
PRICE = 100_000


@pytest.fixture(scope="module")
def stack() -> Iterator[V2Stack]:
    with v2_stack() as running:
        yield running


@pytest.fixture
def http(stack: V2Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.service_url, timeout=30) as client:
        yield client


def challenge(http: httpx.Client, path: str = "/resources/r1") -> httpx.Response:
    resp = http.get(path)
    assert resp.status_code == 402
    return resp


def paid(stack: V2Stack, http: httpx.Client, payer_index: int = 0, tamper: Tamper | None = None,
         path: str = "/resources/r1") -> tuple[httpx.Response, str]:
    value, _ = pay(stack.rpc(), challenge(http, path).headers, stack.payers[payer_index], tamper=tamper)
    return http.get(path, headers={"PAYMENT-SIGNATURE": value}), value


def records_since(stack: V2Stack, http: httpx.Client, start: int) -> list[dict[str, Any]]:
    return [e["data"] for e in stack.events(http)[start:] if e["kind"] == "error.record"]


def test_the_challenge_offers_v1_in_the_body_and_v2_in_payment_required(stack: V2Stack, http: httpx.Client) -> None:
    resp = challenge(http)
    assert resp.json()["x402Version"] == 1 and resp.json()["accepts"][0]["scheme"] == "exact"
    required = decode_header(resp.headers, "PAYMENT-REQUIRED")
    assert required is not None and required["x402Version"] == 2
    assert required["resource"]["url"].endswith("/resources/r1")
    assert required["accepts"] == [{"scheme": "exact", "network": OFFLINE_NETWORK, "amount": str(PRICE),
                                    "asset": stack.usdc_contract, "payTo": stack.pay_to, "maxTimeoutSeconds": 60,
                                    "extra": {"areFeesSponsored": True}}]


def test_a_v2_payment_is_served_after_its_transfer_is_on_the_ledger(stack: V2Stack, http: httpx.Client) -> None:
    payer = stack.payers[0].public_key
    before = stack.usdc_balance(payer), stack.usdc_balance(stack.pay_to)
    resp, _ = paid(stack, http)
    assert resp.status_code == 200, resp.text
    receipt = decode_header(resp.headers, "PAYMENT-RESPONSE")
    assert receipt == {"success": True, "transaction": resp.json()["transaction"], "network": OFFLINE_NETWORK,
                       "payer": payer}
    tx = next(r for r in stack.applied() if r["hash"] == receipt["transaction"])  # applied before the answer
    assert tx["successful"] and tx["source"] in {k.public_key for k in stack.keys[4:8]}  # a facilitator account
    (op,) = tx["operations"]
    assert (op["type"], op["function"], op["from"], op["destination"], op["contract"]) == (
        "invoke_host_function", "transfer", payer, stack.pay_to, stack.usdc_contract)
    assert (stack.usdc_balance(payer), stack.usdc_balance(stack.pay_to)) == (before[0] - PRICE, before[1] + PRICE)
    timing = resp.headers["Server-Timing"]
    assert [entry.split(";")[0].strip() for entry in timing.split(",")] == [
        "x402-verify", "x402-settle", "x402-handshake-v2"]


TAMPER_REASONS = {
    "wrong_amount": ("invalid_exact_stellar_payload_wrong_amount", "LOW"),
    "wrong_pay_to": ("invalid_exact_stellar_payload_wrong_recipient", "LOW"),
    "wrong_asset": ("invalid_exact_stellar_payload_wrong_asset", "LOW"),
    "expired": ("invalid_exact_stellar_signature_expired", "CRITICAL"),
    "wrong_network": ("invalid_exact_stellar_payload_signature", "CRITICAL"),
}


@pytest.mark.parametrize("kind", sorted(TAMPER_REASONS))
def test_each_tampering_is_refused_logged_and_never_settled(stack: V2Stack, http: httpx.Client, kind: str) -> None:
    reason, severity = TAMPER_REASONS[kind]
    start, applied = len(stack.events(http)), len(stack.applied())
    resp, _ = paid(stack, http, payer_index=1, tamper=Tamper(kind, stack.keys[0].public_key))
    assert resp.status_code == 402 and resp.json()["error"] == reason
    assert decode_header(resp.headers, "PAYMENT-REQUIRED")["error"] == reason
    logged = [r for r in records_since(stack, http, start) if r["context"].get("code") == reason]
    assert [r["severity"] for r in logged] == [severity]
    assert len(stack.applied()) == applied  # the facilitator submitted nothing


def test_a_replayed_payment_is_refused_as_a_duplicate(stack: V2Stack, http: httpx.Client) -> None:
    first, value = paid(stack, http, payer_index=2)
    assert first.status_code == 200
    start = len(stack.events(http))
    again = http.get("/resources/r1", headers={"PAYMENT-SIGNATURE": value})
    assert again.status_code == 402 and again.json()["error"] == "duplicate_settlement"
    assert [(r["severity"], r["category"]) for r in records_since(stack, http, start)] == [("MEDIUM", "replay")]


def test_accepted_must_be_the_offered_requirements(stack: V2Stack, http: httpx.Client) -> None:
    value, _ = pay(stack.rpc(), challenge(http).headers, stack.payers[3])
    payload = json.loads(base64.b64decode(value))
    payload["accepted"]["amount"] = str(PRICE - 1)
    resp = http.get("/resources/r1", headers={"PAYMENT-SIGNATURE": base64.b64encode(json.dumps(payload).encode())})
    assert resp.status_code == 402 and resp.json()["error"] == "invalid_payment_requirements"


def test_the_facilitator_refuses_to_be_the_source_and_lists_what_it_supports(stack: V2Stack) -> None:
    supported = httpx.get(f"{stack.facilitator_url}/supported").json()
    assert supported["kinds"] == [{"x402Version": 2, "scheme": "exact", "network": OFFLINE_NETWORK,
                                   "extra": {"areFeesSponsored": True}}]
    assert set(supported["signers"]["stellar:*"]) == {k.public_key for k in stack.keys[4:8]}
    bad = httpx.post(f"{stack.facilitator_url}/verify", json={"paymentPayload": {}})
    assert bad.status_code == 400


def test_latency_on_the_proxies_slows_settlement_but_loses_nothing(stack: V2Stack, http: httpx.Client) -> None:
    names = [stack.faults.apply(FaultSpec(proxy, "latency", attributes={"latency": 300, "jitter": 20}))
             for proxy in ("horizon-primary", "horizon-secondary")]
    try:
        resp, _ = paid(stack, http, payer_index=4)
    finally:
        for name, proxy in zip(names, ("horizon-primary", "horizon-secondary"), strict=True):
            stack.faults.remove(name, proxy)
    assert resp.status_code == 200
    assert any(r["hash"] == resp.json()["transaction"] and r["successful"] for r in stack.applied())


def test_both_rpc_proxies_down_is_a_fast_503_and_nothing_is_sent(stack: V2Stack, http: httpx.Client) -> None:
    value, _ = pay(stack.rpc(), challenge(http).headers, stack.payers[5])
    applied = len(stack.applied())
    for proxy in ("horizon-primary", "horizon-secondary"):
        stack.faults.down(proxy)
    try:
        resp = http.get("/resources/r1", headers={"PAYMENT-SIGNATURE": value})
    finally:
        for proxy in ("horizon-primary", "horizon-secondary"):
            stack.faults.up(proxy)
    assert resp.status_code == 503 and "Retry-After" in resp.headers
    assert len(stack.applied()) == applied
    again = http.get("/resources/r1", headers={"PAYMENT-SIGNATURE": value})  # the payment was not consumed
    assert again.status_code == 200, again.text
