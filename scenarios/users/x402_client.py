"""Client side of the service's x402 v1 `exact` scheme: build the X-PAYMENT header.

The payment is a fully signed classic Stellar payment of `maxAmountRequired` stroops to `payTo`,
memo hash = the challenge's nonce, with a `max_time`; tampering options produce the proofs the
adversarial users send (wrong key, wrong network, expired).
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any

from stellar_sdk import Account, Keypair, TransactionBuilder

from reference_impl.service.settlements import payment_asset

STROOPS_PER_XLM = Decimal(10) ** 7
# Wrong-network proofs are signed for another isolated network, never a real one: nothing a run signs may
# be valid on testnet or mainnet (the run's keys derive from a public seed).
OTHER_NETWORK = "Stellar Resilience Harness Other Network ; 2026"
PAYMENT_TIMEOUT_S = 60  # the payment's max_time is this far ahead


def requirements(challenge: dict[str, Any] | None) -> dict[str, Any] | None:
    """The first `accepts` entry of a 402 challenge body, or None when it is not one."""
    if not isinstance(challenge, dict):
        return None
    accepts = challenge.get("accepts")
    if isinstance(accepts, list) and accepts and isinstance(accepts[0], dict):
        return accepts[0]
    return None


def payment_header(
    req: dict[str, Any],
    payer: Keypair,
    sequence: int,
    *,
    signer: Keypair | None = None,
    passphrase: str | None = None,
    expired: bool = False,
) -> tuple[str, str]:
    """(X-PAYMENT header value, tx hash hex) paying `req` from `payer` with sequence `sequence`."""
    network_passphrase = str(req.get("extra", {}).get("networkPassphrase", ""))
    amount = (Decimal(str(req["maxAmountRequired"])) / STROOPS_PER_XLM).quantize(Decimal("0.0000001"))
    builder = TransactionBuilder(
        Account(payer.public_key, sequence - 1),
        network_passphrase=passphrase or network_passphrase,
        base_fee=100,
    )
    builder.append_payment_op(str(req["payTo"]), payment_asset(str(req.get("asset", "native"))), str(amount))
    builder.add_hash_memo(bytes.fromhex(str(req["extra"]["nonce"])))
    if expired:
        builder.add_time_bounds(0, int(time.time()) - 120)
    else:
        builder.set_timeout(PAYMENT_TIMEOUT_S)
    envelope = builder.build()
    envelope.sign(signer or payer)
    header = {
        "x402Version": 1,
        "scheme": "exact",
        "network": req.get("network"),
        "payload": {"signedTxXdr": envelope.to_xdr()},
    }
    return base64.b64encode(json.dumps(header).encode()).decode(), envelope.hash_hex()
