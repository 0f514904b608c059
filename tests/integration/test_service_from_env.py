"""The reference service as a `--target-cmd` target: `--from-env` takes exactly the harness's variables,
`--no-admin-feed` serves no feed (404), the feed speaks schema version 1 with its declared kinds, and the
issued API keys of SRH_API_KEYS_FILE are clients of their own (any other key is the address's client)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from stellar_sdk import Keypair

from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.run.worlds import free_port
from tests.integration.test_service_support import running_stack

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]
TOKEN = "from-env-admin-token"
ISSUED = "srhk_" + "ab" * 20


def _variables(tmp_path: Path, primary: str, secondary: str) -> dict[str, str]:
    pool = [Keypair.random().secret for _ in range(2)]
    accounts, token = tmp_path / "accounts.json", tmp_path / "token"
    accounts.write_text(json.dumps({"settlement_pool": pool, "x402_pay_to": Keypair.random().public_key,
                                    "escrow": Keypair.random().secret}))
    token.write_text(TOKEN)
    keys = tmp_path / "api-keys.sha256"
    keys.write_text("# issued\n" + hashlib.sha256(ISSUED.encode()).hexdigest() + "\n")
    keys.chmod(0o600)
    port = free_port()
    return {"PORT": str(port), "TARGET_URL": f"http://127.0.0.1:{port}", "HORIZON_URL": primary,
            "HORIZON_URL_SECONDARY": secondary, "STELLAR_NETWORK_PASSPHRASE": OFFLINE_PASSPHRASE,
            "SRH_ACCOUNTS_FILE": str(accounts), "SRH_ADMIN_TOKEN_FILE": str(token), "SRH_API_KEYS_FILE": str(keys)}


def _serve(variables: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "reference_impl.service", "--from-env", "--quiet", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **variables})


@contextmanager
def _served(variables: dict[str, str], *extra: str) -> Iterator[subprocess.Popen[str]]:
    """The service listening on $PORT; then stopped by SIGTERM with exit 0 (killed if the test failed first)."""
    proc = _serve(variables, *extra)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.strip() == f"LISTENING {variables['TARGET_URL']}", line + proc.stderr.read()
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("feed", [True, False])
def test_from_env_listens_on_port_and_the_feed_is_v1_or_absent(tmp_path: Path, feed: bool) -> None:
    with running_stack() as stack:
        variables = _variables(tmp_path, stack.proxies[0].url, stack.proxies[1].url)
        with _served(variables, *(() if feed else ("--no-admin-feed",))):
            health = httpx.get(variables["TARGET_URL"] + "/health", timeout=10)
            assert health.status_code == 200 and set(health.json()["breakers"]) == {"horizon-primary",
                                                                                    "horizon-secondary"}
            page = httpx.get(variables["TARGET_URL"] + "/admin/events", params={"since": 0},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            if feed:
                body = page.json()
                assert page.status_code == 200 and body["version"] == 1
                assert {"breaker.transition", "alert", "error.record"} <= set(body["kinds"]) and isinstance(body["next"], int)
            else:
                assert page.status_code == 404 and page.json()["error"] == "not_found"


def test_from_env_honours_the_issued_keys_of_srh_api_keys_file(tmp_path: Path) -> None:
    """No key and an unissued key share the anonymous client's bucket; the issued key has one of its own."""
    with running_stack() as stack:
        variables = _variables(tmp_path, stack.proxies[0].url, stack.proxies[1].url)
        with _served(variables):
            remaining = []
            with httpx.Client(base_url=variables["TARGET_URL"], timeout=10) as client:
                for headers in ({}, {"X-API-Key": "srhk_" + "cd" * 20}, {"X-API-Key": ISSUED}):
                    resp = client.get("/resources/keys", headers=headers)
                    assert resp.status_code == 402, resp.text
                    remaining.append(int(resp.headers["X-RateLimit-Remaining"]))
            limit = int(resp.headers["X-RateLimit-Limit"])
            anonymous, unissued, issued = remaining
            assert unissued < anonymous  # the same client: the address
            assert issued == limit - 1 > unissued  # a fresh bucket
            state = httpx.get(variables["TARGET_URL"] + "/health", timeout=10).json()["state"]
            assert state["x402_nonces"]["size"] == 3 and state["x402_nonces"]["per_client"] >= 1


@pytest.mark.parametrize("drop, extra, message", [
    ("SRH_ACCOUNTS_FILE", (), "SRH_ACCOUNTS_FILE not set"),
    ("SRH_API_KEYS_FILE", (), "SRH_API_KEYS_FILE not set"),
    ("", ("--api-keys-file", "keys"), "--from-env takes --api-keys-file from the environment"),
    ("", ("--port", "9"), "--from-env takes --port from the environment"),
])
def test_from_env_refuses_missing_or_doubled_wiring_with_exit_2(tmp_path: Path, drop: str, extra: tuple[str, ...],
                                                                 message: str) -> None:
    variables = _variables(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2")
    if drop:
        del variables[drop]
    environ = {k: v for k, v in os.environ.items() if k not in variables and k != drop}
    result = subprocess.run([sys.executable, "-m", "reference_impl.service", "--from-env", *extra], cwd=REPO,
                            capture_output=True, text=True, timeout=60,
                            env={**environ, "PYTHONPATH": str(REPO), **variables})
    assert result.returncode == 2 and message in result.stderr, result.stderr
