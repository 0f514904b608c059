"""Client side of x402 v2, `exact` on Stellar, written with stellar-sdk as an agent would (the Python
twin of @x402/stellar's ExactStellarScheme client, src/exact/client/scheme.ts).

`pay`: read `PAYMENT-REQUIRED`, pick the `exact` requirements, build `transfer(payer, payTo, amount)`
on the token contract from the null account (as AssembledTransaction does without a public key),
simulate it (recording the payer's auth entry), sign the entry with `stellar_sdk.auth.authorize_entry`
to expire at `latest + ceil(maxTimeoutSeconds / 5)` (the official fallback estimate), simulate again
and assemble, then wrap it in a `PAYMENT-SIGNATURE`. The network passphrase comes from the RPC's
`getNetwork` and must be the one the requirements' CAIP-2 name stands for.

`Tamper` makes the adversarial payloads of the v2 tamperers: an honestly signed transfer of the wrong
amount, to the wrong payee or on the wrong token; an entry that already expired; an entry signed for
another network's passphrase. Tampered entries are not re-simulated (the simulation would refuse them).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stellar_sdk import (
    Account,
    Address,
    Asset,
    InvokeHostFunction,
    Keypair,
    SorobanServer,
    TransactionBuilder,
    scval,
)
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorize_entry

from reference_impl.facilitator.networks import caip2_network

NULL_ACCOUNT = Keypair.from_raw_ed25519_public_key(bytes(32)).public_key  # the all-zero key, G...AWHF
ESTIMATED_LEDGER_SECONDS = 5  # DEFAULT_ESTIMATED_LEDGER_SECONDS of @x402/stellar
# A passphrase of no network at all: a "wrong network" signature valid nowhere (issue 11).
OTHER_NETWORK = "Stellar Resilience Harness Other Network ; 2026"
TAMPERINGS = ("wrong_amount", "wrong_pay_to", "wrong_asset", "expired", "wrong_network")
CRYPTO_TAMPERINGS = frozenset({"expired", "wrong_network"})  # a signature that must not verify: logged CRITICAL


class PaymentError(RuntimeError):
    """The client could not build a payment (no usable requirements, simulation refused, ...)."""


@dataclass(frozen=True, slots=True)
class Tamper:
    kind: str  # one of TAMPERINGS
    other_account: str = ""  # wrong_pay_to: the account paid instead


def decode_header(headers: Mapping[str, str], name: str) -> dict[str, Any] | None:
    """A base64 JSON header (case-insensitive name), or None when absent or undecodable."""
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def exact_requirements(required: dict[str, Any] | None) -> dict[str, Any] | None:
    """The first `exact` Stellar entry of a PaymentRequired's `accepts`."""
    accepts = required.get("accepts") if isinstance(required, dict) else None
    for req in accepts if isinstance(accepts, list) else ():
        if isinstance(req, dict) and req.get("scheme") == "exact" and str(req.get("network", "")).startswith("stellar:"):
            return req
    return None


def payment_signature(required: dict[str, Any], accepted: dict[str, Any], transaction: str) -> str:
    """The `PAYMENT-SIGNATURE` header value (x402Client.createPaymentPayload's shape)."""
    payload = {"x402Version": 2, "payload": {"transaction": transaction}, "resource": required.get("resource"),
               "accepted": accepted}
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def network_passphrase(rpc: SorobanServer, network: str) -> str:
    """The RPC's passphrase, checked against the requirements' network name."""
    passphrase = rpc.get_network().passphrase
    if caip2_network(passphrase) != network:
        raise PaymentError(f"the RPC serves {caip2_network(passphrase)}, the requirements ask for {network}")
    return passphrase


def build_transaction(rpc: SorobanServer, req: dict[str, Any], payer: Keypair, passphrase: str,
                      tamper: Tamper | None = None) -> str:
    """The payload's base64 transaction: `transfer` simulated, auth signed, simulated again, assembled."""
    kind = tamper.kind if tamper else ""
    amount = int(req["amount"]) - (1 if kind == "wrong_amount" else 0)
    pay_to = tamper.other_account if tamper is not None and kind == "wrong_pay_to" else str(req["payTo"])
    contract = Asset.native().contract_id(passphrase) if kind == "wrong_asset" else str(req["asset"])
    call = X.InvokeContractArgs(Address(contract).to_xdr_sc_address(), X.SCSymbol(b"transfer"),
                                [scval.to_address(payer.public_key), scval.to_address(pay_to), scval.to_int128(amount)])
    function = X.HostFunction(X.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT, invoke_contract=call)
    draft = (TransactionBuilder(Account(NULL_ACCOUNT, 0), passphrase, base_fee=100)
             .append_operation(InvokeHostFunction(function, [])).set_timeout(int(req["maxTimeoutSeconds"])).build())
    recorded = _simulated(rpc, draft)
    entries = [X.SorobanAuthorizationEntry.from_xdr(a) for a in (recorded.results or [])[0].auth or []]
    addresses = {Address.from_xdr_sc_address(e.credentials.address.address).address
                 for e in entries if e.credentials.address is not None}
    if addresses != {payer.public_key}:
        raise PaymentError(f"expected to sign with [{payer.public_key}], got {sorted(addresses)}")
    latest = recorded.latest_ledger
    expiration = (latest - 1 if kind == "expired"
                  else latest + math.ceil(int(req["maxTimeoutSeconds"]) / ESTIMATED_LEDGER_SECONDS))
    sign_for = OTHER_NETWORK if kind == "wrong_network" else passphrase
    signed = draft
    invoke = signed.transaction.operations[0]
    assert isinstance(invoke, InvokeHostFunction)  # the draft's one operation
    invoke.auth = [authorize_entry(e, payer, expiration, sign_for) for e in entries]
    final = recorded if kind in ("expired", "wrong_network") else _simulated(rpc, signed)
    return rpc.prepare_transaction(signed, final).to_xdr()


def _simulated(rpc: SorobanServer, envelope: Any) -> Any:
    sim = rpc.simulate_transaction(envelope, use_upgraded_auth=False)
    if sim.error or not sim.results or sim.transaction_data is None:
        raise PaymentError(f"simulation failed: {(sim.error or 'no result')[:200]}")
    return sim


def pay(rpc: SorobanServer, headers: Mapping[str, str], payer: Keypair, passphrase: str | None = None,
        tamper: Tamper | None = None) -> tuple[str, str]:
    """(PAYMENT-SIGNATURE value, the network passphrase) answering a 402's headers; pass the passphrase
    back on later payments to skip the `getNetwork` check."""
    required = decode_header(headers, "PAYMENT-REQUIRED")
    req = exact_requirements(required)
    if required is None or req is None:
        raise PaymentError("no exact Stellar requirements in PAYMENT-REQUIRED")
    if not req.get("extra", {}).get("areFeesSponsored"):
        raise PaymentError("Exact scheme requires areFeesSponsored to be true")
    if passphrase is None or caip2_network(passphrase) != req["network"]:
        passphrase = network_passphrase(rpc, str(req["network"]))
    return payment_signature(required, req, build_transaction(rpc, req, payer, passphrase, tamper)), passphrase
