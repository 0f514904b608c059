"""x402 v2 payloads built offline for the facilitator's unit tests: the transaction a client sends
after simulating and signing (what Soroban RPC would record: an address-credential auth entry for the
payer with a nonce, signed with `stellar_sdk.auth.authorize_entry`), and the transfer event a
Stellar Asset Contract emits (CAP-46-6: topics ["transfer", from, to, "CODE:ISSUER"], data i128)."""

from __future__ import annotations

import base64
import json
from typing import Any

from stellar_sdk import Account, Address, InvokeHostFunction, Keypair, TransactionBuilder, scval
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorize_entry

from scenarios.users.x402_v2_client import NULL_ACCOUNT

PASSPHRASE = "Stellar Resilience Harness Offline Network ; 2026"
NETWORK = "stellar:offline"
PRICE = 100_000


def requirements(asset: str, pay_to: str, amount: int = PRICE, timeout: int = 60) -> dict[str, Any]:
    return {"scheme": "exact", "network": NETWORK, "amount": str(amount), "asset": asset, "payTo": pay_to,
            "maxTimeoutSeconds": timeout, "extra": {"areFeesSponsored": True}}


def payload(req: dict[str, Any], transaction: str) -> dict[str, Any]:
    return {"x402Version": 2, "resource": {"url": "http://127.0.0.1/resources/r1"}, "accepted": dict(req),
            "payload": {"transaction": transaction}}


def invocation(contract: str, payer: str, pay_to: str, amount: int) -> X.InvokeContractArgs:
    return X.InvokeContractArgs(Address(contract).to_xdr_sc_address(), X.SCSymbol(b"transfer"),
                                [scval.to_address(payer), scval.to_address(pay_to), scval.to_int128(amount)])


def transfer_tx(payer: Keypair, contract: str, pay_to: str, amount: int, *, expiration: int = 1000,
                nonce: int = 7, sign_passphrase: str = PASSPHRASE, signer: Keypair | None = None,
                source: str = NULL_ACCOUNT, sub_invocation: bool = False, unsigned: bool = False,
                fee: int = 20_000, auth_address: str | None = None) -> str:
    """A payment transaction as a client sends it (simulated resources faked: resource fee = fee - 100)."""
    call = invocation(contract, payer.public_key, pay_to, amount)
    subs = [X.SorobanAuthorizedInvocation(
        X.SorobanAuthorizedFunction(X.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
                                    contract_fn=call), [])] if sub_invocation else []
    root = X.SorobanAuthorizedInvocation(
        X.SorobanAuthorizedFunction(X.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
                                    contract_fn=call), subs)
    creds = X.SorobanAddressCredentials(Address(auth_address or payer.public_key).to_xdr_sc_address(),
                                        X.Int64(nonce), X.Uint32(0), scval.to_void())
    entry = X.SorobanAuthorizationEntry(
        X.SorobanCredentials(X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS, address=creds), root)
    if not unsigned:
        entry = authorize_entry(entry, signer or payer, expiration, sign_passphrase)
    function = X.HostFunction(X.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT, invoke_contract=call)
    data = X.SorobanTransactionData(
        X.SorobanTransactionDataExt(0),
        X.SorobanResources(X.LedgerFootprint([], []), X.Uint32(1_000_000), X.Uint32(1000), X.Uint32(1000)),
        X.Int64(fee - 100))
    return (TransactionBuilder(Account(source, 0), PASSPHRASE, base_fee=100)
            .append_operation(InvokeHostFunction(function, [entry])).set_soroban_data(data)
            .set_timeout(60).build().to_xdr())


def transfer_event(contract: str, source: str, dest: str, amount: int, name: str = "transfer") -> str:
    """A simulation's DiagnosticEvent (in a successful call) for a SAC transfer."""
    body = X.ContractEventBody(0, v0=X.ContractEventV0(
        [scval.to_symbol(name), scval.to_address(source), scval.to_address(dest), scval.to_string("USDC:G")],
        scval.to_int128(amount)))
    event = X.ContractEvent(X.ExtensionPoint(0), X.ContractID(X.Hash(Address(contract).key)),
                            X.ContractEventType.CONTRACT, body)
    return X.DiagnosticEvent(True, event).to_xdr()


def header(value: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()
