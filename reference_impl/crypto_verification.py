"""Cryptographic verification: transaction signatures, validity windows, channel-state signatures.

Structural problems raise `ValidationError`; a failed cryptographic check (wrong key, tampered bytes,
another network passphrase, outside the validity window) raises `CryptoVerificationError`.

Canonical channel-state bytes: ``json.dumps(state_without_signatures, sort_keys=True,
separators=(",", ":"))`` encoded as UTF-8 (ASCII escapes, so the bytes are stable).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from stellar_sdk import FeeBumpTransactionEnvelope, Keypair, TransactionEnvelope

from reference_impl.basic_validators import (
    parse_transaction_envelope,
    require_mapping,
    validate_stellar_address,
)
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.domain_validators import validate_channel_state
from reference_impl.errors import CryptoVerificationError, ValidationError

Envelope = TransactionEnvelope | FeeBumpTransactionEnvelope


def _envelope(value: Any, network_passphrase: str, field: str) -> Envelope:
    if isinstance(value, TransactionEnvelope | FeeBumpTransactionEnvelope):
        if value.network_passphrase != network_passphrase:
            raise CryptoVerificationError(field, "was built for another network passphrase")
        return value
    return parse_transaction_envelope(value, network_passphrase, field)


def _public_key(value: Any, field: str) -> Keypair:
    return Keypair.from_public_key(validate_stellar_address(value, field))


def verify_transaction_signature(
    envelope_xdr: Any,
    network_passphrase: str,
    expected_signer_public_key: Any,
    field: str = "transaction",
) -> Envelope:
    """The envelope carries a valid ed25519 signature by the expected signer over its hash for
    `network_passphrase` (another passphrase gives another hash, so the check fails)."""
    if not isinstance(network_passphrase, str) or not network_passphrase:
        raise ValidationError("network_passphrase", "must be a non-empty string")
    envelope = _envelope(envelope_xdr, network_passphrase, field)
    signer = _public_key(expected_signer_public_key, "signer")
    hint = signer.signature_hint()
    candidates = [sig for sig in envelope.signatures if sig.signature_hint == hint]
    if not candidates:
        raise CryptoVerificationError(f"{field}.signatures", "no signature from the expected signer")
    try:
        tx_hash = envelope.hash()
    except Exception:  # re-serialising a decoded envelope should not fail; treat it as invalid
        raise ValidationError(field, "cannot be hashed") from None
    for candidate in candidates:
        if _verifies(signer, tx_hash, candidate.signature):
            return envelope
    raise CryptoVerificationError(
        f"{field}.signatures", "signature does not verify for this transaction and network passphrase"
    )


def _verifies(signer: Keypair, message: bytes, signature: bytes) -> bool:
    try:
        signer.verify(message, signature)
        return True
    except Exception:  # BadSignatureError, or a malformed signature length
        return False


def verify_validity_window(
    envelope_xdr: Any,
    network_passphrase: str,
    clock: Clock = SYSTEM_CLOCK,
    require_bounds: bool = True,
    field: str = "transaction",
) -> Envelope:
    """`clock.time()` lies within the transaction's time bounds (min_time <= now <= max_time).

    Stellar rejects a transaction whose ledger closes after max_time (``tx_too_late``); an unbounded
    max_time (0) is refused when `require_bounds`."""
    envelope = _envelope(envelope_xdr, network_passphrase, field)
    if isinstance(envelope, FeeBumpTransactionEnvelope):
        tx = envelope.transaction.inner_transaction_envelope.transaction
    else:
        tx = envelope.transaction
    bounds = tx.preconditions.time_bounds if tx.preconditions is not None else None
    now = clock.time()
    if bounds is None or bounds.max_time == 0:
        if require_bounds:
            raise CryptoVerificationError(f"{field}.timeBounds", "has no upper time bound")
        if bounds is None:
            return envelope
    if now < bounds.min_time:
        raise CryptoVerificationError(f"{field}.timeBounds", "is not valid yet (before min_time)")
    if bounds.max_time != 0 and now > bounds.max_time:
        raise CryptoVerificationError(f"{field}.timeBounds", "has expired (after max_time)")
    return envelope


def canonical_channel_bytes(state: Any, field: str = "channel") -> bytes:
    """The bytes channel participants sign: the state minus ``signatures`` as canonical JSON."""
    body = require_mapping(state, field)
    unsigned = {key: value for key, value in body.items() if key != "signatures"}
    try:
        text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise ValidationError(field, "is not JSON-serialisable") from None
    return text.encode("utf-8")


def sign_channel_state(state: Mapping[str, Any], keypair: Keypair) -> dict[str, Any]:
    """A copy of `state` with `keypair`'s base64 signature added under its public key."""
    if not isinstance(keypair, Keypair) or not keypair.can_sign():
        raise ValidationError("keypair", "must be a Keypair holding a secret")
    signature = keypair.sign(canonical_channel_bytes(state))
    signed = dict(state)
    signatures = dict(signed.get("signatures") or {})
    signatures[keypair.public_key] = base64.b64encode(signature).decode("ascii")
    signed["signatures"] = signatures
    return signed


def verify_channel_state_signatures(
    state: Any, pubkeys: Sequence[str] | None = None, field: str = "channel"
) -> Mapping[str, Any]:
    """Each required signer (default: the participants) signed the canonical bytes of `state`."""
    checked: Mapping[str, Any] = validate_channel_state(state, field=field)
    if pubkeys is not None and not isinstance(pubkeys, list | tuple):
        raise ValidationError("pubkeys", "must be a list of account ids")
    signers = list(checked["participants"]) if pubkeys is None else list(pubkeys)
    if not signers:
        raise ValidationError("pubkeys", "at least one signer is required")
    message = canonical_channel_bytes(checked, field)
    signatures = checked["signatures"]
    for i, who in enumerate(signers):
        key = _public_key(who, f"pubkeys[{i}]")
        encoded = signatures.get(who)
        if not isinstance(encoded, str):
            raise CryptoVerificationError(f"{field}.signatures.{who}", "is missing")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CryptoVerificationError(f"{field}.signatures.{who}", "is not base64") from None
        if not _verifies(key, message, raw):
            raise CryptoVerificationError(
                f"{field}.signatures.{who}", "does not verify over the channel state"
            )
    return checked
