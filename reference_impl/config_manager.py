"""ConfigManager: loads `config/<env>.json`, applies environment overrides, validates, saves losslessly.

Environment overrides (applied after the file, before validation):
  STELLAR_NETWORK      -> stellar.network
  STELLAR_HORIZON_URL  -> stellar.horizonUrl
  X402_SERVER_PORT     -> payment.x402.serverPort
  LOG_LEVEL            -> monitoring.logging.level
  SRH__<SECTION>__<KEY>[__<KEY>...] -> any other key; each part is UPPER_SNAKE of the camelCase
      key, e.g. SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS=5 -> security.rateLimit.maxRequests = 5.
      Values are parsed by the key's type: true/false, numbers, `null` for optional keys, JSON for
      objects; SRH__SECURITY__RATE_LIMIT__ENDPOINTS__PAYMENT=STRICT sets one endpoint's preset.
Unknown keys, in a file or an override, are refused naming their path and the closest valid key
(`failureTreshold` -> "did you mean 'failureThreshold'?"): a typo never loads silently as the default.
`save` writes the file with mode 0600 (it may hold `security.adminToken`).
A network named after a real one (`testnet`, `mainnet`/`public`, `futurenet`) must sign with that
network's passphrase. Mainnet refuses friendbot on, rate limiting off, alerting off and encryption
off, and runs in one of two ways only: on the public network (`mainnet`/`public`: every Horizon over
https, no exception) or in an offline world (`standalone`: an isolated passphrase, never a real
network's, every Horizon on this machine, and no real network's name announced to x402 clients).
The second is how the harness judges mainnet's settings without anything it signs being valid on a
real network (docs/run.md, "Environments").
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from stellar_sdk import Network

from reference_impl.config_schema import (
    ENVIRONMENTS,
    SECTIONS,
    AgentConfig,
    AppConfig,
    MonitoringConfig,
    PaymentConfig,
    SecurityConfig,
    Spec,
    StellarConfig,
    camel,
    is_loopback_url,
    snake,
)
from reference_impl.errors import ConfigError
from reference_impl.seed_forms import closest, unknown_key_message

# `stellar.network` names of the real networks and the passphrase each signs with.
REAL_NETWORKS = {"mainnet": Network.PUBLIC_NETWORK_PASSPHRASE, "public": Network.PUBLIC_NETWORK_PASSPHRASE,
                 "testnet": Network.TESTNET_NETWORK_PASSPHRASE, "futurenet": Network.FUTURENET_NETWORK_PASSPHRASE}
REAL_PASSPHRASES = frozenset(REAL_NETWORKS.values())
REAL_X402_NETWORKS = ("stellar", "stellar-testnet")  # x402 v1 names of the public network and testnet

ENV_PREFIX = "SRH__"
NAMED_OVERRIDES = {
    "STELLAR_NETWORK": "stellar.network",
    "STELLAR_HORIZON_URL": "stellar.horizonUrl",
    "X402_SERVER_PORT": "payment.x402.serverPort",
    "LOG_LEVEL": "monitoring.logging.level",
}
_SECTION_CLASSES = {f.name: f.metadata["section"] for f in fields(AppConfig) if "section" in f.metadata}


class ConfigManager:
    """Typed, validated configuration of one environment (`development`, `testnet`, `mainnet`)."""

    def __init__(self, env: str, config_dir: Path | str = Path("config"),
                 environ: Mapping[str, str] | None = None) -> None:
        if env not in ENVIRONMENTS:
            raise ConfigError(f"env: must be one of {', '.join(ENVIRONMENTS)}, got {env!r}", "env")
        self.env = env
        self.config_dir = Path(config_dir)
        self.environ = os.environ if environ is None else environ
        self._config: AppConfig | None = None

    @property
    def path(self) -> Path:
        return self.config_dir / f"{self.env}.json"

    def load(self) -> AppConfig:
        """Read the file, apply overrides, validate. On error the previously loaded config stays."""
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {self.path} not found", "env") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {self.path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {self.path} must hold a JSON object", "")
        apply_overrides(raw, self.environ)
        self._config = parse_config(raw, self.env)
        return self._config

    @property
    def config(self) -> AppConfig:
        return self._config if self._config is not None else self.load()

    def get_stellar(self) -> StellarConfig:
        return self.config.stellar

    def get_agent(self) -> AgentConfig:
        return self.config.agent

    def get_payment(self) -> PaymentConfig:
        return self.config.payment

    def get_security(self) -> SecurityConfig:
        return self.config.security

    def get_monitoring(self) -> MonitoringConfig:
        return self.config.monitoring

    def save(self, path: Path | str) -> Path:
        """Write the effective configuration (defaults filled, overrides applied) as camelCase JSON.

        The file gets mode 0600 whatever was there before (the admin token is a secret); it is
        written to a temporary file in the same folder first and renamed, so readers never see half.
        """
        target = Path(path)
        text = json.dumps(dump_config(self.config), indent=2) + "\n"
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target


def parse_config(raw: Mapping[str, Any], env: str) -> AppConfig:
    """Validate a camelCase JSON object into an AppConfig (defaults filled); ConfigError names the key."""
    if env not in ENVIRONMENTS:
        raise ConfigError(f"env: must be one of {', '.join(ENVIRONMENTS)}, got {env!r}", "env")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in SECTIONS:
            raise ConfigError(unknown_key_message(name, SECTIONS, "config"), name)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: must be an object", name)
    for name in SECTIONS:
        values[name] = _build(_SECTION_CLASSES[name], raw.get(name, {}), name)
    config = AppConfig(env=env, **values)
    _check_consistency(config)
    if env == "mainnet":
        _check_mainnet(config)
    return config


def _keys(cls: type) -> list[str]:
    """The JSON keys of a section class."""
    return [camel(f.name) for f in fields(cls) if f.name != "env"]


def _build(cls: type, raw: Mapping[str, Any], path: str) -> Any:
    known = _keys(cls)
    for key in raw:
        if key not in known:
            raise ConfigError(unknown_key_message(str(key), known, path), f"{path}.{key}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        key = camel(f.name)
        sub = f"{path}.{key}"
        if "section" in f.metadata:
            value = raw.get(key, {})
            if not isinstance(value, Mapping):
                raise ConfigError(f"{sub}: must be an object", sub)
            kwargs[f.name] = _build(f.metadata["section"], value, sub)
        elif key in raw:
            kwargs[f.name] = f.metadata["spec"].check(raw[key], sub)
    return cls(**kwargs)


def dump_config(config: AppConfig) -> dict[str, Any]:
    """The camelCase JSON object of a config; `parse_config` inverts it."""
    return {name: _dump(getattr(config, name)) for name in SECTIONS}


def _dump(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if "section" in f.metadata:
            value = _dump(value)
        elif isinstance(value, dict):
            value = {name: rule.to_json() for name, rule in value.items()}
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        out[camel(f.name)] = value
    return out


def _spec_at(dotted: str) -> Spec | None:
    """The leaf spec at a dotted camelCase path, or None when the path names no leaf."""
    cls: Any = AppConfig
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        match = [f for f in fields(cls) if camel(f.name) == part and f.name != "env"]
        if not match:
            return None
        meta = match[0].metadata
        if "section" in meta:
            cls = meta["section"]
            continue
        return meta["spec"] if i == len(parts) - 1 else None
    return None


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Apply the named and `SRH__` environment overrides to the raw JSON object in place."""
    for var in sorted(environ):
        if var in NAMED_OVERRIDES:
            _set(raw, NAMED_OVERRIDES[var], var, environ[var])
        elif var.startswith(ENV_PREFIX):
            parts = [camel(p.lower()) for p in var[len(ENV_PREFIX):].split("__")]
            _set(raw, ".".join(parts), var, environ[var])


def _set(raw: dict[str, Any], dotted: str, var: str, text: str) -> None:
    spec = _spec_at(dotted)
    parent_spec = _spec_at(dotted.rsplit(".", 1)[0]) if "." in dotted else None
    if spec is not None:
        value = _parse_text(text, spec, dotted, var)
    elif parent_spec is not None and parent_spec.kind == "endpoints":
        value = _parse_json_or_text(text)
    else:
        raise ConfigError(f"{var}: no configuration key {dotted!r}{_suggest_leaf(dotted)}", dotted)
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _leaves(cls: type = AppConfig, prefix: str = "") -> list[str]:
    """Every leaf key path of the schema (`security.rateLimit.maxRequests`, ...)."""
    out: list[str] = []
    for f in fields(cls):
        if "section" in f.metadata:
            out += _leaves(f.metadata["section"], f"{prefix}{camel(f.name)}.")
        elif f.name != "env":
            out.append(prefix + camel(f.name))
    return out


def env_var(dotted: str) -> str:
    """The `SRH__` variable that overrides a key path: security.rateLimit.maxRequests ->
    SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS."""
    return ENV_PREFIX + "__".join(snake(part).upper() for part in dotted.split("."))


def _suggest_leaf(dotted: str) -> str:
    hint = closest(dotted, _leaves())
    return f"; did you mean {hint!r} ({env_var(hint)})?" if hint else ""


def _parse_text(text: str, spec: Spec, dotted: str, var: str) -> Any:
    stripped = text.strip()
    if spec.optional and stripped.lower() in ("null", "none", ""):
        return None
    if spec.kind == "bool":
        lowered = stripped.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{var} ({dotted}): must be true or false", dotted)
    if spec.kind in ("int", "number", "risk"):
        try:
            return int(stripped) if spec.kind == "int" else float(stripped)
        except ValueError:
            if spec.kind == "risk":
                return stripped
            raise ConfigError(f"{var} ({dotted}): must be {spec.allowed()}", dotted) from None
    if spec.kind == "endpoints":
        return _parse_json_or_text(text)
    return stripped


def _parse_json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def _check_consistency(config: AppConfig) -> None:
    agent, retry = config.agent, config.security.retry
    if agent.daily_limit < agent.max_operation_amount:
        raise ConfigError("agent.dailyLimit: must be >= agent.maxOperationAmount", "agent.dailyLimit")
    if retry.max_delay_ms < retry.base_delay_ms:
        raise ConfigError("security.retry.maxDelayMs: must be >= security.retry.baseDelayMs",
                          "security.retry.maxDelayMs")
    if config.stellar.friendbot_enabled and config.stellar.friendbot_url is None:
        raise ConfigError("stellar.friendbotUrl: required when stellar.friendbotEnabled is true",
                          "stellar.friendbotUrl")
    real = REAL_NETWORKS.get(config.stellar.network)
    if real is not None and config.stellar.network_passphrase != real:
        raise ConfigError(f"stellar.networkPassphrase: network {config.stellar.network!r} signs with {real!r} "
                          "(an isolated network is 'standalone')", "stellar.networkPassphrase")


def _check_mainnet(config: AppConfig) -> None:
    st = config.stellar
    refusals = [
        (st.friendbot_enabled, "stellar.friendbotEnabled", "friendbot must be off on mainnet"),
        (not config.security.rate_limit.enabled, "security.rateLimit.enabled", "rate limiting must be on"),
        (not config.monitoring.alerting.enabled, "monitoring.alerting.enabled", "alerting must be on"),
        (not config.security.encryption.enabled, "security.encryption.enabled", "encryption must be on"),
        (st.network not in ("mainnet", "public", "standalone"), "stellar.network",
         "mainnet runs on the public network ('mainnet' or 'public') or in an offline world ('standalone')"),
    ]
    offline = st.network == "standalone"
    for key, url in (("stellar.horizonUrl", st.horizon_url), ("stellar.horizonUrlSecondary", st.horizon_url_secondary)):
        if url is None:
            continue
        if offline:
            refusals.append((not is_loopback_url(url), key, "an offline world runs on this machine (loopback Horizon)"))
        else:
            refusals.append((not url.lower().startswith("https://"), key,
                             "plain-http Horizon is refused on mainnet (use https)"))
    if offline:
        refusals += [
            (st.network_passphrase in REAL_PASSPHRASES, "stellar.networkPassphrase",
             "an offline world signs for an isolated network, never a real one"),
            (config.payment.x402.network in REAL_X402_NETWORKS, "payment.x402.network",
             "an offline world must not announce a real network to x402 clients"),
        ]
    for unsafe, key, reason in refusals:
        if unsafe:
            raise ConfigError(f"{key}: {reason}", key)


def retry_config(security: SecurityConfig) -> Any:
    """A `retry_handler.RetryConfig` built from `security.retry` (durations in seconds)."""
    from reference_impl.retry_handler import RetryConfig

    r = security.retry
    return RetryConfig(max_retries=r.max_retries, base_delay=r.base_delay, max_delay=r.max_delay,
                       exponential_base=r.exponential_base, jitter=r.jitter)


def circuit_breaker_config(security: SecurityConfig) -> Any:
    """A `circuit_breaker.CircuitBreakerConfig` built from `security.circuitBreaker`."""
    from reference_impl.circuit_breaker import CircuitBreakerConfig

    c = security.circuit_breaker
    return CircuitBreakerConfig(failure_threshold=c.failure_threshold, success_threshold=c.success_threshold,
                                timeout=c.timeout, monitoring_period=c.monitoring_period,
                                volume_threshold=c.volume_threshold)


def rate_limiter_config(security: SecurityConfig, endpoint: str | None = None) -> Any:
    """A `rate_limiter.RateLimiterConfig` for `endpoint` (its preset or rule), else the default limit."""
    from dataclasses import replace

    from reference_impl.rate_limiter import PRESETS, RateLimiterConfig

    rl = security.rate_limit
    rule = rl.endpoints.get(endpoint) if endpoint is not None else None
    if rule is not None and rule.preset is not None:
        return replace(PRESETS[rule.preset], algorithm=rl.algorithm, idle_ttl=rl.idle_ttl)
    if rule is not None:
        return RateLimiterConfig(max_requests=rule.max_requests or rl.max_requests,
                                 window=(rule.window_ms or rl.window_ms) / 1000,
                                 algorithm=rule.algorithm or rl.algorithm, idle_ttl=rl.idle_ttl)
    return RateLimiterConfig(max_requests=rl.max_requests, window=rl.window, algorithm=rl.algorithm,
                             idle_ttl=rl.idle_ttl)
