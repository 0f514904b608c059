"""The typed configuration: frozen section dataclasses whose fields carry their own validation spec.

Every leaf field's JSON key is the camelCase form of its snake_case name (`max_requests` <->
`maxRequests`), so one generic walker (`reference_impl.config_manager`) parses, validates, fills
defaults and dumps losslessly. JSON keeps the seed's units (milliseconds); each `*_ms` field has a
seconds property for the Python API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reference_impl.errors import ConfigError
from reference_impl.seed_forms import unknown_key_message

ENVIRONMENTS = ("development", "testnet", "mainnet")
RISK_LEVELS = {"low": 0.25, "medium": 0.5, "high": 0.75}
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "critical")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
PRESET_NAMES = ("STRICT", "STANDARD", "RELAXED", "PAYMENT", "AUTH")
ALGORITHMS = ("token-bucket", "sliding-window")
# The monitoring.thresholds keys and the metric names they map onto.
THRESHOLD_METRICS = {
    "settlementFinality": "settlement.finality",
    "channelLatency": "channel.latency",
    "x402Handshake": "x402.handshake",
    "agentDecision": "agent.decision",
    "contractExecution": "contract.execution",
}
_MAX_INT = 2**53
_RULE_KEYS = ("maxRequests", "windowMs", "algorithm")


@dataclass(frozen=True, slots=True)
class Spec:
    """How one leaf value is checked: kind, inclusive range or choices, optional (null allowed), secret."""

    kind: str  # bool, int, number, str, url, choice, risk, endpoints, asset
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    secret: bool = False

    def allowed(self) -> str:
        """A human description of the allowed values, used in error messages."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "risk":
            text = "one of 'low', 'medium', 'high' or a number in [0, 1]"
        elif self.kind == "endpoints":
            text = "an object mapping endpoint names to a preset name or {maxRequests, windowMs}"
        elif self.kind in ("int", "number"):
            noun = "an integer" if self.kind == "int" else "a number"
            text = f"{noun} in [{_fmt(self.low)}, {_fmt(self.high)}]"
        elif self.kind == "url":
            text = "an http(s) URL"
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "asset":
            text = "'native' or 'CODE:ISSUER' (a 1..12 letter/digit code and the issuer's G... account id)"
        else:
            text = "a non-empty string"
        return text + (" or null" if self.optional else "")

    def check(self, value: Any, key: str) -> Any:
        """Return the normalised value or raise ConfigError naming `key` and the allowed values."""
        if value is None and self.optional:
            return None
        result = self._convert(value, key)
        if result is _BAD:
            shown = "<redacted>" if self.secret else repr(value)[:80]
            raise ConfigError(f"{key}: must be {self.allowed()}, got {shown}", key)
        return result

    def _convert(self, value: Any, key: str) -> Any:
        if self.kind == "bool":
            return value if isinstance(value, bool) else _BAD
        if self.kind in ("int", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _BAD
            if self.kind == "int" and (isinstance(value, float) and not value.is_integer()):
                return _BAD
            if not math.isfinite(value) or not _within(value, self.low, self.high):
                return _BAD
            return int(value) if self.kind == "int" else float(value)
        if self.kind == "str":
            return value if isinstance(value, str) and value.strip() else _BAD
        if self.kind == "url":
            return value if isinstance(value, str) and _is_http_url(value) else _BAD
        if self.kind == "choice":
            if not isinstance(value, str):
                return _BAD
            lowered = {c.lower(): c for c in self.choices}
            return lowered.get(value.lower(), _BAD)
        if self.kind == "risk":
            if isinstance(value, str):
                return value.lower() if value.lower() in RISK_LEVELS else _BAD
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
                return float(value)
            return _BAD
        if self.kind == "endpoints":
            return _check_endpoints(value, key)
        if self.kind == "asset":
            return value if isinstance(value, str) and is_asset(value) else _BAD
        raise AssertionError(f"unknown spec kind {self.kind}")


_BAD = object()


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "inf"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def is_asset(value: str) -> bool:
    """`native`, or `CODE:ISSUER` with a 1..12 character [A-Za-z0-9] code and a valid issuer account id."""
    from stellar_sdk import StrKey

    if value == "native":
        return True
    code, _, issuer = value.partition(":")
    return (1 <= len(code) <= 12 and code.isascii() and code.isalnum()
            and StrKey.is_valid_ed25519_public_key(issuer))


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_loopback_url(value: str) -> bool:
    """True for URLs whose host is this machine (traffic never leaves it)."""
    host = urlsplit(value).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _check_endpoints(value: Any, key: str) -> Any:
    if not isinstance(value, Mapping):
        return _BAD
    out: dict[str, EndpointLimit] = {}
    for name, rule in value.items():
        sub = f"{key}.{name}"
        if isinstance(rule, str):
            preset = PRESET_NAME_SPEC.check(rule, sub)
            out[str(name)] = EndpointLimit(preset=preset)
        elif isinstance(rule, Mapping):
            unknown = sorted(set(rule) - set(_RULE_KEYS), key=str)
            if unknown:
                message = unknown_key_message(str(unknown[0]), _RULE_KEYS, sub)
                raise ConfigError(message, f"{sub}.{unknown[0]}")
            out[str(name)] = EndpointLimit(
                max_requests=_INT_POS.check(rule.get("maxRequests"), f"{sub}.maxRequests"),
                window_ms=_INT_POS.check(rule.get("windowMs"), f"{sub}.windowMs"),
                algorithm=ALGORITHM_SPEC.check(rule["algorithm"], f"{sub}.algorithm") if "algorithm" in rule else None,
            )
        else:
            raise ConfigError(f"{sub}: must be a preset name ({', '.join(PRESET_NAMES)}) or an object", sub)
    return out


def leaf(kind: str, default: Any, low: float | None = None, high: float | None = None, *,
         choices: tuple[str, ...] = (), optional: bool = False, secret: bool = False) -> Any:
    """A dataclass field carrying its validation spec (`metadata['spec']`)."""
    spec = Spec(kind, low, high, choices, optional, secret)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec}, repr=not secret)


def section(cls: type) -> Any:
    """A nested section field (`metadata['section']`), defaulting to the section's defaults."""
    return field(default_factory=cls, metadata={"section": cls})


_INT_POS = Spec("int", 1, _MAX_INT)
PRESET_NAME_SPEC = Spec("choice", choices=PRESET_NAMES)
ALGORITHM_SPEC = Spec("choice", choices=ALGORITHMS)
MS_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class EndpointLimit:
    """One endpoint's rate limit: a preset name, or explicit `max_requests` per `window_ms`."""

    preset: str | None = None
    max_requests: int | None = None
    window_ms: int | None = None
    algorithm: str | None = None

    def to_json(self) -> Any:
        if self.preset is not None:
            return self.preset
        out: dict[str, Any] = {"maxRequests": self.max_requests, "windowMs": self.window_ms}
        if self.algorithm is not None:
            out["algorithm"] = self.algorithm
        return out


@dataclass(frozen=True, slots=True)
class StellarConfig:
    network: str = leaf("choice", "testnet", choices=("standalone", "testnet", "futurenet", "mainnet", "public"))
    network_passphrase: str = leaf("str", "Test SDF Network ; September 2015")
    horizon_url: str = leaf("url", "https://horizon-testnet.stellar.org")
    horizon_url_secondary: str | None = leaf("url", None, optional=True)
    friendbot_url: str | None = leaf("url", None, optional=True)
    friendbot_enabled: bool = leaf("bool", False)
    base_fee: int = leaf("int", 100, 100, 10_000_000)
    ledger_close_ms: int = leaf("int", 5000, 100, 60_000)

    @property
    def ledger_close(self) -> float:
        return self.ledger_close_ms / 1000


@dataclass(frozen=True, slots=True)
class AgentConfig:
    max_operation_amount: float = leaf("number", 100.0, 0.0000001, 922_337_203_685.4775807)
    daily_limit: float = leaf("number", 1000.0, 0.0000001, 922_337_203_685.4775807)
    decision_interval_ms: int = leaf("int", 1000, 1, MS_DAY)
    risk_tolerance: str | float = leaf("risk", "medium")
    max_concurrent_operations: int = leaf("int", 10, 1, 10_000)

    @property
    def decision_interval(self) -> float:
        return self.decision_interval_ms / 1000

    @property
    def risk_level(self) -> float:
        """Risk tolerance as a number in [0, 1] (low 0.25, medium 0.5, high 0.75)."""
        rt = self.risk_tolerance
        return RISK_LEVELS[rt] if isinstance(rt, str) else float(rt)


@dataclass(frozen=True, slots=True)
class X402Config:
    enabled: bool = leaf("bool", True)
    max_timeout_seconds: int = leaf("int", 60, 1, 3600)
    price_stroops: int = leaf("int", 1_000_000, 1, 2**63 - 1)
    asset: str = leaf("asset", "native")  # the asset x402 prices are paid in
    network: str = leaf("str", "stellar-testnet")
    pay_to: str | None = leaf("str", None, optional=True)
    facilitator_url: str | None = leaf("url", None, optional=True)
    server_port: int = leaf("int", 0, 0, 65535)
    max_issued_nonces: int = leaf("int", 100_000, 1, 10_000_000)
    max_nonces_per_client: int = leaf("int", 16, 1, 100_000)


@dataclass(frozen=True, slots=True)
class ChannelsConfig:
    enabled: bool = leaf("bool", True)
    max_open_channels: int = leaf("int", 100, 1, 1_000_000)
    max_channels_per_client: int = leaf("int", 32, 1, 1_000_000)
    default_capacity_stroops: int = leaf("int", 100_000_000, 1, 2**63 - 1)
    dispute_period_ms: int = leaf("int", 3_600_000, 1, 30 * MS_DAY)
    update_timeout_ms: int = leaf("int", 5000, 1, MS_DAY)

    @property
    def dispute_period(self) -> float:
        return self.dispute_period_ms / 1000

    @property
    def update_timeout(self) -> float:
        return self.update_timeout_ms / 1000


@dataclass(frozen=True, slots=True)
class PaymentConfig:
    asset: str = leaf("asset", "native")  # the asset settlements and escrows pay in
    x402: X402Config = section(X402Config)
    channels: ChannelsConfig = section(ChannelsConfig)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    enabled: bool = leaf("bool", True)
    algorithm: str = leaf("choice", "sliding-window", choices=ALGORITHMS)
    max_requests: int = leaf("int", 100, 1, 10_000_000)
    window_ms: int = leaf("int", 60_000, 1, MS_DAY)
    idle_ttl_ms: int = leaf("int", 600_000, 1, MS_DAY)
    endpoints: dict[str, EndpointLimit] = leaf("endpoints", {})

    @property
    def window(self) -> float:
        return self.window_ms / 1000

    @property
    def idle_ttl(self) -> float:
        return self.idle_ttl_ms / 1000


@dataclass(frozen=True, slots=True)
class CircuitBreakerSettings:
    failure_threshold: int = leaf("int", 5, 1, 1_000_000)
    success_threshold: int = leaf("int", 2, 1, 1_000_000)
    timeout_ms: int = leaf("int", 60_000, 1, MS_DAY)
    monitoring_period_ms: int = leaf("int", 120_000, 1, MS_DAY)
    volume_threshold: int = leaf("int", 10, 1, 1_000_000)

    @property
    def timeout(self) -> float:
        return self.timeout_ms / 1000

    @property
    def monitoring_period(self) -> float:
        return self.monitoring_period_ms / 1000


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_retries: int = leaf("int", 3, 0, 100)
    base_delay_ms: int = leaf("int", 1000, 0, MS_DAY)
    max_delay_ms: int = leaf("int", 30_000, 0, MS_DAY)
    exponential_base: float = leaf("number", 2.0, 1.0, 100.0)
    jitter: bool = leaf("bool", True)

    @property
    def base_delay(self) -> float:
        return self.base_delay_ms / 1000

    @property
    def max_delay(self) -> float:
        return self.max_delay_ms / 1000


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    enabled: bool = leaf("bool", True)
    algorithm: str = leaf("choice", "aes-256-gcm", choices=("aes-256-gcm", "chacha20-poly1305"))
    key_derivation: str = leaf("choice", "pbkdf2", choices=("pbkdf2", "scrypt", "argon2id"))
    iterations: int = leaf("int", 100_000, 1000, 10_000_000)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    rate_limit: RateLimitConfig = section(RateLimitConfig)
    circuit_breaker: CircuitBreakerSettings = section(CircuitBreakerSettings)
    retry: RetrySettings = section(RetrySettings)
    encryption: EncryptionConfig = section(EncryptionConfig)
    admin_token: str | None = leaf("str", None, optional=True, secret=True)


@dataclass(frozen=True, slots=True)
class ThresholdsConfig:
    """Performance targets in ms (p95), keyed like the seed; `by_metric()` maps them onto metric names."""

    settlement_finality: float = leaf("number", 5000.0, 0.001, 3_600_000)
    channel_latency: float = leaf("number", 100.0, 0.001, 3_600_000)
    x402_handshake: float = leaf("number", 500.0, 0.001, 3_600_000)
    agent_decision: float = leaf("number", 1000.0, 0.001, 3_600_000)
    contract_execution: float = leaf("number", 3000.0, 0.001, 3_600_000)

    def by_metric(self) -> dict[str, float]:
        """{'settlement.finality': 5000.0, ...}: the thresholds keyed by metric name."""
        return {metric: getattr(self, snake(key)) for key, metric in THRESHOLD_METRICS.items()}


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    enabled: bool = leaf("bool", True)
    min_severity: str = leaf("choice", "HIGH", choices=SEVERITIES)
    webhook_url: str | None = leaf("url", None, optional=True)
    cooldown_ms: int = leaf("int", 0, 0, MS_DAY)

    @property
    def cooldown(self) -> float:
        return self.cooldown_ms / 1000


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = leaf("choice", "info", choices=LOG_LEVELS)
    file: str | None = leaf("str", None, optional=True)
    max_file_bytes: int = leaf("int", 10_485_760, 1024, 2**40)
    max_files: int = leaf("int", 5, 1, 1000)
    console: bool = leaf("bool", True)


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    thresholds: ThresholdsConfig = section(ThresholdsConfig)
    alerting: AlertingConfig = section(AlertingConfig)
    logging: LoggingConfig = section(LoggingConfig)


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The whole configuration of one environment."""

    env: str
    stellar: StellarConfig = section(StellarConfig)
    agent: AgentConfig = section(AgentConfig)
    payment: PaymentConfig = section(PaymentConfig)
    security: SecurityConfig = section(SecurityConfig)
    monitoring: MonitoringConfig = section(MonitoringConfig)


SECTIONS = ("stellar", "agent", "payment", "security", "monitoring")


def snake(camel: str) -> str:
    """`maxRequests` -> `max_requests` (the field of a JSON key)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def camel(snake: str) -> str:
    """`max_requests` -> `maxRequests` (the JSON key of a field)."""
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
