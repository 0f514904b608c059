"""Soroban authorization (rs-soroban-env v21.0.0 `soroban-env-host/src/auth.rs`,
`builtin_contracts/account_contract.rs`).

Enforcing mode (apply, and simulation of a transaction that carries auth entries): every
`require_auth(address)` must match the root invocation of an entry for that address; the first match
authenticates it - for address credentials, `check_account_authentication` over SHA-256 of the
`HashIdPreimage::SorobanAuthorization {network_id, nonce, signatureExpirationLedger, invocation}` XDR,
the signature being a vector of `{public_key, signature}` maps with keys in ascending order whose
weights reach the account's medium threshold - then checks the expiration and consumes the nonce (a
temporary contract data entry under the address; an existing one fails). Source-account credentials
are covered by the transaction's own signatures. Recording mode (simulation without auth entries)
records one entry per address instead: a random nonce whose entry is written (so it is in the
footprint), signature Void, expiration 0; the account is read to emulate authentication.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.assets import account_strkey
from harness.ledger.soroban.contracts import PERSISTENT, TEMPORARY, data_key
from harness.ledger.soroban.network import SorobanSettings
from harness.ledger.soroban.storage import HostStorage
from harness.ledger.soroban.values import (
    AUTHENTICATION_ERROR,
    EC,
    ET,
    HostError,
    address_text,
    contract_address,
    contract_error,
    sc_error,
)

MAX_ACCOUNT_SIGNATURES = 20
ED25519_VERIFY_INSNS = 377_551 + (4_059 * 32 >> 7)  # cost params VerifyEd25519Sig for a 32-byte payload
AUTH_PAYLOAD_INSNS = 60_000  # model: preimage XDR encoding + SHA-256
_FN = X.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN


class Meter(Protocol):
    cpu: int


@dataclass(slots=True)
class Tracker:
    """One address's authorization: an entry (enforcing) or what the invocation required (recording)."""

    address: X.SCAddress
    invocation: X.SorobanAuthorizedInvocation
    source: bool = False
    nonce: int | None = None
    expiration: int = 0
    signature: X.SCVal = field(default_factory=scval.to_void)
    matched: bool = False
    verified: bool = False

    def matches(self, function: X.SorobanAuthorizedFunction) -> bool:
        return not self.matched and self.invocation.function.to_xdr_bytes() == function.to_xdr_bytes()

    def to_entry(self) -> X.SorobanAuthorizationEntry:
        if self.source:
            creds = X.SorobanCredentials(X.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT)
        else:
            creds = X.SorobanCredentials(X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS,
                                         address=X.SorobanAddressCredentials(
                                             self.address, X.Int64(self.nonce or 0), X.Uint32(self.expiration),
                                             self.signature))
        return X.SorobanAuthorizationEntry(creds, self.invocation)


def contract_fn(contract_id: bytes, function: bytes, args: list[X.SCVal]) -> X.SorobanAuthorizedFunction:
    return X.SorobanAuthorizedFunction(_FN, contract_fn=X.InvokeContractArgs(
        contract_address(contract_id), X.SCSymbol(function), args))


def signature_payload(network_id: bytes, nonce: int, expiration: int, invocation: X.SorobanAuthorizedInvocation) -> bytes:
    """AccountAuthorizationTracker::get_signature_payload."""
    preimage = X.HashIDPreimage(X.EnvelopeType.ENVELOPE_TYPE_SOROBAN_AUTHORIZATION,
                                soroban_authorization=X.HashIDPreimageSorobanAuthorization(
                                    X.Hash(network_id), X.Int64(nonce), X.Uint32(expiration), invocation))
    return hashlib.sha256(preimage.to_xdr_bytes()).digest()


class Authorizer:
    """The authorization manager of one invocation; `entries` None = recording mode."""

    def __init__(self, entries: list[X.SorobanAuthorizationEntry] | None, source: X.SCAddress, network_id: bytes,
                 storage: HostStorage, settings: SorobanSettings, meter: Meter, rng: random.Random) -> None:
        self.recording = entries is None
        self.source, self.network_id, self.storage = source, network_id, storage
        self.settings, self.meter, self.rng = settings, meter, rng
        self.trackers = [self._tracker(e) for e in entries or []]

    def _tracker(self, entry: X.SorobanAuthorizationEntry) -> Tracker:
        creds = entry.credentials
        if creds.type == X.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT:
            return Tracker(self.source, entry.root_invocation, source=True)
        a = creds.address
        assert a is not None  # other credential kinds do not exist at protocol 21 (refused as malformed)
        return Tracker(a.address, entry.root_invocation, nonce=a.nonce.int64,
                       expiration=a.signature_expiration_ledger.uint32, signature=a.signature)

    def require_auth(self, address: X.SCAddress, function: X.SorobanAuthorizedFunction) -> None:
        """AuthorizationManager::require_auth for a root invocation (the SAC calls no other contract)."""
        if self.recording:
            self._record(address, function)
            return
        raw = address.to_xdr_bytes()
        for tracker in self.trackers:
            if tracker.address.to_xdr_bytes() != raw or not tracker.matches(function):
                continue
            tracker.matched = True
            if not tracker.verified:
                self._authenticate(tracker)
                self._consume_nonce(tracker)
                tracker.verified = True
            return
        raise HostError(sc_error(ET.SCE_AUTH, EC.SCEC_INVALID_ACTION), "Unauthorized function call for address",
                        (scval.to_address(address_text(address)),))

    def _authenticate(self, tracker: Tracker) -> None:
        if tracker.source:
            return
        self.meter.cpu += AUTH_PAYLOAD_INSNS
        assert tracker.nonce is not None
        payload = signature_payload(self.network_id, tracker.nonce, tracker.expiration, tracker.invocation)
        try:
            if tracker.address.type == X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT:
                self._check_account(tracker, payload)
            else:
                self._check_contract(tracker.address)
        except HostError as exc:
            if exc.storage_limit:
                raise
            raise HostError(sc_error(ET.SCE_AUTH, EC.SCEC_INVALID_ACTION), "failed account authentication with error",
                            (scval.to_address(address_text(tracker.address)),
                             X.SCVal(X.SCValType.SCV_ERROR, error=exc.error)), cause=exc) from exc

    def _check_contract(self, address: X.SCAddress) -> None:
        """check_account_contract_auth calls the contract's __check_auth. The offline network has no Wasm
        contracts: the address is a SAC (which has no such function) or no contract at all."""
        key = data_key(address, X.SCVal(X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), PERSISTENT)
        if self.storage.contract_data(key, False, "trying to access contract instance key outside of the footprint",
                                      X.SCVal(X.SCValType.SCV_ADDRESS, address=address)) is None:
            raise HostError(sc_error(ET.SCE_STORAGE, EC.SCEC_MISSING_VALUE))
        raise HostError(sc_error(ET.SCE_CONTEXT, EC.SCEC_MISSING_VALUE), "function does not exist",
                        (scval.to_symbol("__check_auth"),))

    def _check_account(self, tracker: Tracker, payload: bytes) -> None:
        """check_account_authentication."""
        signatures = _signatures(tracker.signature)
        if len(signatures) > MAX_ACCOUNT_SIGNATURES:
            raise contract_error(AUTHENTICATION_ERROR, "too many account signers", scval.to_uint32(len(signatures)))
        if not signatures:
            raise contract_error(AUTHENTICATION_ERROR, "no account signatures found")
        account_id = address_text(tracker.address)
        account = self.storage.account(account_id, False, scval.to_address(account_id))
        if account is None:
            raise HostError(sc_error(ET.SCE_STORAGE, EC.SCEC_MISSING_VALUE))
        weights = account.signer_weights()
        previous: bytes | None = None
        total = 0
        for public_key, signature in signatures:
            if previous is not None and previous >= public_key:
                raise contract_error(AUTHENTICATION_ERROR, "public keys are not ordered",
                                     scval.to_bytes(previous), scval.to_bytes(public_key))
            self.meter.cpu += ED25519_VERIFY_INSNS
            try:
                VerifyKey(public_key).verify(payload, signature)
            except (BadSignatureError, ValueError):
                raise HostError(sc_error(ET.SCE_CRYPTO, EC.SCEC_INVALID_INPUT), "failed ED25519 verification") from None
            weight = weights.get(account_strkey(public_key), 0)
            if weight == 0:
                raise contract_error(AUTHENTICATION_ERROR, "signer does not belong to account", scval.to_bytes(public_key))
            total += weight
            previous = public_key
        if total < account.med_threshold:
            raise contract_error(AUTHENTICATION_ERROR, "signature weight is lower than threshold",
                                 scval.to_uint32(total), scval.to_uint32(account.med_threshold))

    def _consume_nonce(self, tracker: Tracker) -> None:
        """verify_and_consume_nonce, then Host::consume_nonce."""
        if tracker.source:
            return
        assert tracker.nonce is not None
        seq = self.storage.ledger_seq
        who = scval.to_address(address_text(tracker.address))
        if seq > tracker.expiration:
            raise HostError(sc_error(ET.SCE_AUTH, EC.SCEC_INVALID_INPUT), "signature has expired",
                            (who, scval.to_uint32(seq), scval.to_uint32(tracker.expiration)))
        latest = self.settings.max_live_until(seq)
        if tracker.expiration > latest:
            raise HostError(sc_error(ET.SCE_AUTH, EC.SCEC_INVALID_INPUT), "signature expiration is too late",
                            (who, scval.to_uint32(latest), scval.to_uint32(tracker.expiration)))
        self.put_nonce(tracker.address, tracker.nonce, tracker.expiration)

    def put_nonce(self, address: X.SCAddress, nonce: int, live_until: int) -> None:
        """Host::consume_nonce: a nonce entry may exist only once per address."""
        key_val = X.SCVal(X.SCValType.SCV_LEDGER_KEY_NONCE, nonce_key=X.SCNonceKey(X.Int64(nonce)))
        key = data_key(address, key_val, TEMPORARY)
        who = scval.to_address(address_text(address))
        if self.storage.contract_data(key, True, "trying to access nonce outside of footprint for address", who):
            raise HostError(sc_error(ET.SCE_AUTH, EC.SCEC_EXISTING_VALUE), "nonce already exists for address", (who,))
        entry = X.ContractDataEntry(X.ExtensionPoint(0), address, key_val, TEMPORARY, scval.to_void())
        live = max(live_until, self.settings.min_live_until(self.storage.ledger_seq, persistent=False))
        self.storage.put_contract_data(key, entry, live, "trying to access nonce outside of footprint for address", who)

    # ------------------------------------------------------------- recording mode
    def _record(self, address: X.SCAddress, function: X.SorobanAuthorizedFunction) -> None:
        invocation = X.SorobanAuthorizedInvocation(function, [])
        if address.to_xdr_bytes() == self.source.to_xdr_bytes():
            self.trackers.append(Tracker(address, invocation, source=True, verified=True))
            return
        nonce = self.rng.randint(0, 2**63 - 1)
        self.put_nonce(address, nonce, 0)
        self.trackers.append(Tracker(address, invocation, nonce=nonce, verified=True))

    def recorded_entries(self) -> list[X.SorobanAuthorizationEntry]:
        """The recorded entries, after emulating one signature check per account (its entry is read)."""
        for tracker in self.trackers:
            if not tracker.source and tracker.address.type == X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT:
                self.meter.cpu += AUTH_PAYLOAD_INSNS + ED25519_VERIFY_INSNS
                account_id = address_text(tracker.address)
                self.storage.account(account_id, False, scval.to_address(account_id))
        return [t.to_entry() for t in self.trackers]


def _signatures(value: X.SCVal) -> list[tuple[bytes, bytes]]:
    """The account signature ScVal: Vec of {public_key: BytesN<32>, signature: BytesN<64>}."""
    bad = HostError(sc_error(ET.SCE_VALUE, EC.SCEC_UNEXPECTED_TYPE))
    if value.type != X.SCValType.SCV_VEC or value.vec is None:
        raise bad
    out = []
    for item in value.vec.sc_vec:
        if item.type != X.SCValType.SCV_MAP or item.map is None or len(item.map.sc_map) != 2:
            raise bad
        fields = {e.key.sym.sc_symbol if e.key.sym else b"": e.val for e in item.map.sc_map}
        pk, sig = fields.get(b"public_key"), fields.get(b"signature")
        if pk is None or sig is None or pk.bytes is None or sig.bytes is None:
            raise bad
        if len(pk.bytes.sc_bytes) != 32 or len(sig.bytes.sc_bytes) != 64:
            raise HostError(sc_error(ET.SCE_VALUE, EC.SCEC_UNEXPECTED_SIZE))
        out.append((pk.bytes.sc_bytes, sig.bytes.sc_bytes))
    return out
