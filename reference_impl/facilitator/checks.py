"""Checks of a parsed transfer against the ledger's view: authorization entries and simulation events.

Auth entries (scheme_exact_stellar.md "Authorization Entries" and "Facilitator Safety";
facilitator/scheme.ts `validateAuthEntries`): address credentials only, the facilitator in none of
them, no sub-invocations, the payer signed and nobody else is pending, expiration no further than
`currentLedger + ceil(maxTimeoutSeconds / estimatedLedgerSeconds)` (+2 ledgers of RPC skew).
Beyond the official facilitator, which leaves both to the simulation, this one names two
cryptographic failures itself: an entry already expired (`invalid_exact_stellar_signature_expired`)
and an ed25519 signature that does not verify for this network's passphrase
(`invalid_exact_stellar_payload_signature`: wrong key, another network, altered invocation).
The host (soroban-env-host `check_account_authentication`) refuses the same entries.

Events (`validateSimulationEvents`): exactly one contract `transfer` event, from the asset contract,
`from` -> `to` of exactly the required amount (CAP-46-6 / SEP-41 topics `["transfer", from, to, ...]`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from stellar_sdk import Address, Keypair, scval
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorization_payload_hash, build_authorization_preimage
from stellar_sdk.exceptions import BadSignatureError

from reference_impl.facilitator.payload import Refusal, Transfer

EXPIRATION_TOLERANCE_LEDGERS = 2  # SIGNATURE_EXPIRATION_LEDGER_TOLERANCE of the official facilitator
ADDRESS = X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS


def max_expiration_ledger(latest_ledger: int, max_timeout_seconds: int, ledger_seconds: float) -> int:
    """The latest expiration ledger an auth entry may carry (before the skew tolerance)."""
    return latest_ledger + math.ceil(max_timeout_seconds / ledger_seconds)


def auth_key(transfer: Transfer) -> tuple[tuple[str, int], ...]:
    """What makes a payment single-use on the ledger: each address entry's (address, nonce)."""
    keys = []
    for entry in transfer.auth:
        creds = entry.credentials.address
        if creds is not None:
            keys.append((_address(creds.address), creds.nonce.int64))
    return tuple(sorted(keys))


def check_auth_structure(transfer: Transfer, facilitator: frozenset[str]) -> None:
    """Credential types, facilitator safety, sub-invocations, payer signed, nobody pending."""
    payer = transfer.payer
    if not transfer.auth:
        raise Refusal("invalid_exact_stellar_payload_no_auth_entries", "no authorization entries", payer)
    signed: set[str] = set()
    pending: set[str] = set()
    for entry in transfer.auth:
        if entry.credentials.type != ADDRESS or entry.credentials.address is None:
            raise Refusal("invalid_exact_stellar_payload_unsupported_credential_type",
                          "only sorobanCredentialsAddress entries are accepted", payer)
        creds = entry.credentials.address
        address = _address(creds.address)
        if address in facilitator:
            raise Refusal("invalid_exact_stellar_payload_facilitator_in_auth",
                          "the facilitator appears in an authorization entry", payer)
        if entry.root_invocation.sub_invocations:
            raise Refusal("invalid_exact_stellar_payload_has_subinvocations",
                          "the authorization covers more than the transfer", payer)
        (pending if creds.signature.type == X.SCValType.SCV_VOID else signed).add(address)
    if payer not in signed:
        raise Refusal("invalid_exact_stellar_payload_missing_payer_signature", "the payer has not signed", payer)
    if pending:
        raise Refusal("invalid_exact_stellar_payload_unexpected_pending_signatures",
                      f"{len(pending)} signature(s) still pending", payer)


def check_auth_window(transfer: Transfer, latest_ledger: int, max_ledger: int) -> None:
    """Expired (would fail in the next ledger) or expiring too far ahead."""
    for entry in transfer.auth:
        creds = entry.credentials.address
        assert creds is not None  # check_auth_structure ran first
        expiration = creds.signature_expiration_ledger.uint32
        if expiration <= latest_ledger:
            raise Refusal("invalid_exact_stellar_signature_expired",
                          f"authorization expired at ledger {expiration} (latest {latest_ledger})", transfer.payer)
        if expiration > max_ledger + EXPIRATION_TOLERANCE_LEDGERS:
            raise Refusal("invalid_exact_stellar_signature_expiration_too_far",
                          f"authorization valid until ledger {expiration}, beyond {max_ledger}", transfer.payer)


def check_auth_signatures(transfer: Transfer, passphrase: str) -> None:
    """Every ed25519 signature on a G-account entry verifies over this network's preimage."""
    for entry in transfer.auth:
        creds = entry.credentials.address
        assert creds is not None
        if creds.address.type != X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT:
            continue  # a contract account's __check_auth decides; the simulation runs it
        preimage = build_authorization_preimage(entry, creds.signature_expiration_ledger.uint32, passphrase)
        payload = authorization_payload_hash(preimage)
        for public_key, signature in _account_signatures(creds.signature, transfer.payer):
            try:
                Keypair.from_raw_ed25519_public_key(public_key).verify(payload, signature)
            except (BadSignatureError, ValueError):
                raise Refusal("invalid_exact_stellar_payload_signature",
                              "an authorization signature does not verify for this network", transfer.payer) from None


def _account_signatures(value: X.SCVal, payer: str) -> Iterable[tuple[bytes, bytes]]:
    """The (public key, signature) pairs of a default account's signature: vec of maps."""
    bad = Refusal("invalid_exact_stellar_payload_signature", "malformed account signature", payer)
    if value.type != X.SCValType.SCV_VEC or value.vec is None:
        raise bad
    pairs = []
    for item in value.vec.sc_vec:
        if item.type != X.SCValType.SCV_MAP or item.map is None:
            raise bad
        fields = {}
        for kv in item.map.sc_map:
            try:
                fields[scval.from_symbol(kv.key)] = scval.from_bytes(kv.val)
            except ValueError:
                raise bad from None
        public_key, signature = fields.get("public_key", b""), fields.get("signature", b"")
        if len(public_key) != 32 or len(signature) != 64:
            raise bad
        pairs.append((public_key, signature))
    if not pairs:
        raise bad
    return pairs


def check_events(events_b64: Sequence[str] | None, transfer: Transfer) -> None:
    """Exactly one contract transfer event: asset contract, payer -> payTo, the required amount."""
    payer = transfer.payer
    transfers = []
    for raw in events_b64 or ():
        try:
            event = X.DiagnosticEvent.from_xdr(raw).event
        except (ValueError, TypeError, IndexError, EOFError):
            raise Refusal("unexpected_verify_error", "undecodable simulation event", payer) from None
        if event.type != X.ContractEventType.CONTRACT:
            continue
        body = event.body.v0
        topics = body.topics if body is not None else []
        if body is None or len(topics) < 3 or topics[0].type != X.SCValType.SCV_SYMBOL \
                or scval.from_symbol(topics[0]) != "transfer":
            raise Refusal("invalid_exact_stellar_payload_event_not_transfer", "a contract event is not a transfer",
                          payer)
        if event.contract_id is None:
            raise Refusal("invalid_exact_stellar_payload_event_missing_contract_id", "event without contract", payer)
        if Address.from_raw_contract(event.contract_id.contract_id.hash).address != transfer.contract:
            raise Refusal("invalid_exact_stellar_payload_event_wrong_asset", "event from another contract", payer)
        try:
            transfers.append((scval.from_address(topics[1]).address, scval.from_address(topics[2]).address,
                              _event_amount(body.data)))
        except ValueError:
            raise Refusal("unexpected_verify_error", "undecodable transfer event", payer) from None
    if not transfers:
        raise Refusal("invalid_exact_stellar_payload_no_transfer_events", "the simulation moved nothing", payer)
    if len(transfers) > 1:
        raise Refusal("invalid_exact_stellar_payload_multiple_transfers", "more than one transfer", payer)
    source, dest, amount = transfers[0]
    if source != payer:
        raise Refusal("invalid_exact_stellar_payload_event_wrong_from", "the event's from is not the payer", payer)
    if dest != transfer.pay_to:
        raise Refusal("invalid_exact_stellar_payload_event_wrong_to", "the event's to is not payTo", payer)
    if amount != transfer.amount:
        raise Refusal("invalid_exact_stellar_payload_event_wrong_amount", "the event's amount differs", payer)


def _event_amount(data: X.SCVal) -> int:
    """An i128 amount, or the `amount` of a map (CAP-67 events with muxed destinations)."""
    if data.type == X.SCValType.SCV_MAP and data.map is not None:
        for kv in data.map.sc_map:
            if kv.key.type == X.SCValType.SCV_SYMBOL and scval.from_symbol(kv.key) == "amount":
                return scval.from_int128(kv.val)
        raise ValueError("transfer event map without amount")
    return scval.from_int128(data)


def _address(sc_address: X.SCAddress) -> str:
    return Address.from_xdr_sc_address(sc_address).address
