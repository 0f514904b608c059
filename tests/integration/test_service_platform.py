"""Platform behaviour of the service: rate limiting (429 + headers), health, Prometheus metrics,
the admin event feed (auth, alerts), the CLI contract (LISTENING line, SIGTERM -> exit 0, exit 2 on
bad input without leaking secrets), and the deliberate faults that affect these paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from stellar_sdk import Keypair

from harness.ledger.config import OFFLINE_PASSPHRASE
from tests.integration.test_service_support import ADMIN_TOKEN, channel_state, corrupted_secret, running_stack

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]
DID = "did:web:agent.example.com"


@pytest.fixture(scope="module")
def stack():
    with running_stack(env={"SRH__MONITORING__THRESHOLDS__CHANNEL_LATENCY": "0.001"}) as s:
        yield s


def test_rate_limit_exhaustion_answers_429_with_headers_per_client_key(stack):
    statuses = []
    for _ in range(51):
        response = stack.http.get("/resources/limited", headers={"X-API-Key": "greedy-client"})
        statuses.append(response.status_code)
    assert statuses[:50] == [402] * 50 and statuses[50] == 429
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Limit"] == "50" and response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= 1
    other = stack.http.get("/resources/limited", headers={"X-API-Key": "polite-client"})
    assert other.status_code == 402 and other.headers["X-RateLimit-Remaining"] == "49"
    assert stack.http.get("/health").status_code == 200  # never limited


def test_rotated_api_keys_are_one_anonymous_client_limited_by_its_address(stack):
    codes = [stack.http.get("/resources/rotate", headers={"X-API-Key": f"fresh-{i}"}).status_code for i in range(51)]
    assert codes[:50] == [402] * 50 and codes[50] == 429  # 51 "clients" that are one address
    assert stack.http.get("/resources/rotate").status_code == 429  # no key: the same anonymous client
    assert stack.http.get("/resources/rotate", headers={"X-API-Key": "polite-client"}).status_code == 402


def test_health_and_metrics(stack):
    health = stack.http.get("/health").json()
    state = health.pop("state")
    assert health == {"status": "ok", "ready": True, "env": "development", "fault": None,
                      "breakers": {"horizon-primary": "closed", "horizon-secondary": "closed"}}
    # every store a client can grow announces its size and bounds (config/development.json)
    assert state["x402_nonces"] == {"size": state["x402_nonces"]["size"], "capacity": 100_000, "per_client": 16,
                                    "ttl_s": 60.0}
    assert state["channels"]["capacity"] == 1000 and state["channels"]["per_client"] == 32
    assert state["rate_limit_keys.resources"]["capacity"] == 100_000 and "x402_used" in state
    a, b = Keypair.random(), Keypair.random()
    assert stack.http.post("/channels/m-1/updates", json=channel_state("m-1", 1, a, b, 1, 1)).status_code == 200
    text = stack.http.get("/metrics").text
    assert 'service_requests_total{endpoint="channel",status="200"}' in text
    assert 'service_breaker_state{breaker="horizon-primary"} 0.0' in text
    assert "service_channel_latency_ms_count 1" in text
    assert 'service_state_capacity{store="channels"} 1000.0' in text
    assert f'service_state_entries{{store="channels"}} {float(len(stack.components.channels))}' in text


def test_admin_feed_needs_the_token_and_reports_metric_alerts(stack):
    assert stack.http.get("/admin/events").status_code == 401
    assert stack.http.get("/admin/events", headers={"Authorization": "Bearer wrong"}).json()["error"] == "unauthorized"
    bad = stack.http.get("/admin/events?since=-1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert bad.status_code == 400
    a, b = Keypair.random(), Keypair.random()
    answer = stack.http.post("/channels/m-2/updates", json=channel_state("m-2", 1, a, b, 1, 1))
    alerts = [e for e in stack.events("alert") if e["data"].get("metric") == "channel.latency"]
    assert alerts and alerts[-1]["data"]["threshold_ms"] == 0.001 and alerts[-1]["data"]["value_ms"] > 0.001
    name, dur = answer.headers["server-timing"].split(";dur=")  # exactly the value recorded (and alerted)
    assert name == "channel-latency" and float(dur) == alerts[-1]["data"]["value_ms"]
    page = stack.http.get("/admin/events", params={"since": alerts[-1]["seq"]},
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert page["events"][0]["seq"] == alerts[-1]["seq"] and page["next"] > alerts[-1]["seq"]


def test_secrets_never_reach_responses_events_or_records(stack):
    secrets = stack.settings.accounts.secrets() + [ADMIN_TOKEN]
    stack.http.post("/settlements", json={"destination": secrets[0], "amount": "1", "agent_did": DID})
    stack.http.post("/settlements", json={"destination": Keypair.random().public_key, "amount": "1",
                                          "agent_did": DID, "note": ADMIN_TOKEN})
    dump = json.dumps(stack.events()) + stack.http.get("/metrics").text + json.dumps(
        [r.to_dict() for r in stack.components.error_logger.get_records()])
    assert not any(secret in dump for secret in secrets)


def test_unknown_routes_and_methods_are_json(stack):
    assert stack.http.get("/nope").json()["error"] == "not_found"
    assert stack.http.delete("/settlements").status_code == 405


@pytest.mark.parametrize("fault, check", [
    ("limiter-admits-double", "limiter"),
    ("validator-passes-bad-input", "validator"),
    ("logger-drops-tx-failures", "logger"),
    ("alert-threshold-x10", "alerts"),
    ("limiter-trusts-any-key", "identity"),
])
def test_deliberate_faults_change_observable_behaviour(fault, check):
    with running_stack(fault=fault) as s:
        assert s.http.get("/health").json()["fault"] == fault
        if check == "limiter":
            codes = [s.http.get("/resources/x", headers={"X-API-Key": "k"}).status_code for _ in range(60)]
            assert 429 not in codes
        elif check == "validator":
            response = s.http.post("/settlements", json={"destination": "GABC", "amount": "abc"})
            assert response.status_code == 500 and response.json()["error"] == "internal_error"
        elif check == "logger":
            response = s.http.post("/settlements", json={"destination": Keypair.random().public_key,
                                                         "amount": "1", "agent_did": DID})
            assert response.status_code == 422
            assert not [r for r in s.components.error_logger.get_records() if r.category == "transaction"]
        elif check == "identity":
            codes = [s.http.get("/resources/x", headers={"X-API-Key": f"fresh-{i}"}).status_code for i in range(60)]
            assert 429 not in codes and s.http.get("/health").json()["state"]["x402_nonces"]["size"] == 60
        else:
            assert s.components.metrics.thresholds["settlement.finality"] == 50_000.0


def _write_inputs(tmp_path: Path, accounts: dict) -> tuple[Path, Path]:
    accounts_file, token_file = tmp_path / "accounts.json", tmp_path / "token"
    accounts_file.write_text(json.dumps(accounts))
    token_file.write_text(ADMIN_TOKEN + "\n")
    return accounts_file, token_file


@pytest.mark.timeout(60)
def test_cli_prints_listening_and_exits_zero_on_sigterm(stack, tmp_path):
    pool = [Keypair.random().secret for _ in range(2)]
    accounts_file, token_file = _write_inputs(tmp_path, {"settlement_pool": pool, "x402_pay_to": pool[0],
                                                         "escrow": Keypair.random().secret})
    cmd = [sys.executable, "-m", "reference_impl.service", "--host", "127.0.0.1", "--port", "0", "--env",
           "development", "--horizon-primary", stack.proxies[0].url, "--horizon-secondary", stack.proxies[1].url,
           "--accounts-file", str(accounts_file), "--admin-token-file", str(token_file), "--config-dir",
           str(REPO / "config"), "--network-passphrase", OFFLINE_PASSPHRASE, "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = proc.stdout.readline()
        assert line.startswith("LISTENING http://127.0.0.1:"), line + proc.stderr.read()
        assert httpx.get(line.split()[1] + "/health", timeout=10).json()["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        out, err = proc.communicate(timeout=5)
        assert not any(secret in out + err for secret in pool)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(60)
def test_cli_refuses_a_bad_accounts_file_with_exit_2_and_no_secret(tmp_path):
    secret = Keypair.random().secret
    accounts_file, _ = _write_inputs(tmp_path, {"settlement_pool": [corrupted_secret(secret)], "escrow": secret})
    result = subprocess.run([sys.executable, "-m", "reference_impl.service", "--accounts-file",
                             str(accounts_file), "--config-dir", str(REPO / "config")],
                            cwd=REPO, capture_output=True, text=True, timeout=50,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "settlement_pool[0]" in result.stderr
    assert secret not in result.stderr + result.stdout and secret[:-1] not in result.stderr


@pytest.mark.timeout(60)
def test_cli_refuses_a_deliberate_fault_under_mainnet_with_exit_2(tmp_path):
    pool = [Keypair.random().secret for _ in range(2)]
    accounts_file, _ = _write_inputs(tmp_path, {"settlement_pool": pool, "x402_pay_to": pool[0],
                                                "escrow": Keypair.random().secret})
    base = [sys.executable, "-m", "reference_impl.service", "--accounts-file", str(accounts_file),
            "--config-dir", str(REPO / "config"), "--env", "mainnet", "--fault-in-service", "no-failover"]
    result = subprocess.run(base, cwd=REPO, capture_output=True, text=True, timeout=50,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "refused under mainnet" in result.stderr, result.stderr
    harness = subprocess.run([sys.executable, "-m", "harness", "run", "smoke", "--env", "mainnet", "--out",
                              str(tmp_path / "run"), "--fault-in-service", "no-failover"],
                             cwd=REPO, capture_output=True, text=True, timeout=50)
    assert harness.returncode == 2 and "refused under mainnet" in harness.stderr, harness.stderr
    assert not (tmp_path / "run").exists()  # refused before anything started
