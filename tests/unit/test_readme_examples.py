"""The README's component examples run as written (keeps the documentation true)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.http_api import LedgerServer

ROOT = Path(__file__).resolve().parents[2]


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(b for b in blocks if marker in b)


def _run(example: str, cwd: Path) -> None:
    before = os.getcwd()
    os.chdir(cwd)  # the examples load config/testnet.json (and write ./logs) relative to the working folder
    try:
        exec(compile(example, "README.md", "exec"), {})
    finally:
        os.chdir(before)


def test_components_example_in_readme_runs(capsys: pytest.CaptureFixture[str]) -> None:
    _run(_block("ManualClock()"), ROOT)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "140.0 140.0"  # one alert for the one breaching sample
    assert "7 decimal places" in out[1]


@pytest.mark.timeout(30)
def test_seed_api_example_in_readme_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    _run(_block("RetryHandler({\"maxRetries\": 5"), tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "42 3 cached balance"  # two refusals retried, then the fallback of a failing primary
    assert out[1] == "did:stellar:GABC… executeTransaction"  # the seed's order: the DID in the DID field
    assert out[2] == "2 False [('channel.latency', 140.0, 100.0)]"
    records = (tmp_path / "logs" / "errors.jsonl").read_text().splitlines()
    assert len(records) == 3 and '"severity": "LOW"' in records[2] and "validateInput" in records[2]


def _run_against_ledger(marker: str) -> LedgerServer:
    """Run the README block containing `marker` against a LedgerServer started with the README's options."""
    server = LedgerServer(LedgerConfig(close_interval=0.1, generate_accounts=3, seed=7))
    with server.run_in_thread() as urls:
        exec(compile(_block(marker).replace("http://127.0.0.1:8000", urls[0]), "README.md", "exec"), {})
    return server


@pytest.mark.timeout(60)
def test_ledger_example_in_readme_runs_against_the_offline_network(capsys) -> None:
    """The README's stellar-sdk example."""
    _run_against_ledger("generated_keypair(7")
    assert capsys.readouterr().out.splitlines() == ["True", "1.5000000"]


@pytest.mark.timeout(60)
def test_soroban_example_in_readme_runs_against_the_offline_network(capsys) -> None:
    """The README's SorobanServer example: a SAC transfer simulated, prepared, sent and polled."""
    server = _run_against_ledger("SorobanServer")
    assert [t.balance for t in server.ledger.trustlines(generated_keypair(7, 1).public_key)] == [100_002_500_000]
    assert capsys.readouterr().out.splitlines() == ["PENDING SUCCESS"]
