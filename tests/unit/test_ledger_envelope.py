"""Envelope parsing: the fast hash equals stellar-sdk's `env.hash()`; bad input is rejected cleanly."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Account, Asset, Keypair, Network, TransactionBuilder

from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.ledger.envelope import parse_envelope
from harness.ledger.errors import MalformedEnvelopeError

KEYS = [Keypair.from_raw_ed25519_seed(bytes([i + 1]) * 32) for i in range(4)]


@given(
    passphrase=st.sampled_from([OFFLINE_PASSPHRASE, Network.TESTNET_NETWORK_PASSPHRASE]),
    n_signers=st.integers(min_value=0, max_value=4),
    n_ops=st.integers(min_value=1, max_value=5),
    seq=st.integers(min_value=0, max_value=2**62),
    memo=st.one_of(st.none(), st.text(max_size=20).filter(lambda t: len(t.encode()) <= 28),
                   st.binary(min_size=32, max_size=32), st.integers(min_value=0, max_value=2**64 - 1)),
)
def test_fast_hash_equals_sdk_hash(passphrase: str, n_signers: int, n_ops: int, seq: int, memo: object) -> None:
    b = TransactionBuilder(Account(KEYS[0].public_key, seq), passphrase, 100).set_timeout(30)
    for i in range(n_ops):
        b.append_payment_op(KEYS[1].public_key, Asset.native(), f"{i + 1}.25")
    if isinstance(memo, str):
        b.add_text_memo(memo)
    elif isinstance(memo, bytes):
        b.add_hash_memo(memo)
    elif isinstance(memo, int):
        b.add_id_memo(memo)
    env = b.build()
    for kp in KEYS[:n_signers]:
        env.sign(kp)
    parsed = parse_envelope(env.to_xdr(), passphrase)
    assert parsed.hash == env.hash()
    assert parsed.seq == seq + 1 and parsed.fee == 100 * n_ops and parsed.source == KEYS[0].public_key
    if isinstance(memo, bytes):
        assert parsed.memo_type == "hash" and parsed.memo_hash_hex() == memo.hex()


def test_fast_hash_depends_on_passphrase() -> None:
    env = TransactionBuilder(Account(KEYS[0].public_key, 1), OFFLINE_PASSPHRASE, 100) \
        .append_payment_op(KEYS[1].public_key, Asset.native(), "1").set_timeout(30).build()
    assert parse_envelope(env.to_xdr(), OFFLINE_PASSPHRASE).hash != \
        parse_envelope(env.to_xdr(), Network.TESTNET_NETWORK_PASSPHRASE).hash


def _valid() -> str:
    env = TransactionBuilder(Account(KEYS[0].public_key, 1), OFFLINE_PASSPHRASE, 100) \
        .append_payment_op(KEYS[1].public_key, Asset.native(), "1").set_timeout(30).build()
    env.sign(KEYS[0])
    return env.to_xdr()


@pytest.mark.parametrize("bad", [
    "", "   ", "%%%not-base64%%%", "AAAA", base64.b64encode(b"\x00\x00\x00\x02" + b"\xff" * 40).decode(),
    base64.b64encode(base64.b64decode(_valid()) + b"\x00\x00\x00\x00").decode(),  # trailing bytes
    _valid()[:-8],  # truncated
])
def test_malformed_envelopes(bad: str) -> None:
    with pytest.raises(MalformedEnvelopeError):
        parse_envelope(bad, OFFLINE_PASSPHRASE)


@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        parse_envelope(base64.b64encode(data).decode(), OFFLINE_PASSPHRASE)
    except MalformedEnvelopeError:
        pass


def test_v0_envelope_hash_matches_sdk() -> None:
    from stellar_sdk import Transaction, TransactionEnvelope
    from stellar_sdk.operation import Payment

    tx = Transaction(KEYS[0].public_key, 8, 100, [Payment(KEYS[1].public_key, Asset.native(), "1")], v1=False)
    env = TransactionEnvelope(tx, OFFLINE_PASSPHRASE)
    env.sign(KEYS[0])
    xdr = env.to_xdr()
    assert base64.b64decode(xdr)[:4] == b"\x00\x00\x00\x00"  # really a v0 envelope
    parsed = parse_envelope(xdr, OFFLINE_PASSPHRASE)
    assert parsed.hash == env.hash() and parsed.seq == 8 and parsed.source == KEYS[0].public_key


def test_operation_fields_and_claimable_balance_id() -> None:
    from stellar_sdk import Claimant, ClaimPredicate

    b = TransactionBuilder(Account(KEYS[0].public_key, 41), OFFLINE_PASSPHRASE, 100).set_timeout(30)
    b.append_create_claimable_balance_op(Asset.native(), "2.5", [
        Claimant(KEYS[1].public_key, ClaimPredicate.predicate_before_relative_time(60))])
    b.append_payment_op(KEYS[2].public_key, Asset("USDC", KEYS[3].public_key), "0.0000001", source=KEYS[1].public_key)
    b.append_manage_data_op("k", b"v")
    env = b.build()
    parsed = parse_envelope(env.to_xdr(), OFFLINE_PASSPHRASE)
    create, pay, data = parsed.operations
    assert parsed.claimable_balance_id(0) == env.transaction.get_claimable_balance_id(0)
    assert (create.type, create.amount, create.asset, create.claimants[0][0]) == \
        ("create_claimable_balance", 25_000_000, "native", KEYS[1].public_key)
    assert (pay.type, pay.source, pay.destination, pay.amount, pay.asset) == \
        ("payment", KEYS[1].public_key, KEYS[2].public_key, 1, f"USDC:{KEYS[3].public_key}")
    assert (data.type, data.data_name, data.data_value) == ("manage_data", b"k", b"v")
    assert parsed.time_bounds is not None and parsed.time_bounds[0] == 0
