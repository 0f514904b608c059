"""The composition root of the service: every hardening component built from the resolved settings,
wired to the admin event feed and the Prometheus registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reference_impl.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitBreakerManager,
    CircuitState,
)
from reference_impl.config_manager import circuit_breaker_config, rate_limiter_config, retry_config
from reference_impl.config_schema import AppConfig
from reference_impl.error_logger import ErrorLogger, ErrorLoggerConfig, ErrorRecord, ErrorSeverity
from reference_impl.input_validator import InputValidator
from reference_impl.metrics_collector import Alert, MetricsCollector
from reference_impl.rate_limiter import PRESETS, RateLimiterManager
from reference_impl.request_keys import KeyFunc
from reference_impl.service.channels import ChannelStore
from reference_impl.service.decisions import DecisionEngine
from reference_impl.service.events import EventFeed
from reference_impl.service.faults import Faults, trust_any_key
from reference_impl.service.nonces import NonceStore
from reference_impl.service.sequence_pool import SequencePool
from reference_impl.service.settings import ServiceSettings
from reference_impl.service.stellar_client import FailoverStellarClient, TryAgainLaterError
from reference_impl.service.submission import SubmissionEngine
from reference_impl.service.x402 import X402Gateway

# Rate-limited endpoints: name -> path prefixes, and the preset used when the config has no rule
# for the name (security.rateLimit.endpoints.<name>). /health, /metrics, /admin are never limited.
RATE_LIMIT_ROUTES = {
    "resources": ("/resources",),
    "channels": ("/channels",),
    "settlements": ("/settlements",),
    "decisions": ("/agent/decisions",),
    "escrow": ("/contracts/escrow",),
    "lookups": ("/settlements/",),
}
DEFAULT_PRESETS = {
    "resources": "PAYMENT",
    "channels": "RELAXED",
    "settlements": "PAYMENT",
    "decisions": "STANDARD",
    "escrow": "STANDARD",
    "lookups": "RELAXED",
}
BREAKER_STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
NEVER_OPENS = 1_000_000_000


class _FeedBreakerListener(CircuitBreakerListener):
    def __init__(self, components: Components) -> None:
        self._components = components

    def on_state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState, at: float
    ) -> None:
        self._components.feed.publish(
            "breaker.transition", {"breaker": breaker.name, "from": old.value, "to": new.value}
        )
        self._components.breaker_state.labels(breaker.name).set(BREAKER_STATE_VALUES[new])


class _StateCollector(Collector):
    """`service_state_entries{store}` and `service_state_capacity{store}` from `Components.state()`."""

    def __init__(self, components: Components) -> None:
        self._components = components

    def collect(self) -> Iterator[GaugeMetricFamily]:
        entries = GaugeMetricFamily("service_state_entries", "entries held per bounded store", labels=["store"])
        bounds = GaugeMetricFamily("service_state_capacity", "bound of each store", labels=["store"])
        for store, row in self._components.state().items():
            entries.add_metric([store], row["size"])
            bounds.add_metric([store], row["capacity"])
        yield entries
        yield bounds


class PassThroughValidator(InputValidator):
    """Deliberate fault `validator-passes-bad-input`: request validators return their input unchecked
    (with a naive conversion), so bad input reaches code that raises. Cryptographic checks stay real
    (this fault breaks input validation, P32, not signature verification, P33)."""

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
        return {
            **params,
            "amountStroops": self.validate_amount_stroops(params["amount"]),
            "amount": str(params["amount"]),
        }

    def validate_loan_terms(self, terms: Any, field: str = "loan") -> Any:
        return dict(terms)


class Components:
    """Every component of one service instance (no I/O happens here; the app starts and stops it)."""

    def __init__(self, settings: ServiceSettings) -> None:
        settings.resolve()
        assert settings.config is not None and settings.network_passphrase is not None
        self.settings = settings
        self.config: AppConfig = settings.config
        self.clock = settings.clock
        self.faults = Faults.parse(settings.fault)
        security, monitoring = self.config.security, self.config.monitoring
        # Who a request is, for rate limits and per-client quotas: an issued API key, else the address.
        self.identity: KeyFunc = trust_any_key if "limiter-trusts-any-key" in self.faults else settings.api_keys
        self.feed = EventFeed(clock=self.clock)
        self.registry = CollectorRegistry()
        self._prometheus()
        self.error_logger = ErrorLogger(
            ErrorLoggerConfig(
                console=monitoring.logging.console if settings.log_console is None else settings.log_console,
                file_path=settings.log_file,
                max_bytes=monitoring.logging.max_file_bytes,
                backup_count=monitoring.logging.max_files,
                alert_threshold=ErrorSeverity[monitoring.alerting.min_severity],
                alert_sink=self._record_alert if monitoring.alerting.enabled else None,
            ),
            clock=self.clock,
        )
        self.error_logger.subscribe(self._record_event)
        thresholds = monitoring.thresholds.by_metric()
        if "alert-threshold-x10" in self.faults:
            thresholds = {name: value * 10 for name, value in thresholds.items()}
        self.metrics = MetricsCollector(clock=self.clock, thresholds=thresholds)
        self.metrics.on_alert(self._metric_alert)
        network = self.config.payment.x402.network
        validator_type = (
            PassThroughValidator if "validator-passes-bad-input" in self.faults else InputValidator
        )
        self.validator = validator_type(clock=self.clock, networks={network: settings.network_passphrase})
        # One trial at a time in HALF_OPEN: a second concurrent trial (a sync submit lasting up to a
        # ledger close) could still be in flight when the first trial's failure re-opens the breaker.
        breaker_cfg = replace(circuit_breaker_config(security), half_open_max_calls=1)
        if "breaker-never-opens" in self.faults:
            breaker_cfg = replace(breaker_cfg, failure_threshold=NEVER_OPENS, volume_threshold=NEVER_OPENS)
        self.breakers = CircuitBreakerManager(
            breaker_cfg, clock=self.clock, listeners=[_FeedBreakerListener(self)]
        )
        self.client = FailoverStellarClient(
            settings.horizon_urls,
            breakers=self.breakers,
            retry=retry_config(security),
            clock=self.clock,
            rng=settings.rng(),
            on_retry=self._count_retry,
            call_timeout=settings.call_timeout,
            submit_timeout=settings.submit_timeout or 0.0,
            deadline=settings.request_deadline or 0.0,
            failover="no-failover" not in self.faults,
        )
        for name in self.client.breaker_states():
            self.breaker_state.labels(name).set(0)
        accounts = settings.accounts
        self.settlement_pool = SequencePool(accounts.settlement_pool)
        self.engine = SubmissionEngine(
            self.client,
            settings.network_passphrase,
            self.error_logger,
            faults=self.faults,
            clock=self.clock,
            base_fee=self.config.stellar.base_fee,
            tx_timeout=max(30.0, 3 * (settings.request_deadline or 0.0)),
            close_interval=self.config.stellar.ledger_close,
        )
        x402 = self.config.payment.x402
        self.nonces = NonceStore(x402.max_timeout_seconds, capacity=x402.max_issued_nonces,
                                 per_client=x402.max_nonces_per_client, clock=self.clock)
        self.x402 = X402Gateway(
            self.validator,
            self.client,
            network=network,
            network_passphrase=settings.network_passphrase,
            pay_to=accounts.pay_to,
            price_stroops=x402.price_stroops,
            max_timeout_seconds=x402.max_timeout_seconds,
            nonces=self.nonces,
            clock=self.clock,
        )
        channels = self.config.payment.channels
        self.channels = ChannelStore(
            self.validator, max_channels=channels.max_open_channels, per_client=channels.max_channels_per_client
        )
        self.decisions = DecisionEngine(self.client, self.config.agent, clock=self.clock)
        self.rate_limits = self._rate_limits() if security.rate_limit.enabled else None
        self.registry.register(_StateCollector(self))

    def _prometheus(self) -> None:
        r = self.registry
        self.requests = Counter(
            "service_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "service_request_seconds", "request handling time", ["endpoint"], registry=r
        )
        self.breaker_state = Gauge(
            "service_breaker_state", "0 closed, 1 half-open, 2 open", ["breaker"], registry=r
        )
        self.retries = Counter("service_horizon_retries", "Horizon call retries", ["operation"], registry=r)
        self.error_records = Counter(
            "service_error_records", "error records by severity", ["severity"], registry=r
        )

    def _rate_limits(self) -> RateLimiterManager:
        security = self.config.security
        manager = RateLimiterManager(clock=self.clock)
        for name, prefixes in RATE_LIMIT_ROUTES.items():
            if name in security.rate_limit.endpoints:
                cfg = rate_limiter_config(security, name)
            else:
                cfg = replace(
                    PRESETS[DEFAULT_PRESETS[name]],
                    algorithm=security.rate_limit.algorithm,
                    idle_ttl=security.rate_limit.idle_ttl,
                )
            if "limiter-admits-double" in self.faults:
                cfg = replace(cfg, max_requests=cfg.max_requests * 2)
            manager.add(name, cfg, prefixes)
        return manager

    def state(self) -> dict[str, dict[str, float]]:
        """Size and bound of every store a client can grow (announced in /health, judged by the harness):
        `capacity` bounds `size`; `per_client` bounds what one client holds, for `ttl_s` when given."""
        nonces = self.nonces.sizes()
        out: dict[str, dict[str, float]] = {
            "x402_nonces": {"size": nonces["issued"], "capacity": self.nonces.capacity,
                            "per_client": self.nonces.per_client, "ttl_s": self.nonces.ttl},
            "x402_used": {"size": nonces["used"], "capacity": self.nonces.used_capacity},
            "channels": {"size": len(self.channels), "capacity": self.channels.max_channels,
                         "per_client": self.channels.per_client},
        }
        manager = self.rate_limits
        for name in manager.endpoints() if manager else ():
            limiter = manager.get(name)  # type: ignore[union-attr]
            out[f"rate_limit_keys.{name}"] = {"size": limiter.active_keys(), "capacity": limiter.config.max_keys}
        return out

    def _count_retry(self, operation: str, attempt: int, delay: float, error: BaseException) -> None:
        self.retries.labels(operation).inc()
        if isinstance(error, TryAgainLaterError):  # a refusal that applied nothing: retried, and shown
            self.feed.publish("submission.retry", {
                "operation": operation, "attempt": attempt, "delay_s": round(delay, 3),
                "cause": "TRY_AGAIN_LATER", "tx_hash": error.tx_hash, "endpoint": error.endpoint})

    def _metric_alert(self, alert: Alert) -> None:
        self.feed.publish(
            "alert", {"metric": alert.metric, "value_ms": alert.value, "threshold_ms": alert.threshold}
        )

    def _record_alert(self, record: ErrorRecord) -> None:
        self.feed.publish(
            "alert",
            {
                "source": "error_logger",
                "record_id": record.id,
                "severity": record.severity.name,
                "category": record.category,
            },
        )

    def _record_event(self, record: ErrorRecord) -> None:
        if record.resolved:
            return
        self.error_records.labels(record.severity.name).inc()
        self.feed.publish(
            "error.record",
            {
                "id": record.id,
                "severity": record.severity.name,
                "category": record.category,
                "operation": record.operation,
                "message": record.message,
                "context": dict(record.context),
            },
        )

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.client.aclose()
        self.error_logger.close()
