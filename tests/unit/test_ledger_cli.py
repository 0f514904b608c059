"""`harness ledger` as the process supervisor runs it: LISTENING lines, SIGTERM, exit 0, files written."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from stellar_sdk import Keypair

from harness.ledger.cli import add_arguments, build_config
from harness.ledger.errors import LedgerConfigError
from harness.ledger.history import read_jsonl

pytestmark = pytest.mark.timeout(60)


def test_cli_two_listeners_sigterm_writes_snapshot_and_history(tmp_path: Path) -> None:
    seed_file = tmp_path / "accounts.json"
    kp = Keypair.random()
    seed_file.write_text(json.dumps([{"account_id": kp.public_key, "balance": "50.0000000"}]))
    snapshot, history = tmp_path / "snap.json", tmp_path / "history.jsonl"
    cmd = [sys.executable, "-m", "harness.cli", "ledger", "--host", "127.0.0.1", "--port", "0", "--port", "0",
           "--close-interval", "0.1", "--seed-accounts", str(seed_file), "--seed", "4",
           "--snapshot-out", str(snapshot), "--history-out", str(history)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert all(line.startswith("LISTENING http://127.0.0.1:") for line in lines), lines
        urls = [line.split()[1] for line in lines]
        assert len(set(urls)) == 2
        account = httpx.get(f"{urls[1]}/accounts/{kp.public_key}", timeout=10).json()
        assert account["balances"][0]["balance"] == "50.0000000"
        new = Keypair.random().public_key
        assert httpx.get(f"{urls[0]}/friendbot", params={"addr": new}, timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    data = json.loads(snapshot.read_text())
    assert {a["account_id"] for a in data["accounts"]} >= {kp.public_key, new}
    kinds = [json.loads(line)["kind"] for line in history.read_text().splitlines()]
    assert "applied" in kinds and "submission" in kinds


def test_cli_rejects_bad_seed_file_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"account_id": "nope", "balance": "1"}]')
    result = subprocess.run([sys.executable, "-m", "harness.ledger", "--port", "0", "--seed-accounts", str(bad)],
                            capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2 and "account_id" in result.stderr and result.stdout == ""


def test_build_config_from_arguments(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = build_config(parser.parse_args(["--ports", "2", "--profile", "testnet", "--seed", "3",
                                             "--generate-accounts", "2"]))
    assert config.ports == (0, 0) and config.close_interval == 5.0 and config.generate_accounts == 2
    assert build_config(parser.parse_args(["--port", "0", "--close-interval", "0.5"])).close_interval == 0.5
    assert build_config(parser.parse_args([])).ports == (0,)
    with pytest.raises(LedgerConfigError, match="real Stellar network"):
        build_config(parser.parse_args(["--passphrase", "Public Global Stellar Network ; September 2015"]))
    isolated = build_config(parser.parse_args(["--passphrase", "Standalone Network ; February 2017"]))
    assert isolated.passphrase == "Standalone Network ; February 2017"
    path = tmp_path / "h.jsonl"
    path.write_text('{"index": 0, "kind": "close"}\n\n')
    assert read_jsonl(path) == [{"index": 0, "kind": "close"}]
