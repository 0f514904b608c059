"""Domain validators: DID documents, verifiable credentials, payment-channel states, loan terms and
escrow parameters (transactions and x402 payment proofs are in `payment_validators`).

Same contract as `basic_validators`: return the validated value or raise `ValidationError(field,
reason)`, nothing else, for any input. Signatures are not checked here (see `crypto_verification`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from reference_impl.basic_validators import (
    MAX_STROOPS,
    require_int,
    require_mapping,
    require_str,
    validate_amount,
    validate_amount_stroops,
    validate_did,
    validate_party,
    validate_stellar_address,
)
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ValidationError

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
VC_CONTEXTS = ("https://www.w3.org/2018/credentials/v1", "https://www.w3.org/ns/credentials/v2")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
ASSET_PATTERN = re.compile(r"native|[A-Za-z0-9]{1,12}:G[A-Z2-7]{55}", re.ASCII)
_CHANNEL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
_MAX_LIST = 100


def _list_of(value: Any, field: str, allow_single: bool = True, max_items: int = _MAX_LIST) -> list[Any]:
    if allow_single and not isinstance(value, list):
        value = [value]
    if not isinstance(value, list):
        raise ValidationError(field, f"must be a list, not {type(value).__name__}")
    if len(value) > max_items:
        raise ValidationError(field, f"has more than {max_items} entries")
    return value


def _uri(value: Any, field: str) -> str:
    text = require_str(value, field, max_length=2048)
    if ":" not in text or any(ch.isspace() for ch in text):
        raise ValidationError(field, "must be a URI (scheme:...)")
    return text


def _datetime(value: Any, field: str) -> float:
    """An XML Schema / RFC 3339 date-time; returns epoch seconds (no zone means UTC)."""
    text = require_str(value, field, max_length=40, pattern=_DATETIME)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise ValidationError(field, "is not a valid date-time") from None


# -- identity ----------------------------------------------------------------------------------


def validate_did_document(doc: Any, field: str = "didDocument") -> Mapping[str, Any]:
    """A DID Core document: id, optional @context/controller/alsoKnownAs, verification methods,
    verification relationships (references or embedded methods) and services."""
    body: Mapping[str, Any] = require_mapping(doc, field)
    validate_did(body.get("id"), f"{field}.id")
    if "@context" in doc:
        contexts = _list_of(body["@context"], f"{field}.@context")
        if not contexts or contexts[0] != DID_CONTEXT:
            raise ValidationError(f"{field}.@context", f"must start with {DID_CONTEXT}")
    if "controller" in doc:
        for i, controller in enumerate(_list_of(body["controller"], f"{field}.controller")):
            validate_did(controller, f"{field}.controller[{i}]")
    if "alsoKnownAs" in doc:
        for i, alias in enumerate(_list_of(body["alsoKnownAs"], f"{field}.alsoKnownAs", allow_single=False)):
            _uri(alias, f"{field}.alsoKnownAs[{i}]")
    for i, method in enumerate(
        _list_of(body.get("verificationMethod", []), f"{field}.verificationMethod", allow_single=False)
    ):
        _verification_method(method, f"{field}.verificationMethod[{i}]")
    for relation in (
        "authentication",
        "assertionMethod",
        "keyAgreement",
        "capabilityInvocation",
        "capabilityDelegation",
    ):
        if relation in doc:
            for i, entry in enumerate(_list_of(body[relation], f"{field}.{relation}", allow_single=False)):
                where = f"{field}.{relation}[{i}]"
                if isinstance(entry, str):
                    _did_url(entry, where)
                else:
                    _verification_method(entry, where)
    for i, service in enumerate(_list_of(body.get("service", []), f"{field}.service", allow_single=False)):
        service = require_mapping(service, f"{field}.service[{i}]")
        _did_url(service.get("id"), f"{field}.service[{i}].id")
        require_str(service.get("type"), f"{field}.service[{i}].type")
        endpoint = service.get("serviceEndpoint")
        if not isinstance(endpoint, str | Mapping | list):
            raise ValidationError(f"{field}.service[{i}].serviceEndpoint", "must be a URI, map or list")
        if isinstance(endpoint, str):
            _uri(endpoint, f"{field}.service[{i}].serviceEndpoint")
    return body


def _did_url(value: Any, field: str) -> str:
    """A DID URL (``did:…#frag``) or a relative fragment reference (``#key-1``)."""
    text = require_str(value, field, max_length=2048)
    if text.startswith("#") and len(text) > 1:
        return text
    base = re.split(r"[/?#]", text, maxsplit=1)[0]
    validate_did(base, field)
    return text


def _verification_method(value: Any, field: str) -> Mapping[str, Any]:
    method = require_mapping(value, field)
    _did_url(method.get("id"), f"{field}.id")
    require_str(method.get("type"), f"{field}.type")
    validate_did(method.get("controller"), f"{field}.controller")
    keys = [k for k in ("publicKeyMultibase", "publicKeyJwk", "publicKeyBase58") if k in method]
    if len(keys) != 1:
        raise ValidationError(field, "needs exactly one of publicKeyMultibase, publicKeyJwk, publicKeyBase58")
    if keys[0] == "publicKeyJwk":
        require_mapping(method["publicKeyJwk"], f"{field}.publicKeyJwk")
    else:
        require_str(method[keys[0]], f"{field}.{keys[0]}", max_length=1024)
    return method


def validate_verifiable_credential(
    vc: Any, clock: Clock = SYSTEM_CLOCK, field: str = "credential", require_proof: bool = True
) -> Mapping[str, Any]:
    """A W3C VC (data model 1.1 or 2.0): context, type, issuer, subject, proof, currently valid."""
    body: Mapping[str, Any] = require_mapping(vc, field)
    contexts = _list_of(body.get("@context"), f"{field}.@context")
    if not contexts or contexts[0] not in VC_CONTEXTS:
        raise ValidationError(f"{field}.@context", "must start with a W3C credentials context")
    types = _list_of(body.get("type"), f"{field}.type")
    if "VerifiableCredential" not in types or not all(isinstance(t, str) for t in types):
        raise ValidationError(f"{field}.type", "must be strings including VerifiableCredential")
    issuer = body.get("issuer")
    _uri(
        require_mapping(issuer, f"{field}.issuer").get("id") if isinstance(issuer, Mapping) else issuer,
        f"{field}.issuer",
    )
    start_key = "issuanceDate" if "issuanceDate" in body else "validFrom"
    if start_key not in body and contexts[0] == VC_CONTEXTS[0]:
        raise ValidationError(f"{field}.issuanceDate", "is required")
    now = clock.time()
    start = _datetime(body[start_key], f"{field}.{start_key}") if start_key in body else None
    if start is not None and start > now:
        raise ValidationError(f"{field}.{start_key}", "is in the future (credential not yet valid)")
    end_key = "expirationDate" if "expirationDate" in body else "validUntil"
    if end_key in vc:
        end = _datetime(body[end_key], f"{field}.{end_key}")
        if start is not None and end <= start:
            raise ValidationError(f"{field}.{end_key}", "is not after the start of validity")
        if end <= now:
            raise ValidationError(f"{field}.{end_key}", "has passed (credential expired)")
    subjects = _list_of(body.get("credentialSubject"), f"{field}.credentialSubject")
    if not subjects:
        raise ValidationError(f"{field}.credentialSubject", "is required")
    for i, subject in enumerate(subjects):
        subject = require_mapping(subject, f"{field}.credentialSubject[{i}]")
        if "id" in subject:
            _uri(subject["id"], f"{field}.credentialSubject[{i}].id")
    if require_proof or "proof" in vc:
        proofs = _list_of(body.get("proof"), f"{field}.proof")
        if not proofs:
            raise ValidationError(f"{field}.proof", "is required")
        for i, proof in enumerate(proofs):
            _proof(proof, f"{field}.proof[{i}]")
    return body


def _proof(value: Any, field: str) -> None:
    proof = require_mapping(value, field)
    require_str(proof.get("type"), f"{field}.type")
    _did_url(proof.get("verificationMethod"), f"{field}.verificationMethod")
    require_str(proof.get("proofPurpose"), f"{field}.proofPurpose")
    if "created" in proof:
        _datetime(proof["created"], f"{field}.created")
    signature = next((k for k in ("proofValue", "jws") if k in proof), None)
    if signature is None:
        raise ValidationError(field, "needs proofValue or jws")
    require_str(proof[signature], f"{field}.{signature}", max_length=8192)


# -- channels, loans, escrow -------------------------------------------------------------------


def validate_channel_state(
    state: Any, previous: Mapping[str, Any] | None = None, field: str = "channel"
) -> Mapping[str, Any]:
    """``{channelId, sequence, participants: [G1, G2], balances: {G: stroops}, total, signatures:
    {G: base64}}``: balances cover exactly the participants and sum to `total`; every participant has
    a 64-byte signature. With `previous`, same channel/participants/total and a higher sequence."""
    body: Mapping[str, Any] = require_mapping(state, field)
    require_str(body.get("channelId"), f"{field}.channelId", 128, _CHANNEL_ID)
    sequence = require_int(body.get("sequence"), f"{field}.sequence", 0, MAX_STROOPS)
    participants = _list_of(body.get("participants"), f"{field}.participants", allow_single=False)
    if len(participants) != 2:
        raise ValidationError(f"{field}.participants", "must list exactly two accounts")
    for i, who in enumerate(participants):
        validate_stellar_address(who, f"{field}.participants[{i}]")
    if participants[0] == participants[1]:
        raise ValidationError(f"{field}.participants", "must be two different accounts")
    balances = require_mapping(body.get("balances"), f"{field}.balances")
    if set(balances) != set(participants):
        raise ValidationError(f"{field}.balances", "must have one entry per participant")
    total = require_int(body.get("total"), f"{field}.total", 0, MAX_STROOPS)
    held = sum(require_int(balances[p], f"{field}.balances.{p}", 0, MAX_STROOPS) for p in participants)
    if held != total:
        raise ValidationError(f"{field}.balances", f"sum {held} differs from total {total} (not conserved)")
    signatures = require_mapping(body.get("signatures"), f"{field}.signatures")
    for who in participants:
        _signature_bytes(signatures.get(who), f"{field}.signatures.{who}")
    if previous is not None:
        prev = require_mapping(previous, "previous")
        if prev.get("channelId") != body["channelId"] or prev.get("participants") != participants:
            raise ValidationError(f"{field}.channelId", "does not continue the previous state's channel")
        if prev.get("total") != total:
            raise ValidationError(f"{field}.total", "changed since the previous state (not conserved)")
        if isinstance(prev.get("sequence"), bool) or not isinstance(prev.get("sequence"), int):
            raise ValidationError("previous.sequence", "must be an integer")
        if sequence <= prev["sequence"]:
            raise ValidationError(f"{field}.sequence", "must be greater than the previous sequence")
    return body


def _signature_bytes(value: Any, field: str) -> bytes:
    text = require_str(value, field, max_length=128)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(field, "must be base64") from None
    if len(raw) != 64:
        raise ValidationError(field, "must be a 64-byte ed25519 signature")
    return raw


def validate_loan_terms(terms: Any, field: str = "loan") -> dict[str, Any]:
    """``{lender, borrower, principal, interestRate (0..1 per year), durationSeconds (<= 10 years),
    collateral?}``; parties are accounts or DIDs and differ. Returns the terms normalised."""
    body = require_mapping(terms, field)
    lender = validate_party(body.get("lender"), f"{field}.lender")
    borrower = validate_party(body.get("borrower"), f"{field}.borrower")
    if lender == borrower:
        raise ValidationError(f"{field}.borrower", "must differ from the lender")
    rate = body.get("interestRate")
    if isinstance(rate, bool) or not isinstance(rate, int | float | str | Decimal):
        raise ValidationError(f"{field}.interestRate", "must be a number")
    try:
        text = rate if isinstance(rate, str) else str(rate)
        rate_value = Decimal(text) if len(text) <= 32 else Decimal("NaN")
    except (ArithmeticError, ValueError):
        raise ValidationError(f"{field}.interestRate", "must be a number") from None
    if not rate_value.is_finite() or not Decimal(0) <= rate_value <= Decimal(1):
        raise ValidationError(f"{field}.interestRate", "must be between 0 and 1 (annual fraction)")
    out = {
        "lender": lender,
        "borrower": borrower,
        "principal": str(validate_amount(body.get("principal"), f"{field}.principal")),
        "interestRate": str(rate_value),
        "durationSeconds": require_int(
            body.get("durationSeconds"), f"{field}.durationSeconds", 1, 10 * 365 * 86400
        ),
    }
    if "collateral" in body:
        out["collateral"] = str(validate_amount(body["collateral"], f"{field}.collateral"))
    return out


def validate_escrow_params(
    params: Any, clock: Clock = SYSTEM_CLOCK, field: str = "escrow", max_horizon: float = 366 * 86400
) -> dict[str, Any]:
    """``{payer, payee, amount, deadline (unix s, in the future within max_horizon), asset?}``
    for a claimable-balance escrow; payer and payee differ. Returns the params normalised."""
    body = require_mapping(params, field)
    payer = validate_stellar_address(body.get("payer"), f"{field}.payer")
    payee = validate_stellar_address(body.get("payee"), f"{field}.payee")
    if payer == payee:
        raise ValidationError(f"{field}.payee", "must differ from the payer")
    now = clock.time()
    deadline = require_int(body.get("deadline"), f"{field}.deadline", 0, 2**63 - 1)
    if deadline <= now:
        raise ValidationError(f"{field}.deadline", "must be in the future")
    if deadline > now + max_horizon:
        raise ValidationError(f"{field}.deadline", f"is more than {max_horizon:.0f} s ahead")
    asset = require_str(body.get("asset", "native"), f"{field}.asset", 69, ASSET_PATTERN)
    if asset != "native":
        validate_stellar_address(asset.split(":")[1], f"{field}.asset")
    return {
        "payer": payer,
        "payee": payee,
        "amount": str(validate_amount(body.get("amount"), f"{field}.amount")),
        "amountStroops": validate_amount_stroops(body.get("amount"), f"{field}.amount"),
        "deadline": deadline,
        "asset": asset,
    }
