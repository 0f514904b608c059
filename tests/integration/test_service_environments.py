"""Configuration across environments: the service starts under development, testnet and mainnet and
behaves as each config says (breaker timeout, rate-limit algorithm, thresholds, cadence, asset), always
in the harness's offline world (its own passphrase, loopback Horizons), and mainnet's safety rules
refuse everything between a real deployment and such a world."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from stellar_sdk import Keypair, Network

from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.ledger.genesis import offline_asset
from reference_impl.errors import ConfigurationError
from reference_impl.service.cli import add_arguments, settings_from_args
from tests.integration.test_service_support import Stack, running_stack, wait_for, x402_header

REPO = Path(__file__).resolve().parents[2]
# env -> (breaker timeout s, rate-limit algorithm, ledger close s): what config/<env>.json says
EXPECTED = {"development": (10, "token-bucket", 1.0), "testnet": (30, "token-bucket", 5.0),
            "mainnet": (60, "sliding-window", 5.0)}
PAYMENT_LIMIT = 50  # the PAYMENT preset on /resources in every environment


def usdc(stack: Stack) -> str:
    return offline_asset(stack.ledger.config)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("environment", sorted(EXPECTED))
def test_each_environment_pays_usdc_in_the_offline_world(environment):
    with running_stack(environment=environment, fast=False, asset="USDC") as s:
        assert s.http.get("/health").json()["env"] == environment
        req = s.http.get("/resources/r1", headers={"X-API-Key": "env-challenge"}).json()["accepts"][0]
        # the world's network, whatever the environment: nothing announced or signed is a real network's
        assert req["network"] == "stellar-standalone" and req["extra"]["networkPassphrase"] == OFFLINE_PASSPHRASE
        assert req["asset"] == usdc(s)
        payer = s.keys[6]
        paid = s.http.get("/resources/r1", headers={"X-PAYMENT": x402_header(req, payer, s.sequence(payer.public_key) + 1),
                                                    "X-API-Key": "env-pay"})
        assert paid.status_code == 200, paid.text
        settled = s.http.post("/settlements", json={"destination": s.keys[7].public_key, "amount": "1.5",
                                                    "asset": usdc(s), "agent_did": "did:example:env"},
                              headers={"Idempotency-Key": f"env-{environment}"})
        assert settled.status_code == 200 and settled.json()["asset"] == usdc(s), settled.text
        refused = s.http.post("/settlements", json={"destination": s.keys[7].public_key, "amount": "1",
                                                    "asset": "native", "agent_did": "did:example:env"})
        assert refused.status_code == 400 and refused.json()["field"] == "asset"
        payments = wait_for(lambda: [op for r in s.applied() for op in r["operations"]
                                     if op["type"] == "payment" and op["asset"] == usdc(s)] or None)
        assert {op["amount"] for op in payments} >= {"1.5000000"}
        assert {op["source"] for op in payments} >= {payer.public_key}  # the x402 payment, in USDC too
        assert s.components.settings.submit_timeout == 2 * EXPECTED[environment][2] + 2  # the env's cadence


@pytest.mark.timeout(120)
@pytest.mark.parametrize("environment", sorted(EXPECTED))
def test_breakers_stay_open_for_the_environments_timeout(environment):
    """Both Horizons down: once the breakers open, a settlement gets a fast 503 whose Retry-After is the
    time left until a breaker half-opens, i.e. about the environment's breaker timeout."""
    timeout, _, _ = EXPECTED[environment]
    with running_stack(environment=environment, fast=False) as s:
        for proxy in s.proxies:
            proxy.set_mode("down")

        def settle(i: int) -> httpx.Response:
            return s.http.post("/settlements", json={"destination": s.keys[7].public_key, "amount": "1",
                                                     "agent_did": "did:example:env"},
                               headers={"Idempotency-Key": f"down-{environment}-{i}", "X-API-Key": f"k{i}"})

        for i in range(30):  # refused connections fail fast; the volume threshold (10 calls) opens both
            assert settle(i).status_code == 503
            states = s.http.get("/health").json()["breakers"]
            if set(states.values()) == {"open"}:
                break
        assert set(states.values()) == {"open"}, states
        started = time.monotonic()
        answer = settle(99)
        assert answer.status_code == 503 and time.monotonic() - started < 1.0
        assert timeout - 20 < int(answer.headers["Retry-After"]) <= timeout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("environment", sorted(EXPECTED))
def test_rate_limit_algorithm_follows_the_environment(environment):
    """50 challenges per minute per key everywhere; a token bucket refills continuously (development,
    testnet), a sliding window admits nothing more within its minute (mainnet)."""
    _, algorithm, _ = EXPECTED[environment]
    with running_stack(environment=environment, fast=False) as s:
        statuses = [s.http.get("/resources/r2", headers={"X-API-Key": "burst"}).status_code
                    for _ in range(PAYMENT_LIMIT + 1)]
        assert statuses == [402] * PAYMENT_LIMIT + [429]
        time.sleep(1.5)  # a token bucket refills 50/60 per second
        later = s.http.get("/resources/r2", headers={"X-API-Key": "burst"})
        assert later.headers["X-RateLimit-Limit"] == str(PAYMENT_LIMIT)
        assert later.status_code == (402 if algorithm == "token-bucket" else 429)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("environment", sorted(EXPECTED))
def test_thresholds_come_from_the_environments_config(environment):
    """Every environment's monitoring thresholds (plus its overrides) drive the service's alerts."""
    with running_stack(environment=environment, fast=False,
                       env={"SRH__MONITORING__THRESHOLDS__AGENT_DECISION": "0.001"}) as s:
        thresholds = s.components.metrics.thresholds
        assert thresholds["settlement.finality"] == 5000 and thresholds["agent.decision"] == 0.001
        terms = {"lender": s.keys[0].public_key, "borrower": s.keys[9].public_key, "principal": "1",
                 "interestRate": 0.05, "durationSeconds": 3600}
        body = {"agent_did": "did:example:env", "opportunities": [{"id": "o1", "type": "loan", "terms": terms}]}
        answer = s.http.post("/agent/decisions", json=body)
        assert answer.status_code == 200, answer.text
        alerts = wait_for(lambda: [e for e in s.events("alert") if e["data"].get("metric") == "agent.decision"])
        assert alerts[0]["data"]["threshold_ms"] == 0.001


def _settings(*argv: str):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from_args(parser.parse_args(["--config-dir", str(REPO / "config"), *argv]))


@pytest.fixture
def accounts_file(tmp_path):
    pool = [Keypair.random().secret for _ in range(2)]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"settlement_pool": pool, "x402_pay_to": pool[0], "escrow": Keypair.random().secret}))
    return str(path)


LOOPBACK = ["--horizon-primary", "http://127.0.0.1:40001", "--horizon-secondary", "http://127.0.0.1:40002"]


def test_mainnet_runs_as_a_real_deployment_or_in_an_offline_world(accounts_file):
    real = _settings("--env", "mainnet", "--accounts-file", accounts_file)
    assert real.network_passphrase == Network.PUBLIC_NETWORK_PASSPHRASE
    assert real.horizon_primary.startswith("https://") and real.config.payment.x402.network == "stellar"
    world = _settings("--env", "mainnet", "--accounts-file", accounts_file, "--network-passphrase",
                      OFFLINE_PASSPHRASE, *LOOPBACK)
    assert world.config.stellar.network == "standalone" and world.config.payment.x402.network == "stellar-standalone"
    assert world.horizon_urls == ["http://127.0.0.1:40001", "http://127.0.0.1:40002"]
    assert world.config.security.circuit_breaker.timeout == 60.0  # mainnet's settings, the world's network


@pytest.mark.parametrize(("argv", "key"), [
    # the real network over plain http, even on this machine
    (["--env", "mainnet", *LOOPBACK], "stellar.horizonUrl"),
    # an offline world that leaves the machine
    (["--env", "mainnet", "--network-passphrase", OFFLINE_PASSPHRASE, "--horizon-primary",
      "https://horizon.stellar.org"], "stellar.horizonUrl"),
    (["--env", "mainnet", "--network-passphrase", OFFLINE_PASSPHRASE, "--horizon-primary",
      "http://127.0.0.1:40001", "--horizon-secondary", "http://10.0.0.5:8000"], "stellar.horizonUrlSecondary"),
    # a real network's name with another network's passphrase
    (["--env", "testnet", "--network-passphrase", Network.PUBLIC_NETWORK_PASSPHRASE], "stellar.networkPassphrase"),
])
def test_unsafe_combinations_are_refused_naming_the_key(accounts_file, argv, key):
    with pytest.raises(ConfigurationError) as info:
        _settings(*argv, "--accounts-file", accounts_file)
    assert info.value.key == key


@pytest.mark.timeout(60)
def test_the_service_cli_refuses_mainnet_over_plain_http_with_exit_2(accounts_file):
    result = subprocess.run([sys.executable, "-m", "reference_impl.service", "--env", "mainnet", "--accounts-file",
                             accounts_file, "--config-dir", str(REPO / "config"), *LOOPBACK],
                            cwd=REPO, capture_output=True, text=True, timeout=50,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "plain-http Horizon is refused on mainnet" in result.stderr
