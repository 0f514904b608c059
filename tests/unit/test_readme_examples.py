"""The README's component example runs as written (keeps the documentation true)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.ledger.config import LedgerConfig
from harness.ledger.http_api import LedgerServer

ROOT = Path(__file__).resolve().parents[2]


def test_components_example_in_readme_runs(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = next(b for b in blocks if "ManualClock()" in b)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the example loads config/testnet.json relative to the checkout
    try:
        exec(compile(example, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "140.0 140.0"  # one alert for the one breaching sample
    assert "7 decimal places" in out[1]


@pytest.mark.timeout(60)
def test_ledger_example_in_readme_runs_against_the_offline_network(capsys) -> None:
    """The README's stellar-sdk example, pointed at a LedgerServer started with the README's options."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = next(b for b in blocks if "generated_keypair(7" in b)
    server = LedgerServer(LedgerConfig(close_interval=0.1, generate_accounts=3, seed=7))
    with server.run_in_thread() as urls:
        exec(compile(example.replace("http://127.0.0.1:8000", urls[0]), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["True", "1.5000000"]
