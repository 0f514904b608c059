"""ConfigManager: shipped files, overrides, validation naming keys, mainnet safety, lossless save/reload."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Keypair

from reference_impl.config_manager import (
    REAL_NETWORKS,
    ConfigManager,
    circuit_breaker_config,
    dump_config,
    parse_config,
    rate_limiter_config,
    retry_config,
)
from reference_impl.config_schema import AppConfig, Spec, camel
from reference_impl.errors import ConfigError
from reference_impl.rate_limiter import PRESETS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def manager(env: str, environ: dict[str, str] | None = None, config_dir: Path = CONFIG_DIR) -> ConfigManager:
    return ConfigManager(env, config_dir=config_dir, environ=environ or {})


def write(tmp_path: Path, env: str, raw: dict[str, Any]) -> ConfigManager:
    (tmp_path / f"{env}.json").write_text(json.dumps(raw))
    return manager(env, config_dir=tmp_path)


@pytest.mark.parametrize("env", ["development", "testnet", "mainnet"])
def test_shipped_files_load_with_typed_sections(env: str) -> None:
    m = manager(env)
    cfg = m.load()
    assert cfg.env == env
    assert m.get_stellar().horizon_url.startswith("http")
    assert m.get_monitoring().thresholds.by_metric() == {
        "settlement.finality": 5000.0, "channel.latency": 100.0, "x402.handshake": 500.0,
        "agent.decision": 1000.0, "contract.execution": 3000.0,
    }
    cb = m.get_security().circuit_breaker
    assert cb.timeout == cb.timeout_ms / 1000
    assert m.get_security().rate_limit.endpoints["settlements"].preset == "PAYMENT"
    assert m.get_payment().x402.enabled is True
    assert 0 <= m.get_agent().risk_level <= 1


def test_environment_profiles_differ_as_documented() -> None:
    dev, test, main = (manager(e).load() for e in ("development", "testnet", "mainnet"))
    assert dev.monitoring.logging.level == "debug" and dev.stellar.ledger_close == 1.0
    assert test.monitoring.logging.level == "debug" and test.stellar.friendbot_enabled
    assert test.monitoring.alerting.enabled is False
    assert main.monitoring.logging.level == "info" and main.monitoring.alerting.enabled
    assert main.agent.max_operation_amount > test.agent.max_operation_amount
    assert main.stellar.horizon_url.startswith("https://") and not main.stellar.friendbot_enabled


def test_missing_keys_get_defaults(tmp_path: Path) -> None:
    cfg = write(tmp_path, "development", {"stellar": {"network": "testnet"}}).load()
    assert cfg.security.circuit_breaker.failure_threshold == 5
    assert cfg.security.retry.max_delay == 30.0
    assert cfg.monitoring.thresholds.settlement_finality == 5000.0
    assert cfg.stellar.network_passphrase == "Test SDF Network ; September 2015"


def test_named_environment_overrides() -> None:
    cfg = manager("testnet", {
        "STELLAR_NETWORK": "standalone", "STELLAR_HORIZON_URL": "http://127.0.0.1:5555",
        "X402_SERVER_PORT": "8402", "LOG_LEVEL": "ERROR",
    }).load()
    assert cfg.stellar.network == "standalone"
    assert cfg.stellar.horizon_url == "http://127.0.0.1:5555"
    assert cfg.payment.x402.server_port == 8402
    assert cfg.monitoring.logging.level == "error"


def test_prefix_overrides_parse_by_key_type() -> None:
    cfg = manager("development", {
        "SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS": "5",
        "SRH__SECURITY__RATE_LIMIT__ENABLED": "false",
        "SRH__SECURITY__RETRY__EXPONENTIAL_BASE": "1.5",
        "SRH__STELLAR__HORIZON_URL_SECONDARY": "http://127.0.0.1:7001",
        "SRH__STELLAR__FRIENDBOT_URL": "null",
        "SRH__STELLAR__FRIENDBOT_ENABLED": "no",
        "SRH__SECURITY__RATE_LIMIT__ENDPOINTS__PAYMENT": "STRICT",
        "SRH__SECURITY__RATE_LIMIT__ENDPOINTS__SETTLE": '{"maxRequests": 3, "windowMs": 1000}',
        "SRH__AGENT__RISK_TOLERANCE": "0.3",
        "SRH__PAYMENT__X402__PRICE_STROOPS": "77",
        "UNRELATED": "ignored",
    }).load()
    rl = cfg.security.rate_limit
    assert rl.max_requests == 5 and rl.enabled is False
    assert cfg.security.retry.exponential_base == 1.5
    assert cfg.stellar.horizon_url_secondary == "http://127.0.0.1:7001"
    assert cfg.stellar.friendbot_url is None and cfg.stellar.friendbot_enabled is False
    assert rl.endpoints["payment"].preset == "STRICT"
    assert (rl.endpoints["settle"].max_requests, rl.endpoints["settle"].window_ms) == (3, 1000)
    assert cfg.agent.risk_tolerance == 0.3
    assert cfg.payment.x402.price_stroops == 77


@pytest.mark.parametrize(("environ", "key"), [
    ({"SRH__SECURITY__RATE_LIMIT__MAX_REQUESTZ": "5"}, "security.rateLimit.maxRequestz"),
    ({"SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS": "five"}, "security.rateLimit.maxRequests"),
    ({"SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS": "0"}, "security.rateLimit.maxRequests"),
    ({"SRH__SECURITY__RETRY__JITTER": "maybe"}, "security.retry.jitter"),
    ({"X402_SERVER_PORT": "70000"}, "payment.x402.serverPort"),
    ({"STELLAR_NETWORK": "moonnet"}, "stellar.network"),
    ({"LOG_LEVEL": "loud"}, "monitoring.logging.level"),
    ({"SRH__SECURITY__RATE_LIMIT__ENDPOINTS__PAYMENT": "HUGE"}, "security.rateLimit.endpoints.payment"),
])
def test_bad_overrides_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager("development", environ).load()
    assert info.value.key == key
    assert key in str(info.value)


@pytest.mark.parametrize(("path", "value", "allowed"), [
    ("security.rateLimit.maxRequests", "5", "[1, 10000000]"),
    ("security.rateLimit.windowMs", 0, "[1, 86400000]"),
    ("security.circuitBreaker.failureThreshold", 2.5, "integer"),
    ("agent.riskTolerance", 1.5, "'low', 'medium', 'high'"),
    ("agent.riskTolerance", "reckless", "'low', 'medium', 'high'"),
    ("stellar.horizonUrl", "ftp://example.com", "http(s) URL"),
    ("stellar.friendbotEnabled", "yes", "true or false"),
    ("security.rateLimit.algorithm", "leaky-bucket", "'token-bucket', 'sliding-window'"),
    ("monitoring.thresholds.channelLatency", -1, "[0.001, 3600000]"),
    ("payment.x402.maxTimeoutSeconds", True, "integer"),
])
def test_type_and_range_errors_name_key_and_range(tmp_path: Path, path: str, value: Any, allowed: str) -> None:
    raw: dict[str, Any] = {}
    node = raw
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    with pytest.raises(ConfigError) as info:
        write(tmp_path, "development", raw).load()
    assert info.value.key == path
    assert allowed in str(info.value)


@pytest.mark.parametrize(("raw", "key"), [
    ({"agent": {"maxOperationAmount": 10, "dailyLimit": 5}}, "agent.dailyLimit"),
    ({"security": {"retry": {"baseDelayMs": 5000, "maxDelayMs": 1000}}}, "security.retry.maxDelayMs"),
    ({"stellar": {"friendbotEnabled": True, "friendbotUrl": None}}, "stellar.friendbotUrl"),
    ({"security": []}, "security"),
    ({"security": {"rateLimit": 3}}, "security.rateLimit"),
])
def test_cross_field_and_shape_errors(tmp_path: Path, raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        write(tmp_path, "testnet", raw).load()
    assert info.value.key == key


@pytest.mark.parametrize(("environ", "key"), [
    ({"SRH__STELLAR__FRIENDBOT_ENABLED": "true", "SRH__STELLAR__FRIENDBOT_URL": "https://f.example"},
     "stellar.friendbotEnabled"),
    ({"STELLAR_HORIZON_URL": "http://horizon.example.com"}, "stellar.horizonUrl"),
    ({"SRH__STELLAR__HORIZON_URL_SECONDARY": "http://10.0.0.2:8000"}, "stellar.horizonUrlSecondary"),
    ({"SRH__SECURITY__RATE_LIMIT__ENABLED": "false"}, "security.rateLimit.enabled"),
    ({"SRH__MONITORING__ALERTING__ENABLED": "false"}, "monitoring.alerting.enabled"),
    ({"SRH__SECURITY__ENCRYPTION__ENABLED": "false"}, "security.encryption.enabled"),
])
def test_mainnet_refuses_unsafe_settings(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager("mainnet", environ).load()
    assert info.value.key == key
    # the same settings are accepted outside mainnet
    assert manager("testnet", environ).load().env == "testnet"


OFFLINE_WORLD = {"SRH__STELLAR__NETWORK": "standalone",
                 "SRH__STELLAR__NETWORK_PASSPHRASE": "Stellar Resilience Harness Offline Network ; 2026",
                 "SRH__PAYMENT__X402__NETWORK": "stellar-standalone",
                 "STELLAR_HORIZON_URL": "http://127.0.0.1:40001",
                 "SRH__STELLAR__HORIZON_URL_SECONDARY": "http://localhost:40002"}


def test_mainnet_settings_run_in_an_offline_world_on_this_machine() -> None:
    """How the harness judges mainnet: every mainnet setting, an isolated network on loopback Horizons."""
    cfg = manager("mainnet", OFFLINE_WORLD).load()
    assert cfg.stellar.horizon_url == "http://127.0.0.1:40001" and cfg.stellar.network == "standalone"
    assert cfg.security.circuit_breaker.timeout == 60.0 and cfg.stellar.ledger_close == 5.0


@pytest.mark.parametrize(("change", "key"), [
    # the public network: https only, loopback included (no exception a world could slip through)
    ({"SRH__STELLAR__NETWORK": "mainnet",
      "SRH__STELLAR__NETWORK_PASSPHRASE": "Public Global Stellar Network ; September 2015"}, "stellar.horizonUrl"),
    # an offline world signs for an isolated network only, stays on this machine, announces no real network
    ({"SRH__STELLAR__NETWORK_PASSPHRASE": "Public Global Stellar Network ; September 2015"},
     "stellar.networkPassphrase"),
    ({"SRH__STELLAR__NETWORK_PASSPHRASE": "Test SDF Network ; September 2015"}, "stellar.networkPassphrase"),
    ({"SRH__STELLAR__HORIZON_URL_SECONDARY": "https://horizon.stellar.org"}, "stellar.horizonUrlSecondary"),
    ({"SRH__PAYMENT__X402__NETWORK": "stellar"}, "payment.x402.network"),
    ({"SRH__STELLAR__NETWORK": "testnet",
      "SRH__STELLAR__NETWORK_PASSPHRASE": "Test SDF Network ; September 2015"}, "stellar.network"),
])
def test_mainnet_refuses_anything_between_the_public_network_and_an_offline_world(
        change: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager("mainnet", {**OFFLINE_WORLD, **change}).load()
    assert info.value.key == key


@pytest.mark.parametrize("env", ["development", "testnet", "mainnet"])
@pytest.mark.parametrize(("network", "passphrase"), [
    ("testnet", "Stellar Resilience Harness Offline Network ; 2026"),
    ("mainnet", "Test SDF Network ; September 2015"),
    ("futurenet", "Public Global Stellar Network ; September 2015"),
])
def test_a_real_networks_name_signs_with_its_passphrase(env: str, network: str, passphrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager(env, {"SRH__STELLAR__NETWORK": network, "SRH__STELLAR__NETWORK_PASSPHRASE": passphrase}).load()
    assert info.value.key == "stellar.networkPassphrase"


def test_unknown_env_missing_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ConfigManager("staging", config_dir=CONFIG_DIR, environ={})
    assert info.value.key == "env"
    with pytest.raises(ConfigError, match="not found"):
        manager("testnet", config_dir=tmp_path).load()
    (tmp_path / "testnet.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        manager("testnet", config_dir=tmp_path).load()
    (tmp_path / "testnet.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        manager("testnet", config_dir=tmp_path).load()


def test_failed_load_keeps_previous_config(tmp_path: Path) -> None:
    shutil.copy(CONFIG_DIR / "testnet.json", tmp_path / "testnet.json")
    m = manager("testnet", config_dir=tmp_path)
    before = m.load()
    (tmp_path / "testnet.json").write_text(json.dumps({"agent": {"riskTolerance": 7}}))
    with pytest.raises(ConfigError):
        m.load()
    assert m.config is before


def test_admin_token_never_printed(tmp_path: Path) -> None:
    secret = "adm-" + "x" * 28
    cfg = manager("testnet", {"SRH__SECURITY__ADMIN_TOKEN": secret}).load()
    assert cfg.security.admin_token == secret
    assert secret not in repr(cfg) and secret not in str(cfg.security)
    with pytest.raises(ConfigError) as info:
        write(tmp_path, "testnet", {"security": {"adminToken": ["not", "a", secret]}}).load()
    assert secret not in str(info.value) and "<redacted>" in str(info.value)


@pytest.mark.parametrize(("raw", "key", "hint"), [
    ({"security": {"circuitBreaker": {"failureTreshold": 3}}}, "security.circuitBreaker.failureTreshold",
     "'failureThreshold'"),
    ({"security": {"rateLimit": {"windowMS": 1000}}}, "security.rateLimit.windowMS", "'windowMs'"),
    ({"monitoring": {"tresholds": {}}}, "monitoring.tresholds", "'thresholds'"),
    ({"stellar": {"network": "testnet", "customRpc": {"url": "x"}}}, "stellar.customRpc", "valid keys:"),
    ({"version": 2}, "version", "valid keys: agent, monitoring"),
    ({"securty": {}}, "securty", "'security'"),
    ({"security": {"rateLimit": {"endpoints": {"pay": {"maxRequest": 3, "windowMs": 1}}}}},
     "security.rateLimit.endpoints.pay.maxRequest", "'maxRequests'"),
])
def test_unknown_keys_are_refused_with_path_and_suggestion(tmp_path: Path, raw: dict[str, Any], key: str,
                                                           hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        write(tmp_path, "development", raw).load()
    assert info.value.key == key
    assert key.rsplit(".", 1)[-1] in str(info.value) and hint in str(info.value)


def test_the_typo_of_issue_15_no_longer_loads_as_the_default(tmp_path: Path) -> None:
    """Before: `failureTreshold: 1` loaded silently and the breaker kept the default threshold of 5."""
    raw = json.loads((CONFIG_DIR / "testnet.json").read_text())
    raw["security"]["circuitBreaker"]["failureTreshold"] = 1
    with pytest.raises(ConfigError, match="did you mean 'failureThreshold'"):
        write(tmp_path, "testnet", raw).load()


@pytest.mark.parametrize(("var", "hint"), [
    ("SRH__SECURITY__CIRCUIT_BREAKER__FAILURE_TRESHOLD", "SRH__SECURITY__CIRCUIT_BREAKER__FAILURE_THRESHOLD"),
    ("SRH__SECURITY__RATE_LIMIT__MAX_REQUESTZ", "SRH__SECURITY__RATE_LIMIT__MAX_REQUESTS"),
    ("SRH__MONITORING__THRESHOLDS__X402_HANDSHAK", "SRH__MONITORING__THRESHOLDS__X402_HANDSHAKE"),
])
def test_unknown_override_names_the_variable_and_the_closest_one(var: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager("development", {var: "3"}).load()
    assert var in str(info.value) and hint in str(info.value)


@pytest.mark.parametrize("secret", [True, False])
def test_save_writes_mode_0600_even_over_a_readable_file(tmp_path: Path, secret: bool) -> None:
    environ = {"SRH__SECURITY__ADMIN_TOKEN": "t" * 32} if secret else {}
    target = tmp_path / "testnet.json"
    target.write_text("{}")
    target.chmod(0o644)
    manager("testnet", environ).save(target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert manager("testnet", config_dir=tmp_path).load() == manager("testnet", environ).load()
    assert [p.name for p in tmp_path.iterdir()] == ["testnet.json"]  # no temporary file left behind


@pytest.mark.parametrize("env", ["development", "testnet", "mainnet"])
def test_save_and_reload_shipped_configs(tmp_path: Path, env: str) -> None:
    original = manager(env, {"SRH__SECURITY__ADMIN_TOKEN": "t" * 32}).load()
    manager(env, {"SRH__SECURITY__ADMIN_TOKEN": "t" * 32}).save(tmp_path / f"{env}.json")
    assert manager(env, config_dir=tmp_path).load() == original


def _leaf_specs(cls: type = AppConfig, prefix: str = "") -> list[tuple[str, Spec]]:
    out: list[tuple[str, Spec]] = []
    for f in fields(cls):
        if "section" in f.metadata:
            out += _leaf_specs(f.metadata["section"], f"{prefix}{camel(f.name)}.")
        elif "spec" in f.metadata:
            out.append((prefix + camel(f.name), f.metadata["spec"]))
    return out


def _values(spec: Spec) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if spec.kind == "bool":
        base = st.booleans()
    elif spec.kind == "int":
        base = st.integers(int(spec.low or 0), int(min(spec.high or 2**53, 2**53)))
    elif spec.kind == "number":
        base = st.floats(spec.low or 0.0, spec.high or 1e12, allow_nan=False, allow_infinity=False)
    elif spec.kind == "choice":
        base = st.sampled_from(spec.choices)
    elif spec.kind == "risk":
        base = st.one_of(st.sampled_from(["low", "medium", "high"]), st.floats(0, 1))
    elif spec.kind == "url":
        base = st.builds(lambda port, path: f"https://127.0.0.1:{port}/{path}",
                         st.integers(1, 65535), st.text("abc/-", max_size=8))
    elif spec.kind == "asset":
        issuers = st.binary(min_size=32, max_size=32).map(lambda raw: Keypair.from_raw_ed25519_seed(raw).public_key)
        base = st.one_of(st.just("native"), st.builds(lambda code, issuer: f"{code}:{issuer}",
                                                      st.text("ABCZ019", min_size=1, max_size=12), issuers))
    elif spec.kind == "endpoints":
        rule = st.one_of(st.sampled_from(sorted(PRESETS)), st.fixed_dictionaries(
            {"maxRequests": st.integers(1, 10**6), "windowMs": st.integers(1, 10**6)},
            optional={"algorithm": st.sampled_from(["token-bucket", "sliding-window"])}))
        base = st.dictionaries(st.text("abcxyz", min_size=1, max_size=6), rule, max_size=4)
    else:
        base = st.text(min_size=1, max_size=20).filter(str.strip)
    return st.one_of(st.none(), base) if spec.optional else base


LEAVES = _leaf_specs()


@given(data=st.data(), env=st.sampled_from(["development", "testnet"]))
def test_property_save_reload_is_lossless(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                                          env: str) -> None:
    raw: dict[str, Any] = {}
    for path, spec in LEAVES:
        if data.draw(st.booleans(), label=f"set {path}"):
            node = raw
            *parents, last = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = data.draw(_values(spec), label=path)
    agent = raw.get("agent", {})
    if agent.get("dailyLimit", 1000.0) < agent.get("maxOperationAmount", 100.0):
        agent["dailyLimit"] = agent["maxOperationAmount"] if "maxOperationAmount" in agent else 100.0
    retry = raw.get("security", {}).get("retry", {})
    if retry.get("maxDelayMs", 30_000) < retry.get("baseDelayMs", 1000):
        retry["maxDelayMs"] = retry.get("baseDelayMs", 1000)
    if raw.get("stellar", {}).get("friendbotEnabled") and raw["stellar"].get("friendbotUrl") is None:
        raw["stellar"]["friendbotUrl"] = "https://127.0.0.1:1/friendbot"
    network = raw.get("stellar", {}).get("network", "testnet")
    if network in REAL_NETWORKS:  # a real network's name signs with its passphrase
        raw.setdefault("stellar", {})["networkPassphrase"] = REAL_NETWORKS[network]
    config = parse_config(raw, env)
    source, target = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("saved")
    (source / f"{env}.json").write_text(json.dumps(raw))
    ConfigManager(env, config_dir=source, environ={}).save(target / f"{env}.json")
    reloaded = ConfigManager(env, config_dir=target, environ={}).load()
    assert reloaded == config
    assert dump_config(parse_config(dump_config(config), env)) == dump_config(config)


def test_component_config_helpers() -> None:
    security = manager("testnet", {"SRH__SECURITY__RATE_LIMIT__ENDPOINTS__SETTLE":
                                   '{"maxRequests": 3, "windowMs": 2000, "algorithm": "sliding-window"}'}
                       ).get_security()
    payment = rate_limiter_config(security, "settlements")
    assert (payment.max_requests, payment.window, payment.algorithm) == (50, 60.0, "token-bucket")
    settle = rate_limiter_config(security, "settle")
    assert (settle.max_requests, settle.window, settle.algorithm) == (3, 2.0, "sliding-window")
    default = rate_limiter_config(security)
    assert (default.max_requests, default.window) == (100, 60.0)


def test_retry_and_breaker_config_helpers() -> None:
    pytest.importorskip("reference_impl.retry_handler")
    pytest.importorskip("reference_impl.circuit_breaker")
    security = manager("development").get_security()
    retry = retry_config(security)
    assert (retry.max_retries, retry.base_delay, retry.max_delay) == (3, 0.2, 5.0)
    breaker = circuit_breaker_config(security)
    assert (breaker.failure_threshold, breaker.timeout, breaker.monitoring_period) == (5, 10.0, 30.0)
