"""The facilitator's /verify rules (scheme_exact_stellar.md "Facilitator Verification Rules";
typescript/packages/mechanisms/stellar/src/exact/facilitator/scheme.ts `verify`, `validateAuthEntries`,
`validateSimulationEvents`): one table row per rule, each a real signed payload that breaks exactly it.
The RPC is a stand-in here (latest ledger 500, a simulation answer per row) to isolate the rules;
tests/integration/test_facilitator_rpc.py runs them against the offline network's Soroban RPC."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest
from stellar_sdk import Asset, Keypair
from stellar_sdk.soroban_rpc import SimulateTransactionResponse

from reference_impl.clock import ManualClock
from reference_impl.facilitator.checks import auth_key
from reference_impl.facilitator.payload import Refusal, Requirements, parse_transfer
from reference_impl.facilitator.verifier import ExactStellarVerifier, ReplayCache
from tests.x402_v2_payloads import (
    NETWORK,
    PASSPHRASE,
    PRICE,
    payload,
    requirements,
    transfer_event,
    transfer_tx,
)

LATEST = 500
PAYER, PAY_TO, FACILITATOR, OTHER = (Keypair.from_raw_ed25519_seed(bytes([i]) * 32) for i in range(1, 5))
USDC = Asset("USDC", OTHER.public_key).contract_id(PASSPHRASE)
XLM = Asset.native().contract_id(PASSPHRASE)


class FakeServer:
    """Answers getLatestLedger and simulateTransaction as the row asks."""

    def __init__(self, events: list[str], error: str | None = None, min_fee: int = 10_000) -> None:
        self.events, self.error, self.min_fee = events, error, min_fee

    async def get_latest_ledger(self) -> Any:
        return type("Latest", (), {"sequence": LATEST})()

    async def simulate_transaction(self, envelope: Any, use_upgraded_auth: bool = True) -> SimulateTransactionResponse:
        if self.error:
            return SimulateTransactionResponse.model_validate({"error": self.error, "latestLedger": LATEST})
        return SimulateTransactionResponse.model_validate({
            "transactionData": envelope.transaction.soroban_data.to_xdr(), "minResourceFee": self.min_fee,
            "events": self.events, "results": [{"auth": [], "xdr": "AAAAAQ=="}], "latestLedger": LATEST})


class FakeRpc:
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    async def call(self, fn: Callable[[Any], Any], resend: bool = True) -> Any:
        return await fn(self.server)


def good_event() -> str:
    return transfer_event(USDC, PAYER.public_key, PAY_TO.public_key, PRICE)


def verifier(server: FakeServer | None = None, replays: ReplayCache | None = None) -> ExactStellarVerifier:
    return ExactStellarVerifier(FakeRpc(server or FakeServer([good_event()])),  # type: ignore[arg-type]
                                replays or ReplayCache(600.0), network=NETWORK, passphrase=PASSPHRASE,
                                facilitator=frozenset({FACILITATOR.public_key}), ledger_seconds=5.0)


def good() -> tuple[dict[str, Any], dict[str, Any]]:
    req = requirements(USDC, PAY_TO.public_key)
    return payload(req, transfer_tx(PAYER, USDC, PAY_TO.public_key, PRICE, expiration=LATEST + 12)), req


def run(v: ExactStellarVerifier, pay: dict[str, Any], req: dict[str, Any]) -> Any:
    return asyncio.run(v.verify(pay, req))


def test_a_good_payment_verifies_with_its_payer() -> None:
    verified = run(verifier(), *good())
    assert verified.payer == PAYER.public_key
    assert verified.transfer.amount == PRICE and verified.transfer.pay_to == PAY_TO.public_key


def _tx(**kw: Any) -> Callable[[dict, dict], None]:
    """A row that replaces the payload's transaction with one built with these arguments."""
    def mutate(pay: dict, req: dict) -> None:
        args = {"payer": PAYER, "contract": USDC, "pay_to": PAY_TO.public_key, "amount": PRICE,
                "expiration": LATEST + 12, **kw}
        pay["payload"]["transaction"] = transfer_tx(args.pop("payer"), args.pop("contract"), args.pop("pay_to"),
                                                    args.pop("amount"), **args)
    return mutate


def _set(path: str, value: Any) -> Callable[[dict, dict], None]:
    def mutate(pay: dict, req: dict) -> None:
        where, _, key = path.partition(".")
        target = {"payload": pay, "req": req, "accepted": pay["accepted"]}[where]
        target[key] = value
    return mutate


ROWS: dict[str, tuple[Callable[[dict, dict], None], str]] = {
    "version 1": (_set("payload.x402Version", 1), "invalid_x402_version"),
    "scheme upto": (_set("accepted.scheme", "upto"), "unsupported_scheme"),
    "accepted another network": (_set("accepted.network", "stellar:testnet"), "network_mismatch"),
    "unsupported network": (lambda p, r: (p["accepted"].update(network="stellar:x"), r.update(network="stellar:x")),
                            "invalid_network"),
    "not XDR": (_set("payload.payload", {"transaction": "not-xdr"}), "invalid_exact_stellar_payload_malformed"),
    "facilitator as tx source": (_tx(source=FACILITATOR.public_key),
                                 "invalid_exact_stellar_payload_unsafe_tx_or_op_source"),
    "another token": (_tx(contract=XLM), "invalid_exact_stellar_payload_wrong_asset"),
    "facilitator pays": (_tx(payer=FACILITATOR), "invalid_exact_stellar_payload_facilitator_is_payer"),
    "wrong payee": (_tx(pay_to=OTHER.public_key), "invalid_exact_stellar_payload_wrong_recipient"),
    "wrong amount": (_tx(amount=PRICE - 1), "invalid_exact_stellar_payload_wrong_amount"),
    "unsigned": (_tx(unsigned=True), "invalid_exact_stellar_payload_missing_payer_signature"),
    "sub-invocation": (_tx(sub_invocation=True), "invalid_exact_stellar_payload_has_subinvocations"),
    "facilitator in auth": (_tx(auth_address=FACILITATOR.public_key, signer=FACILITATOR),
                            "invalid_exact_stellar_payload_facilitator_in_auth"),
    "expired": (_tx(expiration=LATEST), "invalid_exact_stellar_signature_expired"),
    "expiring too far": (_tx(expiration=LATEST + 12 + 3), "invalid_exact_stellar_signature_expiration_too_far"),
    "signed for another network": (_tx(sign_passphrase="Test SDF Network ; September 2015"),
                                   "invalid_exact_stellar_payload_signature"),
    "fee above the maximum": (_tx(fee=50_001), "invalid_exact_stellar_payload_fee_exceeds_maximum"),
    "fee below the resource fee": (_tx(fee=9_999), "invalid_exact_stellar_payload_fee_below_minimum"),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_each_rule_refuses_with_its_reason(row: str) -> None:
    pay, req = good()
    mutate, reason = ROWS[row]
    mutate(pay, req)
    with pytest.raises(Refusal) as caught:
        run(verifier(), pay, req)
    assert caught.value.reason == reason


EVENT_ROWS = {
    "no event": ([], "invalid_exact_stellar_payload_no_transfer_events"),
    "two transfers": ([good_event(), good_event()], "invalid_exact_stellar_payload_multiple_transfers"),
    "a mint": ([transfer_event(USDC, PAYER.public_key, PAY_TO.public_key, PRICE, name="mint")],
               "invalid_exact_stellar_payload_event_not_transfer"),
    "another contract": ([transfer_event(XLM, PAYER.public_key, PAY_TO.public_key, PRICE)],
                         "invalid_exact_stellar_payload_event_wrong_asset"),
    "from another": ([transfer_event(USDC, OTHER.public_key, PAY_TO.public_key, PRICE)],
                     "invalid_exact_stellar_payload_event_wrong_from"),
    "to another": ([transfer_event(USDC, PAYER.public_key, OTHER.public_key, PRICE)],
                   "invalid_exact_stellar_payload_event_wrong_to"),
    "another amount": ([transfer_event(USDC, PAYER.public_key, PAY_TO.public_key, PRICE + 1)],
                       "invalid_exact_stellar_payload_event_wrong_amount"),
}


@pytest.mark.parametrize("row", sorted(EVENT_ROWS))
def test_simulation_events_must_show_exactly_the_payment(row: str) -> None:
    events, reason = EVENT_ROWS[row]
    with pytest.raises(Refusal) as caught:
        run(verifier(FakeServer(events)), *good())
    assert caught.value.reason == reason


def test_a_failed_simulation_refuses() -> None:
    with pytest.raises(Refusal) as caught:
        run(verifier(FakeServer([], error="HostError: Error(Contract, #10)")), *good())
    assert caught.value.reason == "invalid_exact_stellar_payload_simulation_failed"


def test_a_valid_signature_by_a_key_the_account_may_not_have_is_left_to_the_simulation() -> None:
    """Whether another key is one of the account's signers, with enough weight, only the ledger knows:
    the host's check_account_authentication refuses it in the simulation (the integration test shows it)."""
    pay, req = good()
    _tx(signer=OTHER)(pay, req)
    assert run(verifier(), pay, req).payer == PAYER.public_key
    with pytest.raises(Refusal) as caught:
        run(verifier(FakeServer([], error="HostError: Error(Auth, InvalidAction)")), pay, req)
    assert caught.value.reason == "invalid_exact_stellar_payload_simulation_failed"


def test_a_payment_being_settled_is_a_duplicate() -> None:
    pay, req = good()
    replays = ReplayCache(600.0)
    transfer = parse_transfer(pay, Requirements.parse(req), PASSPHRASE, frozenset())
    assert replays.claim(auth_key(transfer))
    with pytest.raises(Refusal) as caught:
        run(verifier(replays=replays), copy.deepcopy(pay), req)
    assert caught.value.reason == "duplicate_settlement"
    assert auth_key(transfer) == ((PAYER.public_key, 7),)


def test_replay_cache_forgets_after_ttl_and_stays_bounded() -> None:
    clock = ManualClock()
    cache = ReplayCache(ttl=10.0, capacity=3, clock=clock)
    assert cache.claim("a") and not cache.claim("a")
    clock.advance(10.0)
    assert "a" not in cache and cache.claim("a")
    assert cache.claim("short", ttl=1.0) and cache.claim("b") and cache.claim("c")
    clock.advance(2.0)
    assert "short" not in cache  # expired although older entries are still alive
    for key in "defgh":
        cache.claim(key)
    assert len(cache._entries) <= 3
    cache.release("h")
    assert "h" not in cache
