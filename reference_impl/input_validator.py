"""InputValidator: one entry point for every validator, with an injectable clock and optional logging.

The checks live in `basic_validators` (amounts, addresses, DIDs, strings), `domain_validators`
(DID documents, credentials, channels, loans, escrow), `payment_validators` (transactions, x402
payment proofs) and `crypto_verification` (signatures, networks, validity windows); all are
re-exported here.
With an `error_logger`, rejected input is logged LOW (`log_validation_failure`) and failed
cryptographic checks CRITICAL (`log_crypto_failure`, which alerts by default), then re-raised.
Every validator is also callable on the class, as the seed writes it (`InputValidator.validate_did(did)`):
that uses a shared default instance (system clock, no logger, the x402 Stellar networks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from stellar_sdk import Keypair, Network

from reference_impl import crypto_verification as crypto
from reference_impl.basic_validators import (
    sanitize_string,
    stroops_to_amount,
    validate_amount,
    validate_amount_stroops,
    validate_did,
    validate_required_fields,
    validate_stellar_address,
)
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.crypto_verification import (
    canonical_channel_bytes,
    sign_channel_state,
    verify_channel_state_signatures,
    verify_transaction_signature,
    verify_validity_window,
)
from reference_impl.domain_validators import (
    validate_channel_state,
    validate_did_document,
    validate_escrow_params,
    validate_loan_terms,
    validate_verifiable_credential,
)
from reference_impl.error_logger import ErrorLogger
from reference_impl.errors import CryptoVerificationError, ValidationError
from reference_impl.payment_validators import (
    X402_NETWORKS,
    PaymentProof,
    validate_payment_proof,
    validate_transaction,
)

__all__ = [
    "X402_NETWORKS",
    "InputValidator",
    "PaymentProof",
    "canonical_channel_bytes",
    "sanitize_string",
    "sign_channel_state",
    "stroops_to_amount",
    "validate_amount",
    "validate_amount_stroops",
    "validate_channel_state",
    "validate_did",
    "validate_did_document",
    "validate_escrow_params",
    "validate_loan_terms",
    "validate_payment_proof",
    "validate_required_fields",
    "validate_stellar_address",
    "validate_transaction",
    "validate_verifiable_credential",
    "verify_channel_state_signatures",
    "verify_transaction_signature",
    "verify_validity_window",
]

T = TypeVar("T")
M = TypeVar("M", bound=Callable[..., Any])


class either(Generic[M]):  # lower case: used as a decorator, like staticmethod
    """A method callable on an instance, or on the class (the seed's `InputValidator.validate_did(did)`),
    where it runs on the class's shared default instance."""

    def __init__(self, method: M) -> None:
        self.method = method
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        if instance is None:
            assert owner is not None
            instance = owner.default()
        return self.method.__get__(instance, owner)


class InputValidator:
    """Validators bound to a clock, accepted x402 networks and an optional error logger."""

    _defaults: dict[type, InputValidator] = {}

    @classmethod
    def default(cls) -> InputValidator:
        """The shared instance behind class-level calls: system clock, no logger, default networks."""
        instance = cls._defaults.get(cls)
        if instance is None:
            instance = cls._defaults[cls] = cls()
        return instance

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        error_logger: ErrorLogger | None = None,
        networks: Mapping[str, str] = X402_NETWORKS,
        operation: str = "input_validation",
    ) -> None:
        self._clock = clock
        self._logger = error_logger
        self.networks = dict(networks)
        self._operation = operation

    def _run(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return check(*args, **kwargs)
        except CryptoVerificationError as error:
            if self._logger is not None:
                self._logger.log_crypto_failure(error, self._operation, {"check": check.__name__})
            raise
        except ValidationError as error:
            if self._logger is not None:
                self._logger.log_validation_failure(
                    error.field, error.reason, self._operation, {"check": check.__name__}
                )
            raise

    # -- primitives ------------------------------------------------------------------------

    @either
    def validate_amount(self, value: Any, field: str = "amount") -> Decimal:
        return self._run(validate_amount, value, field)

    @either
    def validate_amount_stroops(self, value: Any, field: str = "amount") -> int:
        return self._run(validate_amount_stroops, value, field)

    @either
    def validate_stellar_address(self, value: Any, field: str = "address", allow_muxed: bool = False) -> str:
        return self._run(validate_stellar_address, value, field, allow_muxed)

    @either
    def validate_did(self, value: Any, field: str = "did") -> str:
        return self._run(validate_did, value, field)

    @either
    def sanitize_string(self, value: Any, field: str = "value", max_length: int = 1000) -> str:
        return self._run(sanitize_string, value, field, max_length)

    @either
    def validate_required_fields(
        self, data: Any, fields: Iterable[str], field: str = "body"
    ) -> Mapping[str, Any]:
        return self._run(validate_required_fields, data, fields, field)

    # -- domain ----------------------------------------------------------------------------

    @either
    def validate_did_document(self, doc: Any, field: str = "didDocument") -> Mapping[str, Any]:
        return self._run(validate_did_document, doc, field)

    @either
    def validate_verifiable_credential(
        self, vc: Any, field: str = "credential", require_proof: bool = True
    ) -> Mapping[str, Any]:
        return self._run(validate_verifiable_credential, vc, self._clock, field, require_proof)

    @either
    def validate_transaction(
        self, tx: Any, network_passphrase: str | None = None, field: str = "transaction"
    ) -> Any:
        """XDR decodes for `network_passphrase` (default: the validator's one network's, else testnet's)."""
        if network_passphrase is None:
            passphrases = set(self.networks.values())
            only = passphrases.pop() if len(passphrases) == 1 else None
            network_passphrase = only or Network.TESTNET_NETWORK_PASSPHRASE
        return self._run(validate_transaction, tx, network_passphrase, field)

    @either
    def validate_credential(
        self, vc: Any, field: str = "credential", require_proof: bool = True
    ) -> Mapping[str, Any]:
        """The seed's name of `validate_verifiable_credential`."""
        return self.validate_verifiable_credential(vc, field, require_proof)

    @either
    def validate_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        return self._run(validate_payment_proof, proof, self.networks, requirements, field)

    @either
    def validate_channel_state(
        self, state: Any, previous: Mapping[str, Any] | None = None, field: str = "channel"
    ) -> Mapping[str, Any]:
        return self._run(validate_channel_state, state, previous, field)

    @either
    def validate_loan_terms(self, terms: Any, field: str = "loan") -> dict[str, Any]:
        return self._run(validate_loan_terms, terms, field)

    @either
    def validate_escrow_params(self, params: Any, field: str = "escrow") -> dict[str, Any]:
        return self._run(validate_escrow_params, params, self._clock, field)

    # -- cryptographic ---------------------------------------------------------------------

    @either
    def verify_transaction_signature(
        self, envelope_xdr: Any, network_passphrase: str, expected_signer_public_key: Any
    ) -> crypto.Envelope:
        return self._run(
            verify_transaction_signature, envelope_xdr, network_passphrase, expected_signer_public_key
        )

    @either
    def verify_validity_window(self, envelope_xdr: Any, network_passphrase: str) -> crypto.Envelope:
        return self._run(verify_validity_window, envelope_xdr, network_passphrase, self._clock)

    @either
    def verify_channel_state_signatures(
        self, state: Any, pubkeys: Sequence[str] | None = None, field: str = "channel"
    ) -> Mapping[str, Any]:
        return self._run(verify_channel_state_signatures, state, pubkeys, field)

    @either
    def verify_payment_proof(
        self, proof: Any, requirements: Mapping[str, Any] | None = None, field: str = "payment"
    ) -> PaymentProof:
        """Validate an X-PAYMENT value, then check the payer's signature (for the proof's network)
        and the transaction's validity window against the clock."""
        parsed = self.validate_payment_proof(proof, requirements, field)
        xdr_field = f"{field}.payload.signedTxXdr"
        self._run(
            verify_transaction_signature, parsed.envelope, parsed.network_passphrase, parsed.payer, xdr_field
        )
        self._run(
            verify_validity_window, parsed.envelope, parsed.network_passphrase, self._clock, True, xdr_field
        )
        return parsed

    @staticmethod
    def sign_channel_state(state: Mapping[str, Any], keypair: Keypair) -> dict[str, Any]:
        return sign_channel_state(state, keypair)

    @staticmethod
    def canonical_channel_bytes(state: Any) -> bytes:
        return canonical_channel_bytes(state)
