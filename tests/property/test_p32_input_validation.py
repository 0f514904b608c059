"""Property 32: for any input, every validator returns a value or raises `ValidationError`;
nothing else escapes, and what is accepted is really valid (addresses carry a correct StrKey
checksum, amounts are positive, at most 7 decimals and within int64 stroops).

Inputs: recursive JSON, arbitrary Python objects, text, bytes, malformed JSON and base64, and
near-valid documents (a valid example with one field replaced by junk or removed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from stellar_sdk import Account, Asset, Keypair, Network, StrKey, TransactionBuilder

from reference_impl import input_validator as iv
from reference_impl.basic_validators import MAX_AMOUNT
from reference_impl.clock import ManualClock
from reference_impl.crypto_verification import sign_channel_state
from reference_impl.error_logger import ErrorLogger, ErrorLoggerConfig
from reference_impl.errors import ValidationError
from reference_impl.input_validator import InputValidator
from tests.property.mutants_logger_validator import P32_MUTANTS

PASS = Network.STANDALONE_NETWORK_PASSPHRASE
CLOCK = ManualClock()
A = Keypair.from_raw_ed25519_seed(bytes(range(32)))
B = Keypair.from_raw_ed25519_seed(bytes(range(1, 33)))


def _payment_xdr() -> str:
    builder = TransactionBuilder(Account(A.public_key, 1), PASS, 100)
    builder.append_payment_op(B.public_key, Asset.native(), "2.5")
    envelope = builder.add_time_bounds(0, int(CLOCK.time()) + 600).build()
    envelope.sign(A)
    return envelope.to_xdr()


XDR = _payment_xdr()
FACADE = InputValidator(clock=CLOCK, error_logger=ErrorLogger(ErrorLoggerConfig(console=False), clock=CLOCK))
VALID: dict[str, Any] = {
    "validate_amount": "12.5",
    "validate_stellar_address": A.public_key,
    "validate_did": "did:stellar:" + A.public_key,
    "validate_did_document": {
        "@context": "https://www.w3.org/ns/did/v1",
        "id": "did:stellar:" + A.public_key,
        "verificationMethod": [
            {
                "id": "#k1",
                "type": "Ed25519VerificationKey2020",
                "controller": "did:web:a.example",
                "publicKeyMultibase": "z6",
            }
        ],
        "authentication": ["#k1"],
    },
    "validate_verifiable_credential": {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "did:web:issuer.example",
        "validFrom": "2023-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:stellar:" + B.public_key},
        "proof": {
            "type": "DataIntegrityProof",
            "verificationMethod": "#k1",
            "proofPurpose": "assertionMethod",
            "proofValue": "z1",
        },
    },
    "validate_transaction": {"source": A.public_key, "destination": B.public_key, "amount": "1", "memo": "m"},
    "validate_payment_proof": {
        "x402Version": 1,
        "scheme": "exact",
        "network": "stellar-standalone",
        "payload": {"signedTxXdr": XDR},
    },
    "validate_channel_state": sign_channel_state(
        sign_channel_state(
            {
                "channelId": "c1",
                "sequence": 1,
                "participants": [A.public_key, B.public_key],
                "balances": {A.public_key: 7, B.public_key: 3},
                "total": 10,
            },
            A,
        ),
        B,
    ),
    "validate_loan_terms": {
        "lender": A.public_key,
        "borrower": B.public_key,
        "principal": "5",
        "interestRate": "0.1",
        "durationSeconds": 60,
    },
    "validate_escrow_params": {
        "payer": A.public_key,
        "payee": B.public_key,
        "amount": "1",
        "deadline": int(CLOCK.time()) + 60,
    },
    "sanitize_string": "hello",
    "validate_required_fields": {"a": 1, "b": {"c": 2}},
    "verify_transaction_signature": XDR,
}
VALID["InputValidator.verify_payment_proof"] = VALID["validate_payment_proof"]
VALID["InputValidator.validate_escrow_params"] = VALID["validate_escrow_params"]

VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "validate_amount": iv.validate_amount,
    "validate_amount_stroops": iv.validate_amount_stroops,
    "validate_stellar_address": iv.validate_stellar_address,
    "validate_muxed_address": lambda v: iv.validate_stellar_address(v, allow_muxed=True),
    "validate_did": iv.validate_did,
    "validate_did_document": iv.validate_did_document,
    "validate_verifiable_credential": lambda v: iv.validate_verifiable_credential(v, CLOCK),
    "validate_transaction": lambda v: iv.validate_transaction(v, PASS),
    "validate_payment_proof": iv.validate_payment_proof,
    "validate_channel_state": iv.validate_channel_state,
    "validate_loan_terms": iv.validate_loan_terms,
    "validate_escrow_params": lambda v: iv.validate_escrow_params(v, CLOCK),
    "sanitize_string": iv.sanitize_string,
    "validate_required_fields": lambda v: iv.validate_required_fields(v, ["a", "b.c"]),
    "verify_transaction_signature": lambda v: iv.verify_transaction_signature(v, PASS, A.public_key),
    "verify_validity_window": lambda v: iv.verify_validity_window(v, PASS, CLOCK),
    "verify_channel_state_signatures": iv.verify_channel_state_signatures,
    "canonical_channel_bytes": iv.canonical_channel_bytes,
    "InputValidator.verify_payment_proof": FACADE.verify_payment_proof,
    "InputValidator.validate_escrow_params": FACADE.validate_escrow_params,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
python_junk = st.one_of(
    st.binary(max_size=40),
    st.decimals(),
    st.complex_numbers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.tuples(st.integers(), st.text(max_size=5)),
    st.frozensets(st.integers(), max_size=3),
    st.dictionaries(st.integers() | st.none(), st.integers(), max_size=3),
    st.builds(object),
    st.just(float("nan")),
    st.just(Decimal("sNaN")),
    st.sampled_from([[], {}, (), "", b"", 0, -1, True, None, Ellipsis, type]),
)
weird_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.text(
    alphabet="G MSdi:z0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ234567%.#-_", max_size=80
)
malformed_json = st.one_of(
    json_values.map(lambda v: json.dumps(v)[:-1]),
    json_values.map(lambda v: base64.b64encode(json.dumps(v).encode()).decode()),
    st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=60).map(lambda t: base64.b64encode(t.encode("utf-8", "surrogatepass")).decode()),
)


def corrupt_address(address: str) -> st.SearchStrategy[str]:
    """One character of a valid address replaced by another base32 character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return (
        st.tuples(st.integers(0, len(address) - 1), st.sampled_from(alphabet))
        .filter(lambda p: address[p[0]] != p[1])
        .map(lambda p: address[: p[0]] + p[1] + address[p[0] + 1 :])
    )


junk = json_values | python_junk | weird_text | malformed_json


@st.composite
def near_valid(draw: st.DrawFn, example: Any) -> Any:
    """`example` with one nested value replaced by junk, or one key removed."""
    if not isinstance(example, dict | list) or not example:
        return draw(junk)
    copy = json.loads(json.dumps(example))
    node = copy
    for _ in range(draw(st.integers(0, 3))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or not node[key]:
            break
        node = node[key]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    key = draw(st.sampled_from(keys))
    if isinstance(node, dict) and draw(st.booleans()):
        del node[key]
    else:
        node[key] = draw(junk)
    return copy


def inputs_for(name: str) -> st.SearchStrategy[Any]:
    example = VALID.get(name)
    options = [junk, near_valid(example)] if example is not None else [junk]
    if name in ("validate_stellar_address", "validate_muxed_address"):
        options.append(corrupt_address(A.public_key))
    if name in ("verify_transaction_signature", "verify_validity_window", "validate_transaction"):
        options.append(corrupt_xdr)
    return st.one_of(options)


corrupt_xdr = st.tuples(st.integers(0, len(base64.b64decode(XDR)) * 8 - 1)).map(
    lambda p: base64.b64encode(_flip(base64.b64decode(XDR), p[0])).decode()
)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def check_p32(name: str, validator: Callable[[Any], Any], value: Any) -> None:
    """Accept-or-ValidationError, and accepted values are really valid."""
    try:
        result = validator(value)
    except ValidationError as error:
        assert isinstance(error.field, str) and isinstance(error.reason, str) and error.reason
        return
    if name in ("validate_stellar_address", "validate_muxed_address") and result.startswith("G"):
        assert StrKey.decode_ed25519_public_key(result), "accepted an address with a bad checksum"
    if name == "validate_amount":
        assert (
            isinstance(result, Decimal)
            and 0 < result <= MAX_AMOUNT
            and result == result.quantize(Decimal("1e-7"))
        )


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_p32_validators_accept_or_raise_validation_error(name: str) -> None:
    @given(inputs_for(name))
    def run(value: Any) -> None:
        check_p32(name, VALIDATORS[name], value)

    run()


@pytest.mark.parametrize("name", sorted(VALID))
def test_p32_the_valid_examples_are_accepted(name: str) -> None:
    """The near-valid inputs start from examples that pass, so rejections come from the junk."""
    VALIDATORS[name](VALID[name])


def _violates(name: str, validator: Callable[[Any], Any], value: Any) -> bool:
    try:
        check_p32(name, validator, value)
    except Exception:  # an escaped non-ValidationError, or a failed soundness assertion
        return True
    return False


@pytest.mark.parametrize("mutant", sorted(P32_MUTANTS))
def test_p32_catches_broken_validator(mutant: str) -> None:
    name, broken = P32_MUTANTS[mutant]
    counterexample = find(
        inputs_for(name),
        lambda value: _violates(name, broken, value),
        settings=settings(max_examples=300, database=None, derandomize=True, phases=[Phase.generate]),
    )
    assert _violates(name, broken, counterexample) and not _violates(name, VALIDATORS[name], counterexample)
