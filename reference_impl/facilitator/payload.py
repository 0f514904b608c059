"""The x402 v2 `exact` Stellar payload: its transaction parsed once, and the structural checks.

A payload's `transaction` is a base64 `TransactionEnvelope` with one `invokeHostFunction` operation
calling SEP-41 `transfer(from, to, amount)` on the token contract, carrying the payer's signed
Soroban authorization entries (specs/schemes/exact/scheme_exact_stellar.md, "Facilitator
Verification Rules"; typescript/packages/mechanisms/stellar/src/exact/facilitator/scheme.ts
`verify`, steps 2-6). Every check raises `Refusal(reason)` with the official reason code.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from stellar_sdk import Address, InvokeHostFunction, TransactionEnvelope, scval
from stellar_sdk import xdr as X
from stellar_sdk.exceptions import SdkError

from reference_impl.errors import ReferenceImplError

X402_VERSION = 2
SCHEME = "exact"
MAX_PAYLOAD_CHARS = 64 * 1024


class Refusal(ReferenceImplError):
    """A payment is refused: `reason` is the x402 reason code, `payer` the transfer's `from` if known."""

    def __init__(self, reason: str, message: str = "", payer: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.payer = payer


@dataclass(frozen=True, slots=True)
class Requirements:
    """The `PaymentRequirements` a payment is verified against (only the fields the scheme reads)."""

    scheme: str
    network: str
    asset: str
    amount: int
    pay_to: str
    max_timeout_seconds: int

    @classmethod
    def parse(cls, raw: Any) -> Requirements:
        if not isinstance(raw, dict):
            raise Refusal("invalid_payment_requirements", "paymentRequirements must be an object")
        try:
            amount = raw["amount"]
            if not isinstance(amount, str) or not amount.isdigit():
                raise ValueError("amount must be a string of digits (atomic units)")
            timeout = raw.get("maxTimeoutSeconds", 60)
            if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86_400:
                raise ValueError("maxTimeoutSeconds must be an integer in 1..86400")
            fields = (raw["scheme"], raw["network"], raw["asset"], raw["payTo"])
            if not all(isinstance(f, str) and 0 < len(f) <= 128 for f in fields):
                raise ValueError("scheme, network, asset and payTo must be non-empty strings")
            return cls(fields[0], fields[1], fields[2], int(amount), fields[3], timeout)
        except (KeyError, ValueError) as error:
            raise Refusal("invalid_payment_requirements", str(error)) from None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A parsed payment transaction: the SEP-41 transfer it invokes and its auth entries."""

    envelope: TransactionEnvelope
    operation: InvokeHostFunction
    contract: str
    payer: str  # `from`
    pay_to: str  # `to`
    amount: int
    auth: tuple[X.SorobanAuthorizationEntry, ...]

    @property
    def fee(self) -> int:
        return int(self.envelope.transaction.fee)

    @property
    def soroban_data(self) -> X.SorobanTransactionData | None:
        return self.envelope.transaction.soroban_data


def check_protocol(payload: Any, requirements: Requirements, networks: frozenset[str]) -> dict[str, Any]:
    """Version, scheme and network (the spec's "Protocol Validation"); returns the payload object."""
    if not isinstance(payload, dict):
        raise Refusal("invalid_payload", "paymentPayload must be an object")
    if payload.get("x402Version") != X402_VERSION:
        raise Refusal("invalid_x402_version", f"x402Version must be {X402_VERSION}")
    accepted = payload.get("accepted")
    if not isinstance(accepted, dict):
        raise Refusal("invalid_payload", "paymentPayload.accepted must be an object")
    if accepted.get("scheme") != SCHEME or requirements.scheme != SCHEME:
        raise Refusal("unsupported_scheme", f"scheme must be {SCHEME!r}")
    if accepted.get("network") != requirements.network:
        raise Refusal("network_mismatch", "accepted.network differs from the requirements' network")
    if requirements.network not in networks:
        raise Refusal("invalid_network", f"network {requirements.network!r} is not supported")
    return payload


def parse_transfer(payload: dict[str, Any], requirements: Requirements, passphrase: str,
                   facilitator: frozenset[str]) -> Transfer:
    """Parse `payload.transaction` and check its structure against the requirements (steps 2-6)."""
    body = payload.get("payload")
    xdr_text = body.get("transaction") if isinstance(body, dict) else None
    if not isinstance(xdr_text, str) or not 0 < len(xdr_text) <= MAX_PAYLOAD_CHARS:
        raise Refusal("invalid_exact_stellar_payload_malformed", "payload.transaction must be base64 XDR")
    try:
        envelope = TransactionEnvelope.from_xdr(xdr_text, passphrase)
    except (SdkError, ValueError, TypeError, IndexError, binascii.Error, EOFError) as error:
        raise Refusal("invalid_exact_stellar_payload_malformed",
                      f"undecodable transaction: {type(error).__name__}") from None
    tx = envelope.transaction
    if len(tx.operations) != 1 or not isinstance(tx.operations[0], InvokeHostFunction):
        raise Refusal("invalid_exact_stellar_payload_wrong_operation", "one invokeHostFunction operation required")
    op = tx.operations[0]
    op_source = op.source.account_id if op.source is not None else ""
    if tx.source.account_id in facilitator or op_source in facilitator:
        raise Refusal("invalid_exact_stellar_payload_unsafe_tx_or_op_source",
                      "the transaction or operation source is the facilitator")
    function = op.host_function
    if function.type != X.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT or function.invoke_contract is None:
        raise Refusal("invalid_exact_stellar_payload_wrong_operation", "the host function must invoke a contract")
    call = function.invoke_contract
    contract = _address(call.contract_address)
    if contract != requirements.asset:
        raise Refusal("invalid_exact_stellar_payload_wrong_asset", "the invoked contract is not the asset")
    if call.function_name.sc_symbol != b"transfer" or len(call.args) != 3:
        raise Refusal("invalid_exact_stellar_payload_wrong_function_name", "transfer(from, to, amount) required")
    try:
        payer = scval.from_address(call.args[0]).address
        pay_to = scval.from_address(call.args[1]).address
        amount = scval.from_int128(call.args[2])
    except ValueError as error:
        raise Refusal("invalid_exact_stellar_payload_malformed", f"transfer arguments: {error}") from None
    if payer in facilitator:
        raise Refusal("invalid_exact_stellar_payload_facilitator_is_payer", "the facilitator cannot pay")
    if pay_to != requirements.pay_to:
        raise Refusal("invalid_exact_stellar_payload_wrong_recipient", "transfer `to` is not payTo", payer)
    if amount != requirements.amount:
        raise Refusal("invalid_exact_stellar_payload_wrong_amount", "transfer amount is not the required amount",
                      payer)
    return Transfer(envelope, op, contract, payer, pay_to, amount, tuple(op.auth))


def _address(sc_address: X.SCAddress) -> str:
    try:
        return Address.from_xdr_sc_address(sc_address).address
    except ValueError as error:
        raise Refusal("invalid_exact_stellar_payload_malformed", f"address: {error}") from None
