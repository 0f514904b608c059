"""Soroban authorization as the host checks it (rs-soroban-env v21.0.0 soroban-env-host/src/auth.rs:
`get_signature_payload`, `AccountAuthorizationTracker::maybe_authorize_invocation` (authenticate, then
`verify_and_consume_nonce`), `Host::consume_nonce`, `require_auth` matching; builtin_contracts/
account_contract.rs `check_account_authentication`), exercised through simulation in enforcing mode
(the same host apply runs). Signatures come from stellar-sdk's own `authorize_entry`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from nacl.signing import VerifyKey
from stellar_sdk import Keypair, Network, StrKey, scval
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorization_payload_hash, authorize_entry, build_authorization_preimage

from harness.ledger.soroban.auth import signature_payload
from harness.ledger.soroban.network import SETTINGS
from tests.soroban_support import PAYEE, PAYER, SUBMITTER, simulated, soroban_ledger, transfer


def _recorded(ledger: Any, amount: int = 7) -> tuple[Any, Any]:
    env = transfer(ledger, SUBMITTER, PAYER.public_key, PAYEE.public_key, amount)
    sim = simulated(ledger, env)
    assert sim.error is None, sim.error
    return env, sim


def _enforce(ledger: Any, env: Any, entries: list[X.SorobanAuthorizationEntry]) -> Any:
    env.transaction.operations[0].auth = entries
    return simulated(ledger, env)


def test_signature_payload_is_the_hash_stellar_sdk_signs() -> None:
    ledger = soroban_ledger()
    _, sim = _recorded(ledger)
    entry = sim.auth[0]
    creds = entry.credentials.address
    until = ledger.latest().sequence + 10
    sdk = authorization_payload_hash(build_authorization_preimage(entry, until, ledger.passphrase))
    ours = signature_payload(ledger.network_id, creds.nonce.int64, until, entry.root_invocation)
    assert ours == sdk
    preimage = X.HashIDPreimage(X.EnvelopeType.ENVELOPE_TYPE_SOROBAN_AUTHORIZATION,
                                soroban_authorization=X.HashIDPreimageSorobanAuthorization(
                                    X.Hash(hashlib.sha256(ledger.passphrase.encode()).digest()), creds.nonce,
                                    X.Uint32(until), entry.root_invocation))
    assert ours == hashlib.sha256(preimage.to_xdr_bytes()).digest()
    assert signature_payload(hashlib.sha256(Network.TESTNET_NETWORK_PASSPHRASE.encode()).digest(),
                             creds.nonce.int64, until, entry.root_invocation) != ours


def test_sdk_signature_has_the_shape_the_account_check_reads() -> None:
    """A vector of {public_key: BytesN<32>, signature: BytesN<64>} maps, the ed25519 signature over the payload."""
    ledger = soroban_ledger()
    _, sim = _recorded(ledger)
    until = ledger.latest().sequence + 10
    signed = authorize_entry(sim.auth[0], PAYER, until, ledger.passphrase)
    creds = signed.credentials.address
    assert creds.signature_expiration_ledger.uint32 == until
    (item,) = scval.from_vec(creds.signature)
    fields = scval.from_struct(item)
    assert sorted(fields) == ["public_key", "signature"]
    payload = signature_payload(ledger.network_id, creds.nonce.int64, until, signed.root_invocation)
    VerifyKey(scval.from_bytes(fields["public_key"])).verify(payload, scval.from_bytes(fields["signature"]))


def test_recording_mode_records_an_address_entry_and_its_nonce() -> None:
    ledger = soroban_ledger()
    _, sim = _recorded(ledger, 9)
    (entry,) = sim.auth
    creds = entry.credentials
    assert creds.type == X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS
    assert creds.address.signature_expiration_ledger.uint32 == 0
    assert creds.address.signature.type == X.SCValType.SCV_VOID
    fn = entry.root_invocation.function.contract_fn
    assert fn.function_name.sc_symbol == b"transfer" and entry.root_invocation.sub_invocations == []
    assert scval.from_int128(fn.args[2]) == 9
    fp = sim.transaction_data.resources.footprint
    nonce_keys = [k for k in fp.read_write if k.contract_data and k.contract_data.key.type == X.SCValType.SCV_LEDGER_KEY_NONCE]
    assert len(nonce_keys) == 1 and nonce_keys[0].contract_data.durability == X.ContractDataDurability.TEMPORARY
    assert nonce_keys[0].contract_data.key.nonce_key.nonce.int64 == creds.address.nonce.int64
    accounts = [k for k in fp.read_only if k.account]
    assert [StrKey.encode_ed25519_public_key(k.account.account_id.account_id.ed25519.uint256) for k in accounts] \
        == [PAYER.public_key]


def test_the_source_account_is_authorized_by_the_transaction_itself() -> None:
    ledger = soroban_ledger()
    sim = simulated(ledger, transfer(ledger, PAYER, PAYER.public_key, PAYEE.public_key, 5))
    assert sim.error is None
    assert [e.credentials.type for e in sim.auth] == [X.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT]


def test_a_signed_entry_passes_enforcing_simulation() -> None:
    ledger = soroban_ledger()
    env, sim = _recorded(ledger)
    again = _enforce(ledger, env, [authorize_entry(sim.auth[0], PAYER, ledger.latest().sequence + 5, ledger.passphrase)])
    assert again.error is None and again.auth[0].credentials.address.signature.type == X.SCValType.SCV_VEC


@pytest.mark.parametrize("case, expected", [
    ("other_network", ["Error(Auth, InvalidAction)", "failed account authentication with error", "Error(Crypto, InvalidInput)"]),
    ("unsigned", ["Error(Auth, InvalidAction)", "failed account authentication with error", "Error(Value, UnexpectedType)"]),
    ("foreign_signer", ["failed account authentication with error", "Error(Contract, #5)"]),
    ("expired", ["Error(Auth, InvalidInput)", "signature has expired"]),
    ("too_late", ["Error(Auth, InvalidInput)", "signature expiration is too late"]),
    ("amount_changed", ["Error(Auth, InvalidAction)", "Unauthorized function call for address"]),
])
def test_refused_authorizations_fail_with_the_host_errors(case: str, expected: list[str]) -> None:
    ledger = soroban_ledger()
    env, sim = _recorded(ledger)
    seq = ledger.latest().sequence
    entry, until, signer, passphrase = sim.auth[0], seq + 5, PAYER, ledger.passphrase
    if case == "other_network":
        passphrase = Network.TESTNET_NETWORK_PASSPHRASE
    elif case == "foreign_signer":
        signer = PAYEE
    elif case == "expired":
        until = seq - 1
    elif case == "too_late":
        until = SETTINGS.max_live_until(seq) + 1
    signed = entry if case == "unsigned" else authorize_entry(entry, signer, until, passphrase)
    if case == "amount_changed":
        env.transaction.operations[0].host_function.invoke_contract.args[2] = scval.to_int128(8)  # signed for 7
    result = _enforce(ledger, env, [signed])
    assert result.error is not None and result.transaction_data is None
    for text in expected:
        assert text in result.error, result.error
    assert ledger.check_invariants() == [] and ledger.trustlines(PAYER.public_key)[0].balance == 10_000 * 10**7


def _account(ledger: Any, kp: Keypair) -> Any:
    return ledger.with_state(lambda state, _: state.accounts[kp.public_key])


def _multisig(keys: list[tuple[Keypair, bytes]]) -> X.SCVal:
    return scval.to_vec([scval.to_struct({"public_key": scval.to_bytes(kp.raw_public_key()), "signature": scval.to_bytes(sig)})
                         for kp, sig in keys])


def test_account_thresholds_and_signer_order_are_checked() -> None:
    """check_account_authentication: medium threshold, each key a signer of the account, keys ascending."""
    ledger = soroban_ledger()
    second = Keypair.random()
    _account(ledger, PAYER).signers[second.public_key] = 1
    _account(ledger, PAYER).med_threshold = 2
    env, sim = _recorded(ledger)
    until = ledger.latest().sequence + 5
    one = _enforce(ledger, env, [authorize_entry(sim.auth[0], PAYER, until, ledger.passphrase)])
    assert "signature weight is lower than threshold" in one.error
    entry = sim.auth[0]
    payload = signature_payload(ledger.network_id, entry.credentials.address.nonce.int64, until, entry.root_invocation)
    pairs = sorted([(PAYER, PAYER.sign(payload)), (second, second.sign(payload))], key=lambda p: p[0].raw_public_key())
    both = X.SorobanAuthorizationEntry(X.SorobanCredentials(
        X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS, address=X.SorobanAddressCredentials(
            entry.credentials.address.address, entry.credentials.address.nonce, X.Uint32(until), _multisig(pairs))),
        entry.root_invocation)
    assert _enforce(ledger, env, [both]).error is None
    both.credentials.address.signature = _multisig(pairs[::-1])
    assert "public keys are not ordered" in _enforce(ledger, env, [both]).error
