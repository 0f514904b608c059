"""The composition root of the service: every hardening component built from the resolved settings,
wired to the admin event feed and the Prometheus registry. A deliberate fault (testing only) is a
substitute for one of the `Parts`, taken from the registry in `faults.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reference_impl.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerListener,
    CircuitBreakerManager,
    CircuitState,
)
from reference_impl.config_manager import circuit_breaker_config, rate_limiter_config, retry_config
from reference_impl.config_schema import AppConfig
from reference_impl.error_logger import ErrorLogger, ErrorLoggerConfig, ErrorRecord, ErrorSeverity
from reference_impl.facilitator.networks import caip2_network
from reference_impl.input_validator import InputValidator
from reference_impl.metrics_collector import Alert, MetricsCollector
from reference_impl.rate_limit_middleware import HeadersFunc, rate_limit_headers
from reference_impl.rate_limiter import PRESETS, RateLimiterConfig, RateLimiterManager
from reference_impl.request_keys import KeyFunc
from reference_impl.service.channels import ChannelStore
from reference_impl.service.decisions import DecisionEngine
from reference_impl.service.events import EventFeed
from reference_impl.service.faults import FAULTS, check_fault
from reference_impl.service.health import HealthSummary, health_summary
from reference_impl.service.nonces import NonceStore
from reference_impl.service.sequence_pool import SequencePool
from reference_impl.service.settings import ServiceSettings
from reference_impl.service.stellar_client import FailoverStellarClient, TryAgainLaterError
from reference_impl.service.submission import SubmissionEngine
from reference_impl.service.x402 import X402Gateway
from reference_impl.service.x402_v2 import V2_HANDSHAKE, X402V2Gateway, asset_contract

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


def _same(value: Any) -> Any:
    return value


def _issued_keys(settings: ServiceSettings) -> KeyFunc:
    return settings.api_keys


@dataclass(frozen=True)
class Parts:
    """The parts a deliberate fault may substitute (reference_impl/service/faults.py, one registry);
    the defaults are the real ones. Shipped modules know nothing of faults."""

    identity: Callable[[ServiceSettings], KeyFunc] = _issued_keys  # who a request is (limits, quotas)
    validator: type[InputValidator] = InputValidator
    thresholds: Callable[[dict[str, float]], dict[str, float]] = _same  # metric alert thresholds
    breaker_config: Callable[[CircuitBreakerConfig], CircuitBreakerConfig] = _same
    rate_limit: Callable[[RateLimiterConfig], RateLimiterConfig] = _same  # per endpoint
    client: type[FailoverStellarClient] = FailoverStellarClient
    engine: type[SubmissionEngine] = SubmissionEngine
    limit_headers: HeadersFunc = rate_limit_headers  # Retry-After / X-RateLimit-* of one limiter decision
    health: Callable[[Mapping[str, str]], HealthSummary] = health_summary  # /health status and ready
    x402_gateway: type[X402Gateway] = X402Gateway  # x402 v1 challenges and payment verification
    metrics: type[MetricsCollector] = MetricsCollector

    @classmethod
    def for_fault(cls, name: str | None) -> Parts:
        return cls(**FAULTS[name].parts) if name else cls()


class Components:
    """Every component of one service instance (no I/O happens here; the app starts and stops it)."""

    def __init__(self, settings: ServiceSettings, parts: Parts | None = None) -> None:
        settings.resolve()
        assert settings.config is not None and settings.network_passphrase is not None
        self.settings = settings
        self.config: AppConfig = settings.config
        self.clock = settings.clock
        self.fault = check_fault(settings.fault, settings.env)
        self.parts = parts or Parts.for_fault(self.fault)
        security, monitoring = self.config.security, self.config.monitoring
        # Who a request is, for rate limits and per-client quotas: an issued API key, else the address.
        self.identity: KeyFunc = self.parts.identity(settings)
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
        thresholds[V2_HANDSHAKE] = thresholds["x402.handshake"] + 1000.0 * self.config.stellar.ledger_close
        thresholds = self.parts.thresholds(thresholds)
        self.metrics = self.parts.metrics(clock=self.clock, thresholds=thresholds)
        self.metrics.on_alert(self._metric_alert)
        network = self.config.payment.x402.network
        self.validator = self.parts.validator(clock=self.clock, networks={network: settings.network_passphrase})
        # One trial at a time in HALF_OPEN: a second concurrent trial (a sync submit lasting up to a
        # ledger close) could still be in flight when the first trial's failure re-opens the breaker.
        breaker_cfg = self.parts.breaker_config(replace(circuit_breaker_config(security), half_open_max_calls=1))
        self.breakers = CircuitBreakerManager(
            breaker_cfg, clock=self.clock, listeners=[_FeedBreakerListener(self)]
        )
        self.client = self.parts.client(
            settings.horizon_urls,
            breakers=self.breakers,
            retry=retry_config(security),
            clock=self.clock,
            rng=settings.rng(),
            on_retry=self._count_retry,
            call_timeout=settings.call_timeout,
            submit_timeout=settings.submit_timeout or 0.0,
            deadline=settings.request_deadline or 0.0,
        )
        for name in self.client.breaker_states():
            self.breaker_state.labels(name).set(0)
        accounts = settings.accounts
        self.settlement_pool = SequencePool(accounts.settlement_pool)
        self.engine = self.parts.engine(
            self.client,
            settings.network_passphrase,
            self.error_logger,
            clock=self.clock,
            base_fee=self.config.stellar.base_fee,
            tx_timeout=max(30.0, 3 * (settings.request_deadline or 0.0)),
            close_interval=self.config.stellar.ledger_close,
        )
        x402 = self.config.payment.x402
        self.nonces = NonceStore(x402.max_timeout_seconds, capacity=x402.max_issued_nonces,
                                 per_client=x402.max_nonces_per_client, clock=self.clock)
        self.x402 = self.parts.x402_gateway(
            self.validator,
            self.client,
            network=network,
            network_passphrase=settings.network_passphrase,
            pay_to=accounts.pay_to,
            price_stroops=x402.price_stroops,
            max_timeout_seconds=x402.max_timeout_seconds,
            nonces=self.nonces,
            clock=self.clock,
            asset=x402.asset,
        )
        self.x402v2 = self._x402_v2(x402) if settings.facilitator_url else None
        channels = self.config.payment.channels
        self.channels = ChannelStore(
            self.validator, max_channels=channels.max_open_channels, per_client=channels.max_channels_per_client
        )
        self.decisions = DecisionEngine(self.client, self.config.agent, clock=self.clock)
        self.rate_limits = self._rate_limits() if security.rate_limit.enabled else None
        self.registry.register(_StateCollector(self))

    def _x402_v2(self, x402: Any) -> X402V2Gateway:
        settings = self.settings
        assert settings.facilitator_url is not None and settings.network_passphrase is not None
        network = caip2_network(settings.network_passphrase, settings.x402_network)
        return X402V2Gateway(
            settings.facilitator_url, network=network,
            asset=asset_contract(settings.x402_asset, network, settings.network_passphrase),
            pay_to=settings.accounts.pay_to, amount=x402.price_stroops, max_timeout_seconds=x402.max_timeout_seconds,
            verify_timeout=max(10.0, 3 * settings.call_timeout + 4.0),
            settle_timeout=settings.facilitator_timeout or 0.0,
        )

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
            manager.add(name, self.parts.rate_limit(cfg), prefixes)
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
        if self.x402v2 is not None:
            await self.x402v2.aclose()
        await self.engine.aclose()
        await self.client.aclose()
        self.error_logger.close()
