"""x402 v2 on the paid route: the `exact` scheme on Stellar (a SEP-41 `transfer` authorised by Soroban
auth entries), verified and settled by a facilitator over HTTP.

Transport (specs/transports-v2/http.md): a 402 carries `PAYMENT-REQUIRED` = base64 JSON
`{x402Version: 2, error, resource, accepts: [requirements]}`; the client pays with `PAYMENT-SIGNATURE`
= base64 JSON `{x402Version: 2, resource, accepted, payload: {transaction}}`; the answer carries
`PAYMENT-RESPONSE` = base64 JSON `{success, transaction, network, payer, errorReason?}`. As
@x402/core's x402HTTPResourceServer does: `accepted` must equal the offered requirements, then the
facilitator verifies, then it settles, and only a settled payment is served (so a paid request lasts
at least until a ledger closes).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import httpx
from stellar_sdk import Asset, StrKey
from stellar_sdk.exceptions import SdkError

from reference_impl.errors import ConfigurationError, ReferenceImplError

X402_VERSION = 2
MAX_HEADER_CHARS = 64 * 1024
V2_HANDSHAKE = "x402.handshake.v2"  # the whole paid request, settlement included
# Circle's USDC on the real networks (@x402/stellar src/constants.ts), the default token there.
USDC_CONTRACTS = {"stellar:testnet": "CBIELTK6YBZJU5UP2WWQEUCYKLPU6AUNZ2BQ4WWFEIE3USCIHMXQDAMA",
                  "stellar:pubnet": "CCW67TSZV3SSS2HXMBQ5JFGCKJNXKZM7UQUWUZPUTHXSTZLEO7SJMI75"}
# Reasons logged CRITICAL (crypto): a signature that does not verify for this network, or expired.
CRYPTO_REASONS = frozenset({"invalid_exact_stellar_payload_signature", "invalid_exact_stellar_signature_expired",
                            "invalid_network", "network_mismatch"})
REPLAY_REASONS = frozenset({"duplicate_settlement"})


class FacilitatorUnavailableError(ReferenceImplError):
    """The facilitator gave no answer; `maybe_sent` is False when it cannot have acted on the request
    (connection refused, or its own 503: the ledger could not be read, nothing was sent)."""

    def __init__(self, message: str, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True, slots=True)
class Answer:
    """A facilitator's verify or settle answer; `unknown` when a settlement's outcome is not known."""

    ok: bool
    reason: str = ""
    message: str = ""
    payer: str = ""
    transaction: str = ""

    @property
    def unknown(self) -> bool:
        return self.reason == "settle_exact_stellar_outcome_unknown"


class PaymentRefusedV2(ReferenceImplError):
    """A PAYMENT-SIGNATURE header refused before the facilitator saw it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def asset_contract(asset: str | None, network: str, passphrase: str) -> str:
    """The token contract id: a `C...` id as given, or the Stellar Asset Contract of "native" / "CODE:ISSUER"
    on this passphrase; without one, USDC on a real network."""
    if asset is None:
        if network not in USDC_CONTRACTS:
            raise ConfigurationError(f"x402 v2 on {network} needs an asset (--x402-asset)")
        return USDC_CONTRACTS[network]
    if StrKey.is_valid_contract(asset):
        return asset
    try:
        token = Asset.native() if asset == "native" else Asset(*asset.split(":", 1))
        return token.contract_id(passphrase)
    except (ValueError, TypeError, SdkError) as error:
        raise ConfigurationError(f"x402 v2 asset {asset!r}: {error}") from None


def encode(value: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def category(reason: str) -> str:
    """How a refusal is logged: crypto (CRITICAL), replay (MEDIUM) or validation (LOW)."""
    if reason in CRYPTO_REASONS:
        return "crypto"
    return "replay" if reason in REPLAY_REASONS else "validation"


class X402V2Gateway:
    """Requirements for the paid route and the facilitator client."""

    def __init__(self, facilitator_url: str, *, network: str, asset: str, pay_to: str, amount: int,
                 max_timeout_seconds: int, verify_timeout: float, settle_timeout: float) -> None:
        self.network = network
        self.requirements: dict[str, Any] = {
            "scheme": "exact", "network": network, "amount": str(amount), "asset": asset, "payTo": pay_to,
            "maxTimeoutSeconds": max_timeout_seconds, "extra": {"areFeesSponsored": True},
        }
        self.verify_timeout = verify_timeout
        self.settle_timeout = settle_timeout
        self._http = httpx.AsyncClient(base_url=facilitator_url.rstrip("/"),
                                       limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))

    def payment_required(self, resource_url: str, error: str) -> str:
        """The `PAYMENT-REQUIRED` header value."""
        return encode({"x402Version": X402_VERSION, "error": error,
                       "resource": {"url": resource_url, "description": "paid resource",
                                    "mimeType": "application/json"},
                       "accepts": [self.requirements]})

    def response_header(self, answer: Answer) -> str:
        """The `PAYMENT-RESPONSE` header value."""
        body: dict[str, Any] = {"success": answer.ok, "transaction": answer.transaction, "network": self.network}
        if answer.payer:
            body["payer"] = answer.payer
        if not answer.ok:
            body["errorReason"] = answer.reason
        return encode(body)

    def parse(self, header: str) -> dict[str, Any]:
        """Decode `PAYMENT-SIGNATURE`; its `accepted` must be exactly the offered requirements."""
        if len(header) > MAX_HEADER_CHARS:
            raise PaymentRefusedV2("invalid_payload", "PAYMENT-SIGNATURE is too long")
        try:
            payload = json.loads(base64.b64decode(header, validate=True))
        except (binascii.Error, ValueError, RecursionError):
            raise PaymentRefusedV2("invalid_payload", "PAYMENT-SIGNATURE must be base64 JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("payload"), dict):
            raise PaymentRefusedV2("invalid_payload", "PAYMENT-SIGNATURE must hold a PaymentPayload object")
        if payload.get("x402Version") != X402_VERSION:
            raise PaymentRefusedV2("invalid_x402_version", f"x402Version must be {X402_VERSION}")
        if payload.get("accepted") != self.requirements:
            raise PaymentRefusedV2("invalid_payment_requirements", "No matching payment requirements")
        return payload

    async def verify(self, payload: dict[str, Any]) -> Answer:
        body = await self._post("/verify", payload, self.verify_timeout)
        valid = body.get("isValid") is True
        return Answer(valid, "" if valid else str(body.get("invalidReason") or "unexpected_verify_error"),
                      str(body.get("invalidMessage") or ""), str(body.get("payer") or ""))

    async def settle(self, payload: dict[str, Any]) -> Answer:
        body = await self._post("/settle", payload, self.settle_timeout)
        ok = body.get("success") is True
        return Answer(ok, "" if ok else str(body.get("errorReason") or "unexpected_settle_error"),
                      str(body.get("errorMessage") or ""), str(body.get("payer") or ""),
                      str(body.get("transaction") or ""))

    async def _post(self, path: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        request = {"x402Version": X402_VERSION, "paymentPayload": payload, "paymentRequirements": self.requirements}
        try:
            resp = await self._http.post(path, json=request, timeout=timeout)
            body = resp.json()
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise FacilitatorUnavailableError(f"facilitator {path}: {type(error).__name__}", False) from None
        except (httpx.HTTPError, ValueError) as error:
            raise FacilitatorUnavailableError(f"facilitator {path}: {type(error).__name__}", True) from None
        if resp.status_code >= 400 or not isinstance(body, dict):
            reason = (body.get("invalidReason") or body.get("errorReason")) if isinstance(body, dict) else None
            raise FacilitatorUnavailableError(f"facilitator {path}: HTTP {resp.status_code} {reason or ''}".strip(),
                                              resp.status_code != 503)
        return body

    async def aclose(self) -> None:
        await self._http.aclose()
