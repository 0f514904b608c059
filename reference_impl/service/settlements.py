"""POST /settlements: validate the request, build the payment (memo hash = sha256 of the
Idempotency-Key, or of the settlement id) and run it through the submission engine.

Settlements pay in the configured asset (`payment.asset`: `native` or `CODE:ISSUER`, e.g. USDC); a
request may name it in `asset` and is refused when it names another."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stellar_sdk import Asset, TransactionBuilder

from reference_impl.errors import ValidationError
from reference_impl.input_validator import InputValidator, stroops_to_amount

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
SETTLEMENT_FIELDS = frozenset({"destination", "amount", "asset", "agent_did"})


def payment_asset(text: str) -> Asset:
    """The stellar-sdk Asset of a configured asset string (`native` or `CODE:ISSUER`)."""
    if text == "native":
        return Asset.native()
    code, _, issuer = text.partition(":")
    return Asset(code, issuer)


@dataclass(frozen=True, slots=True)
class SettlementRequest:
    destination: str
    amount: str  # 7-decimal string
    amount_stroops: int
    agent_did: str
    asset: str = "native"

    def fingerprint(self) -> str:
        return fingerprint(
            {
                "destination": self.destination,
                "amount_stroops": self.amount_stroops,
                "agent_did": self.agent_did,
            }
        )


def fingerprint(data: Mapping[str, Any]) -> str:
    """A stable digest of a normalised request (an Idempotency-Key must not change its request)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise ValidationError("Idempotency-Key", "must be 1..128 characters [A-Za-z0-9_.:-]")
    return value


def agent_did_of(body: Mapping[str, Any], header: str | None, validator: InputValidator) -> str:
    """The agent DID from the body's `agent_did`, else the X-Agent-DID header; one is required."""
    if "agent_did" in body:
        return validator.validate_did(body["agent_did"], "agent_did")
    if header is not None:
        return validator.validate_did(header, "X-Agent-DID")
    raise ValidationError("agent_did", "required (body field or X-Agent-DID header)")


def reject_unknown(body: Mapping[str, Any], allowed: frozenset[str], field: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"{field}{unknown[0]}"[:200], "unknown field")


def parse_settlement(
    body: Any, agent_header: str | None, validator: InputValidator, asset: str = "native"
) -> SettlementRequest:
    body = validator.validate_required_fields(body, ("destination", "amount"), "body")
    reject_unknown(body, SETTLEMENT_FIELDS)
    if body.get("asset", asset) != asset:
        raise ValidationError("asset", f"this service settles in {asset}")
    destination = validator.validate_stellar_address(body["destination"], "destination")
    stroops = validator.validate_amount_stroops(body["amount"], "amount")
    return SettlementRequest(
        destination, stroops_to_amount(stroops), stroops, agent_did_of(body, agent_header, validator), asset
    )


def memo_for(idempotency_key: str | None, settlement_id: str) -> bytes:
    """memo_hash = sha256(Idempotency-Key), or of the settlement id when no key was given."""
    return hashlib.sha256((idempotency_key or settlement_id).encode()).digest()


def payment_builder(request: SettlementRequest, memo: bytes) -> Any:
    asset = payment_asset(request.asset)

    def build(builder: TransactionBuilder) -> TransactionBuilder:
        return builder.append_payment_op(request.destination, asset, request.amount).add_hash_memo(memo)

    return build
