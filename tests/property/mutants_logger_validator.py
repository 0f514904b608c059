"""Deliberately broken variants of the logger, validators and verifiers (testing only).

Each variant carries one realistic bug. The property tests for P31, P32 and P33 show that
Hypothesis finds a counterexample for every variant, so the properties are not vacuous.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from stellar_sdk import Keypair

from reference_impl.basic_validators import MAX_AMOUNT
from reference_impl.crypto_verification import verify_transaction_signature
from reference_impl.error_logger import ErrorLogger, ErrorRecord, ErrorSeverity
from reference_impl.errors import CryptoVerificationError, ValidationError
from reference_impl.input_validator import InputValidator, PaymentProof, validate_payment_proof
from reference_impl.payment_validators import X402_NETWORKS
from reference_impl.redaction import describe_exception, redact_text

# -- P31: transaction failure logging ----------------------------------------------------------


class MediumTransactionLogger(ErrorLogger):
    """Logs transaction failures at MEDIUM instead of HIGH."""

    def log_transaction_failure(
        self, tx_id: str, agent_did: str, operation: str, cause: Any, context: Any = None
    ) -> ErrorRecord:
        fields = {
            **(context or {}),
            "tx_id": tx_id,
            "agent_did": agent_did,
            "operation": operation,
            "cause": str(cause),
        }
        return self.log_error(
            f"transaction {tx_id} failed", ErrorSeverity.MEDIUM, "transaction", operation, fields
        )


class DoubleLoggingLogger(ErrorLogger):
    """Logs a transaction failure twice when the cause is an exception (generic + specialised)."""

    def log_transaction_failure(
        self, tx_id: str, agent_did: str, operation: str, cause: Any, context: Any = None
    ) -> ErrorRecord:
        if isinstance(cause, BaseException):
            self.log_error(cause, ErrorSeverity.HIGH, "transaction", operation, {"tx_id": tx_id})
        return super().log_transaction_failure(tx_id, agent_did, operation, cause, context)


class SecretLeakingLogger(ErrorLogger):
    """Redacts what it writes but keeps the raw cause in the in-memory record (a 'debug aid')."""

    def log_transaction_failure(
        self, tx_id: str, agent_did: str, operation: str, cause: Any, context: Any = None
    ) -> ErrorRecord:
        record = super().log_transaction_failure(tx_id, agent_did, operation, cause, context)
        raw = describe_exception(cause) if isinstance(cause, BaseException) else str(cause)
        leaked = dataclasses.replace(record, context={**record.context, "cause": raw})
        self._by_id[record.id] = leaked
        return leaked


class ShallowRedactionLogger(ErrorLogger):
    """Redacts top-level context strings only, so secrets nested in lists/dicts survive."""

    def log_error(
        self,
        error_or_message: Any,
        severity: ErrorSeverity = ErrorSeverity.MEDIUM,
        category: str = "general",
        operation: str = "unknown",
        context: Mapping[str, Any] | None = None,
    ) -> ErrorRecord:
        record = super().log_error(error_or_message, severity, category, operation, context)
        shallow = {k: redact_text(v) if isinstance(v, str) else v for k, v in (context or {}).items()}
        kept = dataclasses.replace(record, context=shallow)
        self._by_id[record.id] = kept
        return kept


class DidDroppingLogger(ErrorLogger):
    """Forgets the agent DID when the caller passes its own context."""

    def log_transaction_failure(
        self, tx_id: str, agent_did: str, operation: str, cause: Any, context: Any = None
    ) -> ErrorRecord:
        if context:
            fields = {**context, "tx_id": tx_id, "operation": operation, "cause": str(cause)}
            return self.log_error(
                f"transaction {tx_id} failed", ErrorSeverity.HIGH, "transaction", operation, fields
            )
        return super().log_transaction_failure(tx_id, agent_did, operation, cause, context)


P31_MUTANTS: dict[str, type[ErrorLogger]] = {
    "logs-at-medium": MediumTransactionLogger,
    "logs-twice": DoubleLoggingLogger,
    "stores-raw-secret": SecretLeakingLogger,
    "shallow-redaction": ShallowRedactionLogger,
    "drops-agent-did": DidDroppingLogger,
}

# -- P32: input validation ---------------------------------------------------------------------

_G_SHAPE = re.compile(r"G[A-Z2-7]{55}")


def address_without_checksum(value: Any, field: str = "address") -> str:
    """Checks the shape of a G... address but never the StrKey checksum."""
    if not isinstance(value, str) or not _G_SHAPE.fullmatch(value):
        raise ValidationError(field, "must be a G... account id")
    return value


def amount_without_type_check(value: Any, field: str = "amount") -> Decimal:
    """Feeds anything to Decimal(), so lists/dicts/None escape as TypeError or ValueError."""
    amount = Decimal(value)
    if (
        not amount.is_finite()
        or amount <= 0
        or amount > MAX_AMOUNT
        or amount != amount.quantize(Decimal("1e-7"))
    ):
        raise ValidationError(field, "invalid amount")
    return amount


def did_document_with_key_error(doc: Any, field: str = "didDocument") -> Mapping[str, Any]:
    """Indexes the document directly: a missing id escapes as KeyError, a non-dict as TypeError."""
    if not str(doc["id"]).startswith("did:"):
        raise ValidationError(f"{field}.id", "is not a DID")
    return doc


def channel_sum_without_int_check(state: Any, field: str = "channel") -> Mapping[str, Any]:
    """Sums balances without checking their types (TypeError on strings, None, lists)."""
    if not isinstance(state, Mapping) or not isinstance(state.get("balances"), Mapping):
        raise ValidationError(field, "must be an object with balances")
    if sum(state["balances"].values()) != state.get("total"):
        raise ValidationError(f"{field}.balances", "not conserved")
    return state


P32_MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "address-skips-checksum": ("validate_stellar_address", address_without_checksum),
    "amount-type-error-escapes": ("validate_amount", amount_without_type_check),
    "did-document-key-error": ("validate_did_document", did_document_with_key_error),
    "channel-sum-type-error": ("validate_channel_state", channel_sum_without_int_check),
}
"""name -> (the validator it replaces, the broken function)."""

# -- P33: cryptographic verification -----------------------------------------------------------


class HintOnlyVerifier(InputValidator):
    """Accepts a payment when some signature carries the payer's hint, without verifying it."""

    def verify_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        parsed = self.validate_payment_proof(proof, requirements, field)
        hint = Keypair.from_public_key(parsed.payer).signature_hint()
        if not any(sig.signature_hint == hint for sig in parsed.envelope.signatures):
            self._fail(CryptoVerificationError(field, "no signature from the payer"))
        self.verify_validity_window(parsed.envelope, parsed.network_passphrase)
        return parsed

    def _fail(self, error: CryptoVerificationError) -> None:
        if self._logger is not None:
            self._logger.log_crypto_failure(error)
        raise error


class NetworkIgnoringVerifier(HintOnlyVerifier):
    """Accepts a signature that verifies for any known network, not just the proof's own."""

    def verify_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        parsed = self.validate_payment_proof(proof, requirements, field)
        for passphrase in X402_NETWORKS.values():
            try:
                verify_transaction_signature(parsed.envelope.to_xdr(), passphrase, parsed.payer)
                break
            except ValidationError:
                continue
        else:
            self._fail(CryptoVerificationError(field, "bad signature"))
        self.verify_validity_window(parsed.envelope, parsed.network_passphrase)
        return parsed


class ExpiryIgnoringVerifier(InputValidator):
    """Verifies the signature but never the validity window."""

    def verify_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        parsed = self.validate_payment_proof(proof, requirements, field)
        self.verify_transaction_signature(parsed.envelope, parsed.network_passphrase, parsed.payer)
        return parsed


class QuietVerifier(InputValidator):
    """Rejects correctly but logs crypto failures as LOW validation failures (no alert)."""

    def verify_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        parsed = validate_payment_proof(proof, self.networks, requirements, field)
        try:
            InputValidator(self._clock, None, self.networks).verify_payment_proof(proof, requirements, field)
        except CryptoVerificationError as error:
            if self._logger is not None:
                self._logger.log_validation_failure(error.field, error.reason)
            raise
        return parsed


P33_MUTANTS: dict[str, type[InputValidator]] = {
    "checks-hint-only": HintOnlyVerifier,
    "ignores-network": NetworkIgnoringVerifier,
    "ignores-expiry": ExpiryIgnoringVerifier,
    "logs-low-no-alert": QuietVerifier,
}
