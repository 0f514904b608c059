"""Nothing a run signs is valid on a real network: the load clients' payments (valid and tampered)
verify for the offline network (or the tamperers' other isolated one) and never for mainnet,
testnet or futurenet."""

from __future__ import annotations

import base64
import json

import pytest
from stellar_sdk import Keypair

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.genesis import offline_asset
from scenarios.users.x402_client import OTHER_NETWORK, payment_header
from tests.signatures import REAL_PASSPHRASES, verified_signatures

PAYER, STRANGER, PAY_TO = (Keypair.from_raw_ed25519_seed(bytes([i]) * 32) for i in (1, 2, 3))
KEYS = [PAYER.public_key, STRANGER.public_key]


def requirement(asset: str) -> dict:
    return {"scheme": "exact", "network": "stellar-standalone", "maxAmountRequired": "100000", "asset": asset,
            "payTo": PAY_TO.public_key, "extra": {"nonce": "ab" * 32, "networkPassphrase": OFFLINE_PASSPHRASE}}


VARIANTS = {  # name -> (payment_header options, the passphrase its signature is valid for)
    "valid": ({}, OFFLINE_PASSPHRASE),
    "wrong_key": ({"signer": STRANGER}, OFFLINE_PASSPHRASE),
    "wrong_network": ({"passphrase": OTHER_NETWORK}, OTHER_NETWORK),
    "expired": ({"expired": True}, OFFLINE_PASSPHRASE),
}


@pytest.mark.parametrize("asset", ["native", offline_asset(LedgerConfig())])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_payment_a_run_signs_is_valid_on_a_real_network(variant, asset):
    options, signed_for = VARIANTS[variant]
    header, _ = payment_header(requirement(asset), PAYER, 42, **options)
    xdr = json.loads(base64.b64decode(header))["payload"]["signedTxXdr"]
    assert verified_signatures(xdr, signed_for, KEYS) == 1  # the check can see a valid signature
    for passphrase in REAL_PASSPHRASES:
        assert verified_signatures(xdr, passphrase, KEYS) == 0, f"{variant} verifies on {passphrase}"


def test_the_tamperers_other_network_is_not_a_real_one():
    assert OTHER_NETWORK not in REAL_PASSPHRASES and OTHER_NETWORK != OFFLINE_PASSPHRASE
