"""x402 v1 (`exact` scheme, a fully signed classic Stellar payment): challenges with single-use
nonces, and verification of X-PAYMENT headers through the input validator.

Verification order: structure (validator) -> payer signature for this network (crypto) -> validity
window (crypto) -> match with the requirements (recipient, asset, amount; one parse does structure and
match, the crypto checks run before a mismatch is reported) -> memo nonce issued,
unexpired and unused, tx hash unseen (replay) -> payer account: balance of the price's asset
(`payment.x402.asset`: `native` or `CODE:ISSUER`, e.g. USDC) and sequence (ledger).
The nonce and the hash are consumed before the ledger is read, so two concurrent copies of one
payment can never both pass.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from stellar_sdk import HashMemo

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import CryptoVerificationError, ReferenceImplError, ValidationError
from reference_impl.input_validator import InputValidator, PaymentProof
from reference_impl.service.nonces import Nonce, NonceRejectedError, NonceStore
from reference_impl.service.stellar_client import FailoverStellarClient

X402_VERSION = 1
REASONS = (
    "invalid_payload",
    "invalid_x402_version",
    "invalid_scheme",
    "unsupported_scheme",
    "invalid_network",
    "invalid_exact_stellar_payload_signature",
    "invalid_exact_stellar_payload_expired",
    "invalid_exact_stellar_payload_wrong_recipient",
    "invalid_exact_stellar_payload_wrong_asset",
    "invalid_exact_stellar_payload_wrong_amount",
    "invalid_exact_stellar_payload_unknown_nonce",
    "invalid_exact_stellar_payload_replay",
    "insufficient_funds",
    "invalid_transaction_state",
)
# Log category per reason: crypto -> CRITICAL + alert, replay -> MEDIUM, anything else -> LOW validation.
CRYPTO_REASONS = frozenset(
    {"invalid_network", "invalid_exact_stellar_payload_signature", "invalid_exact_stellar_payload_expired"}
)
REPLAY_REASONS = frozenset({"invalid_exact_stellar_payload_replay"})
MISMATCH_REASONS = frozenset(
    {
        "invalid_exact_stellar_payload_wrong_recipient",
        "invalid_exact_stellar_payload_wrong_asset",
        "invalid_exact_stellar_payload_wrong_amount",
    }
)
FEE_RESERVE_STROOPS = 100


class PaymentRejectedError(ReferenceImplError):
    """The X-PAYMENT header was refused; `reason` is the x402 reason code, `field` what failed."""

    def __init__(self, reason: str, message: str, field: str = "X-PAYMENT") -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field

    @property
    def category(self) -> str:
        if self.reason in CRYPTO_REASONS:
            return "crypto"
        return "replay" if self.reason in REPLAY_REASONS else "validation"


def encode_header(payload: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


class X402Gateway:
    """Issues payment requirements and verifies payments for the configured price and payee."""

    def __init__(
        self,
        validator: InputValidator,
        client: FailoverStellarClient,
        *,
        network: str,
        network_passphrase: str,
        pay_to: str,
        price_stroops: int,
        max_timeout_seconds: int,
        nonces: NonceStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        asset: str = "native",
    ) -> None:
        self.validator = validator
        self.asset = asset
        self.client = client
        self.network = network
        self.network_passphrase = network_passphrase
        self.pay_to = pay_to
        self.price_stroops = price_stroops
        self.max_timeout_seconds = max_timeout_seconds
        self.nonces = nonces or NonceStore(max_timeout_seconds, clock=clock)

    def requirements(self, resource_url: str, nonce: Nonce) -> dict[str, Any]:
        return {
            "scheme": "exact",
            "network": self.network,
            "maxAmountRequired": str(self.price_stroops),
            "asset": self.asset,
            "payTo": self.pay_to,
            "resource": resource_url,
            "description": "paid resource",
            "mimeType": "application/json",
            "maxTimeoutSeconds": self.max_timeout_seconds,
            "extra": {
                "nonce": nonce.value,
                "nonceExpiresAt": nonce.expires_at,
                "memo": "hash",
                "networkPassphrase": self.network_passphrase,
            },
        }

    def challenge(self, resource_url: str, error: str, message: str, client: str) -> dict[str, Any]:
        """The 402 body, with a fresh nonce bound to the resource's path and held for `client`
        (NonceCapacityError when the store is full)."""
        nonce = self.nonces.issue(urlsplit(resource_url).path, client)
        return {
            "x402Version": X402_VERSION,
            "error": error,
            "message": message,
            "accepts": [self.requirements(resource_url, nonce)],
        }

    async def verify(self, header: str, resource_url: str) -> PaymentProof:
        """Accept the payment or raise PaymentRejectedError (StellarUnavailableError passes through)."""
        proof = self._check_proof(header, resource_url)
        nonce = self._memo_nonce(proof)
        if self.nonces.is_used(proof.tx_hash):
            raise PaymentRejectedError("invalid_exact_stellar_payload_replay", "transaction was already used")
        try:
            self.nonces.take(nonce, urlsplit(resource_url).path)
        except NonceRejectedError as error:
            raise PaymentRejectedError(error.reason, str(error)) from None
        self.nonces.mark_used(proof.tx_hash)  # consumed before the first await: a concurrent copy is a replay
        await self._check_payer(proof)
        return proof

    async def _check_payer(self, proof: PaymentProof) -> None:
        """The payer's account exists, holds the amount, and has not consumed the transaction's sequence."""
        account = await self.client.account(proof.payer)
        if account is None:
            raise PaymentRejectedError("insufficient_funds", "payer account does not exist")
        reserve = FEE_RESERVE_STROOPS if self.asset == "native" else 0  # fees are paid in XLM
        if _balance_stroops(account, self.asset) < proof.amount_stroops + reserve:
            raise PaymentRejectedError("insufficient_funds", f"payer's {self.asset} balance is below the amount")
        if int(account["sequence"]) >= proof.envelope.transaction.sequence:
            raise PaymentRejectedError(
                "invalid_transaction_state", "transaction sequence was already consumed"
            )

    def _check_proof(self, header: str, resource_url: str) -> PaymentProof:
        """Parse once against the requirements; on a mismatch, the crypto checks still run first so
        a tampered payment is always reported as a signature failure (CRITICAL), never as LOW."""
        required = {
            "network": self.network,
            "payTo": self.pay_to,
            "asset": self.asset,
            "maxAmountRequired": str(self.price_stroops),
        }
        try:
            proof = self.validator.validate_payment_proof(header, required, field="X-PAYMENT")
        except ValidationError as error:
            reason = _reason(error.reason)
            if reason in MISMATCH_REASONS:
                self._verify_crypto(self.validator.validate_payment_proof(header, field="X-PAYMENT"))
            raise PaymentRejectedError(reason, str(error), error.field) from None
        self._verify_crypto(proof)
        return proof

    def _verify_crypto(self, proof: PaymentProof) -> None:
        try:
            self.validator.verify_transaction_signature(proof.envelope, proof.network_passphrase, proof.payer)
        except CryptoVerificationError as error:
            raise PaymentRejectedError(
                "invalid_exact_stellar_payload_signature", str(error), error.field
            ) from None
        except ValidationError as error:
            raise PaymentRejectedError("invalid_payload", str(error), error.field) from None
        try:
            self.validator.verify_validity_window(proof.envelope, proof.network_passphrase)
        except ValidationError as error:
            raise PaymentRejectedError(
                "invalid_exact_stellar_payload_expired", str(error), error.field
            ) from None

    @staticmethod
    def _memo_nonce(proof: PaymentProof) -> str:
        memo = proof.envelope.transaction.memo
        if not isinstance(memo, HashMemo):
            raise PaymentRejectedError(
                "invalid_exact_stellar_payload_unknown_nonce", "memo must be a hash memo carrying the nonce"
            )
        return memo.memo_hash.hex()

    def receipt(self, proof: PaymentProof) -> str:
        """The X-PAYMENT-RESPONSE header value."""
        return encode_header(
            {"success": True, "transaction": proof.tx_hash, "network": self.network, "payer": proof.payer}
        )


def _reason(text: str) -> str:
    code = text.split(":", 1)[0].strip()
    if code == "unsupported_scheme":
        return "invalid_scheme"
    return code if code in REASONS else "invalid_payload"


def _balance_stroops(account: dict[str, Any], asset: str) -> int:
    """The account's balance of `asset` in stroops (0 without a trustline), from Horizon's `balances`."""
    code, _, issuer = asset.partition(":")
    for balance in account.get("balances", []):
        native = balance.get("asset_type") == "native"
        if (native and asset == "native") or (
            not native and (balance.get("asset_code"), balance.get("asset_issuer")) == (code, issuer)
        ):
            return _stroops(balance["balance"])
    return 0


def _stroops(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 10_000_000 + int((frac + "0000000")[:7])
