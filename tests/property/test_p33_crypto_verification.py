"""Property 33: a tampered, wrong-key, wrong-network or expired x402 payment proof is rejected,
logged CRITICAL and alerted; an untampered valid proof always passes, with no CRITICAL record.

Tampering: one flipped bit anywhere in the signed envelope XDR or in the signature bytes, a
signature by another key, a signature for another network passphrase, or the ManualClock moved
past the transaction's max_time. A flip that breaks parsing or structure may be rejected as a plain
`ValidationError` (logged LOW); every other rejection must be a `CryptoVerificationError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from stellar_sdk import (
    Account,
    Asset,
    DecoratedSignature,
    Keypair,
    Network,
    TransactionBuilder,
    TransactionEnvelope,
)

from reference_impl.basic_validators import stroops_to_amount
from reference_impl.clock import ManualClock
from reference_impl.error_logger import ErrorLogger, ErrorLoggerConfig, ErrorRecord, ErrorSeverity
from reference_impl.errors import CryptoVerificationError, ValidationError
from reference_impl.input_validator import InputValidator, sign_channel_state, verify_channel_state_signatures
from tests.property.mutants_logger_validator import P33_MUTANTS

PASS = Network.STANDALONE_NETWORK_PASSPHRASE
OTHER_NETWORKS = [
    Network.TESTNET_NETWORK_PASSPHRASE,
    Network.PUBLIC_NETWORK_PASSPHRASE,
    "Offline Harness ; 2026",
]
keypairs = st.binary(min_size=32, max_size=32).map(Keypair.from_raw_ed25519_seed)


@dataclass(frozen=True)
class Payment:
    """A signed classic payment: the keys, the amount and its time bounds."""

    payer: Keypair
    payee: Keypair
    stroops: int
    sequence: int
    timeout: int


payments = st.builds(
    Payment,
    payer=keypairs,
    payee=keypairs,
    stroops=st.integers(1, 10**12),
    sequence=st.integers(0, 2**40),
    timeout=st.integers(1, 3600),
).filter(lambda p: p.payer.public_key != p.payee.public_key)

tampering = st.one_of(
    st.tuples(st.just("flip-envelope-bit"), st.integers(0, 10**6)),
    st.tuples(st.just("flip-signature-bit"), st.integers(0, 511)),
    st.tuples(st.just("other-key"), keypairs),
    st.tuples(st.just("other-network"), st.sampled_from(OTHER_NETWORKS)),
    st.tuples(st.just("expired"), st.integers(1, 10**6)),
)


def build(payment: Payment, clock: ManualClock, signer: Keypair | None = None, passphrase: str = PASS) -> str:
    builder = TransactionBuilder(Account(payment.payer.public_key, payment.sequence), passphrase, 100)
    builder.append_payment_op(payment.payee.public_key, Asset.native(), stroops_to_amount(payment.stroops))
    envelope = builder.add_time_bounds(0, int(clock.time()) + payment.timeout).build()
    envelope.sign(signer or payment.payer)
    return envelope.to_xdr()


def header(xdr: str) -> str:
    body = {
        "x402Version": 1,
        "scheme": "exact",
        "network": "stellar-standalone",
        "payload": {"signedTxXdr": xdr},
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def tampered_xdr(payment: Payment, kind: str, arg: Any, clock: ManualClock) -> str:
    """The proof after one tampering step (the clock is moved for 'expired')."""
    if kind == "other-key":
        if arg.public_key == payment.payer.public_key:
            arg = Keypair.from_raw_ed25519_seed(hashlib.sha256(arg.raw_secret_key()).digest())
        return build(payment, clock, signer=arg)
    if kind == "other-network":
        return build(payment, clock, passphrase=arg)
    xdr = build(payment, clock)
    if kind == "expired":
        clock.advance(payment.timeout + arg)
        return xdr
    if kind == "flip-signature-bit":
        envelope = TransactionEnvelope.from_xdr(xdr, PASS)
        original = envelope.signatures[0]
        flipped = bytearray(original.signature)
        flipped[arg // 8] ^= 1 << (arg % 8)
        envelope.signatures[0] = DecoratedSignature(original.signature_hint, bytes(flipped))
        return envelope.to_xdr()
    raw = bytearray(base64.b64decode(xdr))
    bit = arg % (len(raw) * 8)
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


def make(
    validator_cls: type[InputValidator],
) -> tuple[InputValidator, ErrorLogger, list[ErrorRecord], ManualClock]:
    clock = ManualClock()
    alerts: list[ErrorRecord] = []
    logger = ErrorLogger(ErrorLoggerConfig(console=False, alert_sink=alerts.append), clock=clock)
    return validator_cls(clock=clock, error_logger=logger), logger, alerts, clock


def check_valid_passes(validator_cls: type[InputValidator], payment: Payment, elapsed: int) -> None:
    validator, logger, alerts, clock = make(validator_cls)
    xdr = build(payment, clock)
    clock.advance(min(elapsed, payment.timeout))
    proof = validator.verify_payment_proof(header(xdr))
    assert (proof.payer, proof.amount_stroops) == (payment.payer.public_key, payment.stroops)
    assert logger.get_records() == [] and alerts == []


def check_tampered_rejected(
    validator_cls: type[InputValidator], payment: Payment, tamper: tuple[str, Any]
) -> None:
    validator, logger, alerts, clock = make(validator_cls)
    kind, arg = tamper
    xdr = tampered_xdr(payment, kind, arg, clock)
    try:
        validator.verify_payment_proof(header(xdr))
    except CryptoVerificationError:
        critical = logger.get_records(severity=ErrorSeverity.CRITICAL)
        assert len(critical) == 1 and alerts == critical, (
            "a crypto failure was not logged CRITICAL and alerted"
        )
        return
    except ValidationError:
        assert kind == "flip-envelope-bit", f"{kind} must fail as a CryptoVerificationError"
        assert logger.get_records(severity=ErrorSeverity.CRITICAL) == []
        return
    raise AssertionError(f"tampered proof ({kind}) was accepted")


@given(payments, st.integers(0, 3600))
def test_p33_untampered_valid_proofs_always_pass(payment: Payment, elapsed: int) -> None:
    check_valid_passes(InputValidator, payment, elapsed)


@given(payments, tampering)
def test_p33_tampered_proofs_are_rejected_logged_critical_and_alerted(
    payment: Payment, tamper: tuple[str, Any]
) -> None:
    check_tampered_rejected(InputValidator, payment, tamper)


@pytest.mark.parametrize("kind", ["flip-signature-bit", "other-key", "other-network", "expired"])
def test_p33_each_tampering_kind_is_a_crypto_failure(kind: str) -> None:
    """Deterministic spot check per kind, beside the generated mix above."""
    payment = Payment(Keypair.random(), Keypair.random(), 15_000_000, 9, 30)
    arg = {
        "flip-signature-bit": 77,
        "other-key": Keypair.random(),
        "other-network": OTHER_NETWORKS[0],
        "expired": 1,
    }[kind]
    validator, logger, alerts, clock = make(InputValidator)
    with pytest.raises(CryptoVerificationError):
        validator.verify_payment_proof(header(tampered_xdr(payment, kind, arg, clock)))
    assert [r.severity for r in alerts] == [ErrorSeverity.CRITICAL]


def _violates(validator_cls: type[InputValidator], case: tuple[Payment, tuple[str, Any], int]) -> bool:
    payment, tamper, elapsed = case
    try:
        check_tampered_rejected(validator_cls, payment, tamper)
        check_valid_passes(validator_cls, payment, elapsed)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("name", sorted(P33_MUTANTS))
def test_p33_catches_broken_verifier(name: str) -> None:
    counterexample = find(
        st.tuples(payments, tampering, st.integers(0, 3600)),
        lambda case: _violates(P33_MUTANTS[name], case),
        settings=settings(max_examples=300, database=None, derandomize=True, phases=[Phase.generate]),
    )
    assert not _violates(InputValidator, counterexample)


channel_tampering = st.one_of(
    st.tuples(st.just("signature-bit"), st.integers(0, 1), st.integers(0, 511)),
    st.tuples(st.just("sequence"), st.integers(0, 1), st.integers(1, 2**40)),
    st.tuples(st.just("shift-balance"), st.integers(0, 1), st.integers(1, 10**6)),
    st.tuples(st.just("impostor"), st.integers(0, 1), st.integers(0, 2**32)),
)


@given(keypairs, keypairs, st.integers(0, 10**9), st.integers(0, 10**9), channel_tampering)
def test_p33_tampered_channel_states_are_rejected(
    a: Keypair, b: Keypair, balance_a: int, balance_b: int, tamper: tuple[str, int, int]
) -> None:
    """Channel states: valid signed states verify; any change after signing fails verification."""
    if a.public_key == b.public_key:
        b = Keypair.from_raw_ed25519_seed(hashlib.sha256(b.raw_secret_key()).digest())
    participants = [a.public_key, b.public_key]
    state = {
        "channelId": "ch-p33",
        "sequence": 5,
        "participants": participants,
        "balances": {a.public_key: balance_a, b.public_key: balance_b},
        "total": balance_a + balance_b,
    }
    signed = sign_channel_state(sign_channel_state(state, a), b)
    assert verify_channel_state_signatures(signed) == signed
    kind, who, arg = tamper
    target = participants[who]
    forged = json.loads(json.dumps(signed))
    if kind == "signature-bit":
        raw = bytearray(base64.b64decode(forged["signatures"][target]))
        raw[arg // 8] ^= 1 << (arg % 8)
        forged["signatures"][target] = base64.b64encode(bytes(raw)).decode()
    elif kind == "sequence":
        forged["sequence"] += arg
    elif kind == "shift-balance":
        other = participants[1 - who]
        moved = min(arg, forged["balances"][other]) or arg
        forged["balances"][target] += moved
        forged["balances"][other] -= moved
        forged["total"] = sum(forged["balances"].values())
    else:
        impostor = Keypair.from_raw_ed25519_seed(hashlib.sha256(f"impostor-{arg}".encode()).digest())
        forged["signatures"][target] = sign_channel_state(state, impostor)["signatures"][impostor.public_key]
    with pytest.raises(ValidationError):
        verify_channel_state_signatures(forged)
    if kind != "shift-balance" or forged["balances"][participants[1 - who]] >= 0:
        with pytest.raises(CryptoVerificationError):
            verify_channel_state_signatures(forged)
