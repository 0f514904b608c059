"""Transaction and x402 payment-proof validators (structure only; signatures are checked in
`crypto_verification`). Same contract: return the validated value or raise `ValidationError`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stellar_sdk import FeeBumpTransactionEnvelope, Network, TransactionEnvelope
from stellar_sdk.operation import Payment

from reference_impl.basic_validators import (
    MAX_XDR_LENGTH,
    STROOPS_PER_UNIT,
    parse_transaction_envelope,
    require_int,
    require_mapping,
    require_str,
    validate_amount,
    validate_stellar_address,
)
from reference_impl.domain_validators import ASSET_PATTERN
from reference_impl.errors import ValidationError

X402_NETWORKS: Mapping[str, str] = {
    "stellar-testnet": Network.TESTNET_NETWORK_PASSPHRASE,
    "stellar": Network.PUBLIC_NETWORK_PASSPHRASE,
    "stellar-standalone": Network.STANDALONE_NETWORK_PASSPHRASE,
}
"""x402 v1 network names for the Stellar classic-payment `exact` variant, with their passphrases."""


# -- transactions and payments -----------------------------------------------------------------


def validate_transaction(
    tx: Any, network_passphrase: str = Network.TESTNET_NETWORK_PASSPHRASE, field: str = "transaction"
) -> TransactionEnvelope | FeeBumpTransactionEnvelope | dict[str, Any]:
    """A base64 XDR envelope (decoded for `network_passphrase`) or the service's JSON form
    ``{source, destination, amount, asset?="native", memo?, fee?}`` (returned normalised)."""
    if isinstance(tx, str):
        return parse_transaction_envelope(tx, network_passphrase, field)
    body = require_mapping(tx, field)
    out: dict[str, Any] = {
        "source": validate_stellar_address(body.get("source"), f"{field}.source", allow_muxed=True),
        "destination": validate_stellar_address(
            body.get("destination"), f"{field}.destination", allow_muxed=True
        ),
        "amount": str(validate_amount(body.get("amount"), f"{field}.amount")),
        "asset": require_str(body.get("asset", "native"), f"{field}.asset", 69, ASSET_PATTERN),
    }
    if out["asset"] != "native":
        validate_stellar_address(out["asset"].split(":")[1], f"{field}.asset")
    if "memo" in body:
        memo = require_str(body["memo"], f"{field}.memo", max_length=28)
        if len(memo.encode("utf-8", errors="replace")) > 28:
            raise ValidationError(f"{field}.memo", "must be at most 28 bytes")
        out["memo"] = memo
    if "fee" in body:
        out["fee"] = require_int(body["fee"], f"{field}.fee", 100, 2**32 - 1)
    return out


@dataclass(frozen=True)
class PaymentProof:
    """A structurally valid x402 v1 ``exact`` Stellar payment (signatures not yet verified)."""

    x402_version: int
    scheme: str
    network: str
    network_passphrase: str
    signed_tx_xdr: str
    envelope: TransactionEnvelope
    tx_hash: str
    payer: str
    destination: str
    amount_stroops: int
    asset: str


def validate_payment_proof(
    proof: Any,
    networks: Mapping[str, str] = X402_NETWORKS,
    requirements: Mapping[str, Any] | None = None,
    field: str = "payment",
) -> PaymentProof:
    """An X-PAYMENT value (base64 JSON, or the decoded mapping) ``{x402Version: 1, scheme: "exact",
    network, payload: {signedTxXdr}}`` carrying one classic payment. With x402 `requirements`
    (``payTo``, ``maxAmountRequired`` in stroops, ``asset``, ``network``) the payment must match them."""
    body = require_mapping(_decode_header(proof, field) if isinstance(proof, str | bytes) else proof, field)
    version = body.get("x402Version")
    if isinstance(version, bool) or not isinstance(version, int) or version != 1:
        raise ValidationError(f"{field}.x402Version", "invalid_x402_version: must be 1")
    if body.get("scheme") != "exact":
        raise ValidationError(f"{field}.scheme", "unsupported_scheme: must be 'exact'")
    network = body.get("network")
    if not isinstance(network, str) or network not in networks:
        raise ValidationError(f"{field}.network", f"invalid_network: must be one of {sorted(networks)}")
    payload = require_mapping(body.get("payload"), f"{field}.payload")
    xdr = payload.get("signedTxXdr")
    envelope = parse_transaction_envelope(xdr, networks[network], f"{field}.payload.signedTxXdr")
    if not isinstance(envelope, TransactionEnvelope):
        raise ValidationError(f"{field}.payload.signedTxXdr", "fee-bump envelopes are not accepted")
    tx = envelope.transaction
    if len(tx.operations) != 1 or not isinstance(tx.operations[0], Payment):
        raise ValidationError(f"{field}.payload.signedTxXdr", "must hold exactly one payment operation")
    if not envelope.signatures:
        raise ValidationError(f"{field}.payload.signedTxXdr", "is not signed")
    op = tx.operations[0]
    asset = "native" if op.asset.is_native() else f"{op.asset.code}:{op.asset.issuer}"
    result = PaymentProof(
        x402_version=1,
        scheme="exact",
        network=network,
        network_passphrase=networks[network],
        signed_tx_xdr=str(xdr),
        envelope=envelope,
        tx_hash=envelope.hash_hex(),
        payer=(op.source or tx.source).account_id,
        destination=op.destination.account_id,
        amount_stroops=int(Decimal(op.amount) * STROOPS_PER_UNIT),
        asset=asset,
    )
    if requirements is not None:
        _match_requirements(result, requirements, field)
    return result


def _decode_header(value: str | bytes, field: str) -> Any:
    if len(value) > 2 * MAX_XDR_LENGTH:
        raise ValidationError(field, "is too large")
    try:
        return json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise ValidationError(field, "invalid_payload: not base64-encoded JSON") from None


def _match_requirements(proof: PaymentProof, requirements: Mapping[str, Any], field: str) -> None:
    req = require_mapping(requirements, "paymentRequirements")
    if "network" in req and req["network"] != proof.network:
        raise ValidationError(f"{field}.network", "invalid_network: does not match the requirements")
    if "payTo" in req and req["payTo"] != proof.destination:
        raise ValidationError(f"{field}.payload", "invalid_exact_stellar_payload_wrong_recipient")
    if "asset" in req and req["asset"] != proof.asset:
        raise ValidationError(f"{field}.payload", "invalid_exact_stellar_payload_wrong_asset")
    if "maxAmountRequired" in req:
        wanted = req["maxAmountRequired"]
        if not (isinstance(wanted, str) and wanted.isascii() and wanted.isdigit() and len(wanted) < 20):
            raise ValidationError("paymentRequirements.maxAmountRequired", "must be a stroop count string")
        if proof.amount_stroops != int(wanted):
            raise ValidationError(f"{field}.payload", "invalid_exact_stellar_payload_wrong_amount")
