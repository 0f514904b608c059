"""x402 v2 transport pieces of the service: network names bound to passphrases, the token contract,
the PAYMENT-REQUIRED / PAYMENT-SIGNATURE / PAYMENT-RESPONSE encodings (specs/transports-v2/http.md)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from stellar_sdk import Asset, Keypair

from reference_impl.errors import ConfigurationError
from reference_impl.facilitator.networks import OFFLINE_NETWORK, caip2_network
from reference_impl.service.server_timing import server_timings
from reference_impl.service.x402_v2 import (
    USDC_CONTRACTS,
    Answer,
    PaymentRefusedV2,
    X402V2Gateway,
    asset_contract,
)
from tests.x402_v2_payloads import PASSPHRASE

TESTNET = "Test SDF Network ; September 2015"
PUBNET = "Public Global Stellar Network ; September 2015"


def test_real_passphrases_have_their_names_and_no_other_passphrase_may_take_them() -> None:
    assert caip2_network(TESTNET) == "stellar:testnet" and caip2_network(PUBNET) == "stellar:pubnet"
    assert caip2_network(PASSPHRASE) == OFFLINE_NETWORK == "stellar:offline"
    assert caip2_network(PASSPHRASE, "stellar:local-1") == "stellar:local-1"
    for bad in ("stellar:testnet", "stellar:pubnet", "eip155:1", "stellar:", "stellar:a b"):
        with pytest.raises(ConfigurationError):
            caip2_network(PASSPHRASE, bad)
    with pytest.raises(ConfigurationError):
        caip2_network(TESTNET, "stellar:offline")  # a real network keeps its own name


def test_the_token_is_a_contract_id_or_the_asset_contract_of_an_asset() -> None:
    issuer = Keypair.from_raw_ed25519_seed(bytes(32)).public_key
    sac = Asset("USDC", issuer).contract_id(PASSPHRASE)
    assert asset_contract(f"USDC:{issuer}", OFFLINE_NETWORK, PASSPHRASE) == sac
    assert asset_contract(sac, OFFLINE_NETWORK, PASSPHRASE) == sac
    assert asset_contract("native", OFFLINE_NETWORK, PASSPHRASE) == Asset.native().contract_id(PASSPHRASE)
    assert asset_contract(None, "stellar:testnet", TESTNET) == USDC_CONTRACTS["stellar:testnet"]
    for bad in (None, "USDC", "USDC:GNOTAKEY", ""):
        with pytest.raises(ConfigurationError):
            asset_contract(bad, OFFLINE_NETWORK, PASSPHRASE)


def gateway() -> X402V2Gateway:
    return X402V2Gateway("http://127.0.0.1:9", network=OFFLINE_NETWORK, asset="CTOKEN", pay_to="GPAYTO",
                         amount=100_000, max_timeout_seconds=60, verify_timeout=1.0, settle_timeout=1.0)


def encoded(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_headers_are_base64_json_in_the_v2_shapes() -> None:
    g = gateway()
    required = json.loads(base64.b64decode(g.payment_required("http://h/resources/r", "payment_required")))
    assert required == {"x402Version": 2, "error": "payment_required",
                        "resource": {"url": "http://h/resources/r", "description": "paid resource",
                                     "mimeType": "application/json"},
                        "accepts": [{"scheme": "exact", "network": OFFLINE_NETWORK, "amount": "100000",
                                     "asset": "CTOKEN", "payTo": "GPAYTO", "maxTimeoutSeconds": 60,
                                     "extra": {"areFeesSponsored": True}}]}
    ok = json.loads(base64.b64decode(g.response_header(Answer(True, payer="GP", transaction="ab" * 32))))
    assert ok == {"success": True, "transaction": "ab" * 32, "network": OFFLINE_NETWORK, "payer": "GP"}
    failed = json.loads(base64.b64decode(g.response_header(Answer(False, "duplicate_settlement"))))
    assert failed == {"success": False, "transaction": "", "network": OFFLINE_NETWORK,
                      "errorReason": "duplicate_settlement"}
    asyncio.run(g.aclose())


@pytest.mark.parametrize(("header", "reason"), [
    ("%%%", "invalid_payload"),
    (encoded([1, 2]), "invalid_payload"),
    (encoded({"x402Version": 2, "accepted": {}}), "invalid_payload"),
    (encoded({"x402Version": 1, "payload": {}, "accepted": {}}), "invalid_x402_version"),
    ("A" * 70_000, "invalid_payload"),
])
def test_a_malformed_payment_signature_is_refused_with_its_reason(header: str, reason: str) -> None:
    with pytest.raises(PaymentRefusedV2) as caught:
        gateway().parse(header)
    assert caught.value.reason == reason


def test_accepted_must_equal_the_offered_requirements_exactly() -> None:
    g = gateway()
    good = {"x402Version": 2, "payload": {"transaction": "x"}, "accepted": dict(g.requirements)}
    assert g.parse(encoded(good))["accepted"] == g.requirements
    for field, value in (("amount", "99999"), ("payTo", "GOTHER"), ("asset", "COTHER"), ("network", "stellar:x"),
                         ("extra", {})):
        bent = {**good, "accepted": {**g.requirements, field: value}}
        with pytest.raises(PaymentRefusedV2) as caught:
            g.parse(encoded(bent))
        assert caught.value.reason == "invalid_payment_requirements", field


def test_server_timing_carries_every_value_in_order() -> None:
    assert server_timings({"x402.verify": 11.5, "x402.settle": 0.00001, "x402.handshake.v2": 12.0}) == {
        "Server-Timing": "x402-verify;dur=11.5, x402-settle;dur=0.000010000, x402-handshake-v2;dur=12.0"}
