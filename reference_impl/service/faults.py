"""Deliberate faults of the service (`--fault-in-service NAME`): for showing that the judges judge,
never for real use (refused under `--env mainnet`).

Each fault is a substitute part, a subclass of a shipped component or a function standing in for
one, that the composition root (`components.Components`, through `components.Parts`) builds
instead of the real part; shipped modules hold no fault branch. `FAULTS` is the one registry:
name -> Fault(description, parts), where `parts` maps `Parts` fields to their substitutes.
`harness run --fault-in-service` takes its choices from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from reference_impl.circuit_breaker import CircuitBreakerConfig
from reference_impl.errors import ConfigurationError
from reference_impl.input_validator import InputValidator, PaymentProof
from reference_impl.metrics_collector import Alert, MetricsCollector
from reference_impl.rate_limit_middleware import rate_limit_headers
from reference_impl.rate_limiter import RateLimiterConfig, RateLimitResult
from reference_impl.request_keys import KeyFunc, api_key_hash, default_key, header
from reference_impl.service.nonces import NonceRejectedError
from reference_impl.service.sequence_pool import PoolAccount, SequencePool
from reference_impl.service.stellar_client import Endpoint, FailoverStellarClient, SubmitOutcome
from reference_impl.service.submission import (
    MAX_BAD_SEQ_REBUILDS,
    Build,
    Describe,
    OutcomeUnknownError,
    SubmissionEngine,
    SubmissionRecord,
)
from reference_impl.service.x402 import PaymentRejectedError, X402Gateway

NEVER = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Fault:
    description: str
    parts: Mapping[str, Any]  # components.Parts field -> substitute


class PassThroughValidator(InputValidator):
    """`validator-passes-bad-input`: request validators return their input unchecked (with a naive
    conversion), so bad input reaches code that raises. Cryptographic checks stay real (this fault
    breaks input validation, P32, not signature verification, P33)."""

    def validate_required_fields(self, data: Any, fields: Any, field: str = "body") -> Any:
        return data

    def validate_stellar_address(self, value: Any, field: str = "address", allow_muxed: bool = False) -> Any:
        return value

    def validate_amount_stroops(self, value: Any, field: str = "amount") -> int:
        return int(Decimal(str(value)) * 10_000_000)

    def validate_did(self, value: Any, field: str = "did") -> Any:
        return value

    def validate_channel_state(self, state: Any, previous: Any = None, field: str = "channel") -> Any:
        return state

    def validate_escrow_params(self, params: Any, field: str = "escrow") -> Any:
        return {**params, "amountStroops": self.validate_amount_stroops(params["amount"]),
                "amount": str(params["amount"])}

    def validate_loan_terms(self, terms: Any, field: str = "loan") -> Any:
        return dict(terms)


class LaxAmountValidator(InputValidator):
    """`validator-ignores-amount`: an amount that parses as a number is taken as it is (zero, negative, more
    than 7 decimals, beyond int64 stroops); only non-numbers are still refused. Every other field is checked,
    so a request with a bad amount and another defect is still refused, for the other field."""

    def validate_amount_stroops(self, value: Any, field: str = "amount") -> int:
        try:
            return int(Decimal(str(value)) * 10_000_000)
        except (InvalidOperation, ValueError):
            return super().validate_amount_stroops(value, field)


class LateConsumeGateway(X402Gateway):
    """`x402-consumes-late`: the replay check runs before the payer lookup (an await) and the nonce is
    consumed only after it, a consume that finds the nonce already used being ignored ("someone consumed
    it already"), so two copies of one payment sent at once both pass."""

    async def verify(self, header: str, resource_url: str) -> PaymentProof:
        proof = self._check_proof(header, resource_url)
        nonce = self._memo_nonce(proof)
        if self.nonces.is_used(proof.tx_hash) or self.nonces.is_used(nonce):
            raise PaymentRejectedError("invalid_exact_stellar_payload_replay", "transaction was already used")
        await self._check_payer(proof)
        try:
            self.nonces.take(nonce, urlsplit(resource_url).path)
        except NonceRejectedError as error:
            if error.reason != "invalid_exact_stellar_payload_replay":
                raise PaymentRejectedError(error.reason, str(error)) from None
        self.nonces.mark_used(proof.tx_hash)
        return proof


class SameSequenceValidator(InputValidator):
    """`channel-accepts-conflicts`: a channel state continues the latest one when its sequence is at least
    the latest's (>= where > was meant), so of two conflicting states with one sequence both are accepted."""

    def validate_channel_state(self, state: Any, previous: Any = None, field: str = "channel") -> Any:
        if isinstance(previous, Mapping) and isinstance(state, Mapping) and isinstance(previous.get("sequence"), int) \
                and state.get("sequence") == previous["sequence"]:
            previous = {**previous, "sequence": previous["sequence"] - 1}
        return super().validate_channel_state(state, previous, field)


class PrimaryOnlyClient(FailoverStellarClient):
    """`no-failover`: only the primary Horizon is ever tried (both breakers still exist)."""

    def _targets(self) -> list[Endpoint]:
        return self.endpoints[:1]


class CountsEveryErrorClient(FailoverStellarClient):
    """`breaker-opens-spuriously`: the Horizon breakers count every error as a failure, the ledger's
    business answers too (400 tx_failed, 404 on a hash lookup), so failed settlements open a breaker
    while Horizon is healthy."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for endpoint in self.endpoints:
            endpoint.breaker.is_failure = lambda error: True


class LoggerDropsEngine(SubmissionEngine):
    """`logger-drops-tx-failures`: failed and refused transactions get no error record."""

    def _log_failure(self, record: SubmissionRecord, outcome: SubmitOutcome) -> None:
        return None


class FreshTxEngine(SubmissionEngine):
    """`retry-without-idempotency`: an unknown outcome is forgotten and paid again with a fresh
    transaction (next sequence number, no hash lookup), sent at most once: double payments."""

    async def _attempt(self, record: SubmissionRecord, pool: SequencePool, account: PoolAccount, build: Build,
                       describe: Describe | None, signers: tuple[Any, ...], end: float) -> tuple[int, SubmitOutcome]:
        for _ in range(MAX_BAD_SEQ_REBUILDS):
            try:
                return await super()._attempt(record, pool, account, build, describe, signers, end)
            except OutcomeUnknownError:
                record.status = "pending"
        return await super()._attempt(record, pool, account, build, describe, signers, end)

    async def _send(self, record: SubmissionRecord, deadline: float) -> SubmitOutcome:
        return await self.client.submit(self._envelope(record), record.tx_hash, deadline=deadline, resend=False)

    def _hold_unknown(self, record: SubmissionRecord, pool: SequencePool, account: PoolAccount) -> None:
        return None

    async def _retry_unknown(self, record: SubmissionRecord, pool: SequencePool, build: Build, deadline: float,
                             describe: Describe | None, signers: tuple[Any, ...] = ()) -> None:
        record.status = "pending"
        await self._submit_new(record, pool, build, deadline, describe, signers)


class ResubmitsFailedEngine(SubmissionEngine):
    """`resubmits-failed-tx`: a settlement the ledger applied and failed is forgotten, so a client's retry
    with the same Idempotency-Key is paid as a new transaction (another fee, another failure)."""

    async def run(self, record: SubmissionRecord, pool: SequencePool, build: Build, deadline: float,
                  describe: Describe | None = None, signers: tuple[Any, ...] = ()) -> tuple[SubmissionRecord, bool]:
        existing = self.store.by_key(record.idempotency_key) if record.idempotency_key else None
        if existing is not None and existing.status == "failed" and existing.ledger is not None:
            self.store.discard(existing)
        return await super().run(record, pool, build, deadline, describe, signers)


class InFlightBlindEngine(SubmissionEngine):
    """`escrow-ignores-key-after-timeout`: an escrow's Idempotency-Key is checked against finished escrows
    only, so a client that timed out and retried while its first request is still in flight gets a second
    escrow (both carry the key's memo)."""

    async def run(self, record: SubmissionRecord, pool: SequencePool, build: Build, deadline: float,
                  describe: Describe | None = None, signers: tuple[Any, ...] = ()) -> tuple[SubmissionRecord, bool]:
        existing = self.store.by_key(record.idempotency_key) if record.idempotency_key else None
        if record.kind == "escrow" and existing is not None and existing.status == "pending":
            record.idempotency_key = None
        return await super().run(record, pool, build, deadline, describe, signers)


class TruncatingMetricsCollector(MetricsCollector):
    """`metrics-percentile-skewed`: samples are recorded truncated to whole milliseconds (an `int()` where
    the microseconds were meant to stay), so the exported percentiles of fast metrics sit below the
    values the service sent in Server-Timing."""

    def record(self, name: str, value_ms: float, tags: Mapping[str, str] | None = None) -> Alert | None:
        return super().record(name, float(int(value_ms)) if isinstance(value_ms, float) else value_ms, tags)


def trust_any_key(settings: Any) -> KeyFunc:
    """`limiter-trusts-any-key`: the client-chosen X-API-Key is an identity, issued or not."""

    def key(scope: Mapping[str, Any]) -> str:
        api_key = header(scope, "x-api-key")
        return "key:" + api_key_hash(api_key)[:24] if api_key else default_key(scope)

    return key


def retry_after_rounded_down(result: RateLimitResult) -> list[tuple[bytes, bytes]]:
    """`retry-after-rounds-down`: Retry-After truncates the wait (`int()`), so under a second reads 0."""
    return [(k, str(int(result.retry_after)).encode() if k == b"retry-after" else v)
            for k, v in rate_limit_headers(result)]


def remaining_before_this_request(result: RateLimitResult) -> list[tuple[bytes, bytes]]:
    """`ratelimit-remaining-off-by-one`: an admitted answer's X-RateLimit-Remaining counts the quota as it was
    before this request took its share."""
    bump = 1 if result.allowed else 0
    return [(k, str(int(v) + bump).encode() if k == b"x-ratelimit-remaining" else v)
            for k, v in rate_limit_headers(result)]


def always_healthy(breakers: Mapping[str, str]) -> tuple[str, bool]:
    """`health-always-ok`: /health reads ok and ready whatever the breakers say (a liveness answer posing as
    readiness)."""
    return "ok", True


def never_opens(config: CircuitBreakerConfig) -> CircuitBreakerConfig:
    return replace(config, failure_threshold=NEVER, volume_threshold=NEVER)


def double_limit(config: RateLimiterConfig) -> RateLimiterConfig:
    return replace(config, max_requests=config.max_requests * 2)


def thresholds_x10(thresholds: Mapping[str, float]) -> dict[str, float]:
    return {name: value * 10 for name, value in thresholds.items()}


FAULTS: dict[str, Fault] = {
    "breaker-never-opens": Fault("Horizon breakers never trip", {"breaker_config": never_opens}),
    "limiter-admits-double": Fault("each client key gets twice its rate limit", {"rate_limit": double_limit}),
    "validator-passes-bad-input": Fault("validation is skipped; bad input reaches code that raises (5xx)",
                                        {"validator": PassThroughValidator}),
    "logger-drops-tx-failures": Fault("transaction-failure records are not logged", {"engine": LoggerDropsEngine}),
    "alert-threshold-x10": Fault("metric alert thresholds are multiplied by 10", {"thresholds": thresholds_x10}),
    "no-failover": Fault("only the primary Horizon is used", {"client": PrimaryOnlyClient}),
    "retry-without-idempotency": Fault("a retry after an unknown outcome builds a fresh tx (double pay)",
                                       {"engine": FreshTxEngine}),
    "validator-ignores-amount": Fault("any numeric amount passes validation (zero, negative, too precise)",
                                      {"validator": LaxAmountValidator}),
    "retry-after-rounds-down": Fault("Retry-After truncates the wait (0 under a second): waiting it is not enough",
                                     {"limit_headers": retry_after_rounded_down}),
    "ratelimit-remaining-off-by-one": Fault("X-RateLimit-Remaining does not count the request it answers",
                                            {"limit_headers": remaining_before_this_request}),
    "x402-consumes-late": Fault("an x402 payment is marked used only after an await: concurrent copies all pass",
                                {"x402_gateway": LateConsumeGateway}),
    "health-always-ok": Fault("/health reads ok and ready even with every breaker open",
                              {"health": always_healthy}),
    "resubmits-failed-tx": Fault("a retry of a settlement the ledger failed is paid as a new transaction",
                                 {"engine": ResubmitsFailedEngine}),
    "breaker-opens-spuriously": Fault("Horizon breakers count the ledger's business answers (tx_failed) as failures",
                                      {"client": CountsEveryErrorClient}),
    "escrow-ignores-key-after-timeout": Fault("an escrow retried while its first request is in flight is created again",
                                              {"engine": InFlightBlindEngine}),
    "metrics-percentile-skewed": Fault("metric samples are truncated to whole milliseconds before recording",
                                       {"metrics": TruncatingMetricsCollector}),
    "channel-accepts-conflicts": Fault("a channel state with the latest's sequence replaces it (>= for >)",
                                       {"validator": SameSequenceValidator}),
    "limiter-trusts-any-key": Fault("any X-API-Key is a client of its own: rotating keys escape limits and quotas",
                                    {"identity": trust_any_key}),
}


def check_fault(name: str | None, env: str) -> str | None:
    """The fault to install (None for the healthy service); ConfigurationError for an unknown name or
    any fault under mainnet."""
    if name in (None, "", "none"):
        return None
    if name not in FAULTS:
        raise ConfigurationError(f"unknown fault {name!r}; valid: {', '.join(sorted(FAULTS))}")
    if env == "mainnet":
        raise ConfigurationError(f"deliberate fault {name!r} refused under mainnet: faults are for testing the judges")
    return name
