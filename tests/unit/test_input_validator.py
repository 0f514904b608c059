"""Unit tests for InputValidator, the validator functions and cryptographic verification."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from stellar_sdk import Account, Asset, Keypair, Network, TransactionBuilder

from reference_impl.clock import ManualClock
from reference_impl.error_logger import ErrorLogger, ErrorLoggerConfig, ErrorRecord, ErrorSeverity
from reference_impl.errors import CryptoVerificationError, ValidationError
from reference_impl.input_validator import (
    InputValidator,
    canonical_channel_bytes,
    sanitize_string,
    sign_channel_state,
    stroops_to_amount,
    validate_amount,
    validate_amount_stroops,
    validate_channel_state,
    validate_did,
    validate_did_document,
    validate_escrow_params,
    validate_loan_terms,
    validate_payment_proof,
    validate_required_fields,
    validate_stellar_address,
    validate_transaction,
    validate_verifiable_credential,
    verify_channel_state_signatures,
    verify_transaction_signature,
    verify_validity_window,
)

PASS = Network.STANDALONE_NETWORK_PASSPHRASE
PAYER = Keypair.from_raw_ed25519_seed(bytes([1]) * 32)
PAYEE = Keypair.from_raw_ed25519_seed(bytes([2]) * 32)
KEY_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def signed_payment(
    clock: ManualClock, signer: Keypair = PAYER, passphrase: str = PASS, timeout: int = 60
) -> str:
    builder = TransactionBuilder(Account(PAYER.public_key, 7), passphrase, 100)
    builder.append_payment_op(PAYEE.public_key, Asset.native(), "1.5")
    envelope = builder.add_time_bounds(0, int(clock.time()) + timeout).build()
    envelope.sign(signer)
    return envelope.to_xdr()


def x_payment(xdr: str, network: str = "stellar-standalone", **extra: Any) -> str:
    body = {"x402Version": 1, "scheme": "exact", "network": network, "payload": {"signedTxXdr": xdr}, **extra}
    return base64.b64encode(json.dumps(body).encode()).decode()


def channel_state(**changes: Any) -> dict[str, Any]:
    a, b = PAYER.public_key, PAYEE.public_key
    state = {
        "channelId": "ch-1",
        "sequence": 3,
        "participants": [a, b],
        "balances": {a: 60, b: 40},
        "total": 100,
    }
    state.update(changes)
    return sign_channel_state(sign_channel_state(state, PAYER), PAYEE)


# -- amounts, addresses, DIDs, strings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", "1.5000000"),
        ("0.0000001", "0.0000001"),
        (3, "3.0000000"),
        (Decimal("2.10"), "2.1000000"),
        (0.25, "0.2500000"),
    ],
)
def test_valid_amounts(value: Any, expected: str) -> None:
    assert validate_amount(value) == Decimal(expected)


def test_amount_limits_and_stroops() -> None:
    assert validate_amount_stroops("922337203685.4775807") == 2**63 - 1
    assert validate_amount_stroops("1.5") == 15_000_000
    assert stroops_to_amount(15_000_000) == "1.5000000"


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "1.00000001",
        "922337203685.4775808",
        "1e5",
        " 1",
        "abc",
        "",
        True,
        None,
        [],
        0,
        -3,
        float("nan"),
        float("inf"),
        1e-8,
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("1E-30"),
        Decimal("-2"),
        10**40,
        "9" * 10_000,
    ],
)
def test_invalid_amounts(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate_amount(value, "payment.amount")
    assert info.value.field == "payment.amount" and info.value.reason


def test_stellar_address_checksum_and_muxed() -> None:
    good = PAYER.public_key
    assert validate_stellar_address(good) == good
    broken = good[:-1] + ("A" if good[-1] != "A" else "B")
    for bad in (broken, good.lower(), PAYER.secret, good + "A", 123, None, "G" * 56):
        with pytest.raises(ValidationError):
            validate_stellar_address(bad)
    from stellar_sdk import MuxedAccount

    muxed = MuxedAccount(good, 42).account_muxed
    assert validate_stellar_address(muxed, allow_muxed=True) == muxed
    with pytest.raises(ValidationError):
        validate_stellar_address(muxed)


@pytest.mark.parametrize(
    "did",
    [
        "did:stellar:" + PAYER.public_key,
        "did:stellar:testnet:" + PAYER.public_key,
        KEY_DID,
        "did:web:example.com",
        "did:web:example.com%3A8443:users:alice",
        "did:example:123456789abcdefghi",
        "did:ion:EiA-x_y.z",
    ],
)
def test_valid_dids(did: str) -> None:
    assert validate_did(did) == did


@pytest.mark.parametrize(
    "did",
    [
        "did:stellar:GABC",
        "did:key:abc",
        "did:web:-bad-.com",
        "did:Upper:x",
        "did::x",
        "did:x:",
        "did:x:a b",
        "did:x:a#frag",
        "did:x:%zz",
        "did:example:a:",
        "notadid",
        "did:web:example.com%3A99999",
        7,
        None,
        "did:x:" + "a" * 3000,
    ],
)
def test_invalid_dids(did: Any) -> None:
    with pytest.raises(ValidationError):
        validate_did(did)


def test_sanitize_string() -> None:
    assert sanitize_string("  he\x00llo\u200b w\u202eorld \n") == "hello world"
    assert sanitize_string("a\nb", allow_newlines=True) == "a\nb"
    assert sanitize_string("e\u0301") == "\u00e9"
    for bad, kwargs in [("x" * 11, {"max_length": 10}), ("\x00\x01", {}), (b"bytes", {}), (None, {})]:
        with pytest.raises(ValidationError):
            sanitize_string(bad, **kwargs)


def test_required_fields() -> None:
    data = {"a": 1, "b": {"c": "x"}}
    assert validate_required_fields(data, ["a", "b.c"]) is data
    for bad_data, fields in [
        ({"a": None}, ["a"]),
        ({"a": "  "}, ["a"]),
        ({"b": 1}, ["b.c"]),
        ([], ["a"]),
        ({}, [5]),
    ]:
        with pytest.raises(ValidationError):
            validate_required_fields(bad_data, fields)


# -- documents and credentials -----------------------------------------------------------------


def did_document() -> dict[str, Any]:
    did = "did:stellar:" + PAYER.public_key
    method = {
        "id": did + "#key-1",
        "type": "Ed25519VerificationKey2020",
        "controller": did,
        "publicKeyMultibase": "z6Mk",
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [method],
        "authentication": ["#key-1"],
        "assertionMethod": [method],
        "service": [{"id": did + "#pay", "type": "X402", "serviceEndpoint": "http://127.0.0.1:1/pay"}],
    }


def test_did_document() -> None:
    doc = did_document()
    assert validate_did_document(doc) is doc
    broken = [
        {**doc, "id": "nope"},
        {**doc, "@context": ["https://example.com"]},
        {**doc, "verificationMethod": [{**doc["verificationMethod"][0], "publicKeyJwk": {}}]},
        {**doc, "authentication": [5]},
        {**doc, "service": [{"id": "#s", "type": "X", "serviceEndpoint": 5}]},
        {**doc, "verificationMethod": "not-a-list"},
    ]
    for bad in broken:
        with pytest.raises(ValidationError):
            validate_did_document(bad)


def credential(**changes: Any) -> dict[str, Any]:
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential", "AgentCredential"],
        "issuer": {"id": "did:stellar:" + PAYER.public_key},
        "issuanceDate": "2023-01-01T00:00:00Z",
        "expirationDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": KEY_DID, "spendLimit": "100"},
        "proof": {
            "type": "Ed25519Signature2020",
            "created": "2023-01-01T00:00:00Z",
            "verificationMethod": "did:stellar:" + PAYER.public_key + "#key-1",
            "proofPurpose": "assertionMethod",
            "proofValue": "z58DAdF",
        },
    }
    vc.update(changes)
    return vc


def test_verifiable_credential_validity_follows_the_clock() -> None:
    clock = ManualClock(wall_start=1_700_000_000)  # 2023-11-14
    assert validate_verifiable_credential(credential(), clock)["type"][0] == "VerifiableCredential"
    clock.advance(60 * 86400)  # past 2024-01-01
    with pytest.raises(ValidationError, match="expired"):
        validate_verifiable_credential(credential(), clock)


@pytest.mark.parametrize(
    "changes",
    [
        {"type": ["AgentCredential"]},
        {"@context": []},
        {"issuer": "no uri"},
        {"issuanceDate": "2030-01-01T00:00:00Z"},
        {"issuanceDate": "yesterday"},
        {"expirationDate": "2022-01-01T00:00:00Z"},
        {"credentialSubject": []},
        {"proof": {"type": "X"}},
        {"proof": None},
        {"issuanceDate": "2023-02-30T00:00:00Z"},
    ],
)
def test_invalid_credentials(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_verifiable_credential(credential(**changes), ManualClock(wall_start=1_700_000_000))


# -- transactions and payment proofs -----------------------------------------------------------


def test_transaction_forms() -> None:
    clock = ManualClock()
    envelope = validate_transaction(signed_payment(clock), PASS)
    assert envelope.transaction.source.account_id == PAYER.public_key
    body = {
        "source": PAYER.public_key,
        "destination": PAYEE.public_key,
        "amount": "2",
        "memo": "inv-1",
        "fee": 200,
    }
    assert validate_transaction(body)["amount"] == "2.0000000"
    for bad in [
        "AAAA",
        "",
        "é",
        {"source": "x"},
        {**body, "memo": "m" * 29},
        {**body, "asset": "USD:GXX"},
        7,
    ]:
        with pytest.raises(ValidationError):
            validate_transaction(bad, PASS)


def test_payment_proof_parsing_and_requirements() -> None:
    clock = ManualClock()
    header = x_payment(signed_payment(clock))
    proof = validate_payment_proof(header)
    assert (proof.payer, proof.destination, proof.amount_stroops, proof.asset) == (
        PAYER.public_key,
        PAYEE.public_key,
        15_000_000,
        "native",
    )
    assert len(proof.tx_hash) == 64 and proof.network_passphrase == PASS
    assert validate_payment_proof(json.loads(base64.b64decode(header))).tx_hash == proof.tx_hash
    requirements = {"payTo": PAYEE.public_key, "maxAmountRequired": "15000000", "asset": "native"}
    assert validate_payment_proof(header, requirements=requirements) == proof
    for wrong, reason in [
        ({"payTo": PAYER.public_key}, "wrong_recipient"),
        ({"maxAmountRequired": "1"}, "wrong_amount"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            validate_payment_proof(header, requirements={**requirements, **wrong})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: {**b, "x402Version": 2},
        lambda b: {**b, "x402Version": True},
        lambda b: {**b, "scheme": "upto"},
        lambda b: {**b, "network": "base-sepolia"},
        lambda b: {**b, "payload": {}},
        lambda b: {**b, "payload": {"signedTxXdr": "AAAA"}},
        lambda b: {**b, "payload": "x"},
    ],
)
def test_invalid_payment_proofs(mutate: Any) -> None:
    body = json.loads(base64.b64decode(x_payment(signed_payment(ManualClock()))))
    with pytest.raises(ValidationError):
        validate_payment_proof(mutate(body))
    with pytest.raises(ValidationError):
        validate_payment_proof(base64.b64encode(json.dumps(mutate(body)).encode()).decode())


def test_payment_proof_rejects_non_base64_and_non_json() -> None:
    for bad in [
        "***",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1]").decode(),
        b"\xff",
        None,
    ]:
        with pytest.raises(ValidationError):
            validate_payment_proof(bad)


# -- channels, loans, escrow -------------------------------------------------------------------


def test_channel_state_structure_and_continuation() -> None:
    state = channel_state()
    assert validate_channel_state(state) is state
    a, b = PAYER.public_key, PAYEE.public_key
    nxt = channel_state(sequence=4, balances={a: 50, b: 50})
    assert validate_channel_state(nxt, previous=state) is nxt
    for bad in [
        {**state, "balances": {a: 60, b: 41}},
        {**state, "participants": [a, a]},
        {**state, "sequence": -1},
        {**state, "sequence": True},
        {**state, "signatures": {a: state["signatures"][a]}},
        {**state, "signatures": {a: "AAAA", b: "AAAA"}},
        {**state, "channelId": "bad id!"},
    ]:
        with pytest.raises(ValidationError):
            validate_channel_state(bad)
    for bad_next in [
        channel_state(sequence=3),
        channel_state(sequence=5, total=101, balances={a: 61, b: 40}),
    ]:
        with pytest.raises(ValidationError):
            validate_channel_state(bad_next, previous=state)


def test_loan_terms() -> None:
    terms = {
        "lender": PAYER.public_key,
        "borrower": KEY_DID,
        "principal": "100",
        "interestRate": "0.05",
        "durationSeconds": 86400,
        "collateral": 50,
    }
    assert validate_loan_terms(terms)["collateral"] == "50.0000000"
    for bad in [
        {**terms, "borrower": PAYER.public_key},
        {**terms, "interestRate": 1.5},
        {**terms, "interestRate": "x"},
        {**terms, "interestRate": 10**5000},
        {**terms, "durationSeconds": 0},
        {**terms, "principal": "-1"},
    ]:
        with pytest.raises(ValidationError):
            validate_loan_terms(bad)


def test_escrow_params_use_the_clock() -> None:
    clock = ManualClock()
    now = int(clock.time())
    params = {"payer": PAYER.public_key, "payee": PAYEE.public_key, "amount": "5", "deadline": now + 3600}
    assert validate_escrow_params(params, clock)["amountStroops"] == 50_000_000
    for bad in [
        {**params, "deadline": now},
        {**params, "deadline": now + 10**9},
        {**params, "payee": PAYER.public_key},
        {**params, "asset": "USDC"},
        {**params, "deadline": 1.5},
    ]:
        with pytest.raises(ValidationError):
            validate_escrow_params(bad, clock)
    clock.advance(3601)
    with pytest.raises(ValidationError, match="future"):
        validate_escrow_params(params, clock)


# -- cryptographic verification ----------------------------------------------------------------


def test_transaction_signature_right_and_wrong() -> None:
    clock = ManualClock()
    xdr = signed_payment(clock)
    assert verify_transaction_signature(xdr, PASS, PAYER.public_key).hash_hex()
    with pytest.raises(CryptoVerificationError, match="expected signer"):
        verify_transaction_signature(xdr, PASS, PAYEE.public_key)
    with pytest.raises(CryptoVerificationError, match="does not verify"):
        verify_transaction_signature(xdr, Network.TESTNET_NETWORK_PASSPHRASE, PAYER.public_key)
    with pytest.raises(CryptoVerificationError):
        verify_transaction_signature(signed_payment(clock, signer=PAYEE), PASS, PAYER.public_key)
    with pytest.raises(ValidationError):
        verify_transaction_signature(xdr, PASS, "not-a-key")


def test_validity_window() -> None:
    clock = ManualClock()
    xdr = signed_payment(clock, timeout=30)
    verify_validity_window(xdr, PASS, clock)
    clock.advance(30)
    verify_validity_window(xdr, PASS, clock)
    clock.advance(1)
    with pytest.raises(CryptoVerificationError, match="expired"):
        verify_validity_window(xdr, PASS, clock)
    unbounded = (
        TransactionBuilder(Account(PAYER.public_key, 1), PASS, 100)
        .append_payment_op(PAYEE.public_key, Asset.native(), "1")
        .add_time_bounds(0, 0)
        .build()
    )
    with pytest.raises(CryptoVerificationError, match="upper time bound"):
        verify_validity_window(unbounded.to_xdr(), PASS, clock)
    assert verify_validity_window(unbounded.to_xdr(), PASS, clock, require_bounds=False)


def test_channel_signatures_and_canonical_bytes() -> None:
    state = channel_state()
    assert verify_channel_state_signatures(state) is state
    assert (
        canonical_channel_bytes(state)
        == json.dumps(
            {k: v for k, v in state.items() if k != "signatures"}, sort_keys=True, separators=(",", ":")
        ).encode()
    )
    a, b = PAYER.public_key, PAYEE.public_key
    with pytest.raises(CryptoVerificationError):
        verify_channel_state_signatures({**state, "balances": {a: 59, b: 41}})
    other = Keypair.random()
    forged = sign_channel_state({k: v for k, v in state.items() if k != "signatures"}, other)
    forged["signatures"] = {a: forged["signatures"][other.public_key], b: state["signatures"][b]}
    with pytest.raises(CryptoVerificationError, match=a):
        verify_channel_state_signatures(forged)
    with pytest.raises(ValidationError):
        canonical_channel_bytes({"x": float("nan")})
    with pytest.raises(ValidationError):
        sign_channel_state(state, Keypair.from_public_key(a))


def test_input_validator_logs_low_and_critical_and_alerts() -> None:
    clock = ManualClock()
    alerts: list[ErrorRecord] = []
    logger = ErrorLogger(ErrorLoggerConfig(console=False, alert_sink=alerts.append), clock=clock)
    validator = InputValidator(clock=clock, error_logger=logger)
    header = x_payment(signed_payment(clock, timeout=10))
    assert validator.verify_payment_proof(header).payer == PAYER.public_key
    with pytest.raises(ValidationError):
        validator.validate_amount("-1")
    clock.advance(11)
    with pytest.raises(CryptoVerificationError):
        validator.verify_payment_proof(header)
    with pytest.raises(CryptoVerificationError):
        validator.verify_payment_proof(x_payment(signed_payment(clock, signer=PAYEE)))
    low, critical = (
        logger.get_records(severity=ErrorSeverity.LOW),
        logger.get_records(severity=ErrorSeverity.CRITICAL),
    )
    assert [r.context["field"] for r in low] == ["amount"]
    assert len(critical) == 2 and alerts == critical
    assert PAYER.secret not in json.dumps([r.to_dict() for r in logger.get_records()])
