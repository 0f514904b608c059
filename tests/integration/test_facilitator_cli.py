"""`python -m reference_impl.facilitator` as `harness run` starts it: the server CLI convention
(one LISTENING line, exit 0 on SIGTERM, exit 2 on bad options with no secret in the message)."""

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

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.http_api import LedgerServer
from tests.integration.test_service_support import corrupted_secret

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]


def facilitator(*args: str) -> list[str]:
    return [sys.executable, "-m", "reference_impl.facilitator", "--network-passphrase", OFFLINE_PASSPHRASE, *args]


def test_it_listens_answers_supported_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    signers = [Keypair.random() for _ in range(2)]
    accounts = tmp_path / "facilitator.json"
    accounts.write_text(json.dumps({"signers": [k.secret for k in signers]}))
    with LedgerServer(LedgerConfig(ports=(0,), close_interval=0.5)).run_in_thread() as (url,):
        proc = subprocess.Popen(facilitator("--port", "0", "--rpc-url", f"{url}/soroban/rpc", "--accounts-file",
                                            str(accounts), "--ledger-seconds", "0.5"),
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("LISTENING http://127.0.0.1:"), line
            base = line.split()[1]
            supported = httpx.get(f"{base}/supported", timeout=10).json()
            assert supported["kinds"][0]["network"] == "stellar:offline"
            assert set(supported["signers"]["stellar:*"]) == {k.public_key for k in signers}
            assert httpx.get(f"{base}/health", timeout=10).json()["signers"] == 2
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            out, err = proc.communicate(timeout=5)
            assert not any(k.secret in out + err for k in signers)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.mark.parametrize("problem", ["bad-seed", "real-network-name", "remote-host"])
def test_bad_options_exit_2_without_a_secret(tmp_path: Path, problem: str) -> None:
    secret = Keypair.random().secret
    accounts = tmp_path / "facilitator.json"
    accounts.write_text(json.dumps({"signers": [corrupted_secret(secret) if problem == "bad-seed" else secret]}))
    extra = {"bad-seed": [], "real-network-name": ["--network", "stellar:testnet"],
             "remote-host": ["--host", "0.0.0.0"]}[problem]
    result = subprocess.run(facilitator("--rpc-url", "http://127.0.0.1:9/soroban/rpc", "--accounts-file",
                                        str(accounts), *extra),
                            cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and result.stderr.startswith("error:"), result.stderr
    assert secret[:-1] not in result.stderr + result.stdout
