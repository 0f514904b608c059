"""A joining worker fetches the run from a real Locust master over Locust's messaging (scenarios/join.py,
the master's handler in scenarios/locustfile.py): with the run's join token it gets the config, accounts
and corpus as 0600 files in its own folder; with another token it reads nothing and says so."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.profiles import load_profile
from harness.run.accounts import derive_accounts, write_private_files
from harness.run.load import locust_argv, locust_env
from harness.run.worlds import free_port
from scenarios.wire import TOKEN_ENV

REPO = Path(__file__).resolve().parents[2]
TOKEN = "the-run-join-token-for-this-test"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A Locust master of a run (no workers yet: it waits for them), killed at the end; yields its port and
    the accounts file it serves."""
    files = write_private_files(derive_accounts(1))
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps([{"case": "malformed"}]))
    config = tmp_path / "run-config.json"
    config.write_text(json.dumps({
        "run_id": "join", "seed": 1, "ready_file": str(tmp_path / "ready"), "start_file": str(tmp_path / "start"),
        "service_url": "http://127.0.0.1:9", "ledger_url": "http://127.0.0.1:9",
        "profile": load_profile("e2e-short").to_dict(), "accounts_file": str(files.load_accounts),
        "out_dir": str(tmp_path / "load"), "corpus_file": str(corpus), "rate_limits": {}, "scenarios": []}))
    port = free_port()
    argv = locust_argv("--headless", "--host", "http://127.0.0.1:9", "--master", "--master-bind-host", "127.0.0.1",
                       "--master-bind-port", str(port), "--expect-workers", "1")
    proc = subprocess.Popen(argv, env=locust_env(config, "master", TOKEN), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield port, files.load_accounts
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        files.cleanup()


def join(port: int, into: Path, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scenarios.join", "--master-host", "127.0.0.1", "--master-port",
                           str(port), "--into", str(into), "--limit-s", "60"], cwd=into.parent, capture_output=True,
                          text=True, timeout=120, env={**os.environ, TOKEN_ENV: token, "PYTHONPATH": str(REPO)})


def test_a_worker_with_the_token_gets_the_run_in_its_own_folder(master: tuple[int, Path], tmp_path: Path) -> None:
    port, accounts = master
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = join(port, elsewhere / "run", TOKEN)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((elsewhere / "run" / "run-config.json").read_text())
    assert config["run_id"] == "join" and Path(config["accounts_file"]).parent == elsewhere / "run"
    assert json.loads(Path(config["accounts_file"]).read_text()) == json.loads(accounts.read_text())
    assert json.loads(Path(config["corpus_file"]).read_text()) == [{"case": "malformed"}]
    assert {stat.S_IMODE(p.stat().st_mode) for p in (elsewhere / "run").iterdir()} == {0o600}
    secret = json.loads(accounts.read_text())["api_key_secret"]
    assert secret not in result.stdout + result.stderr  # the run's secrets go to files, never to the output


def test_a_worker_with_another_token_reads_nothing(master: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = master
    result = join(port, tmp_path / "run", "not-the-run-join-token-at-all")
    assert result.returncode == 1
    assert "not sealed with this run's join token" in result.stderr
    assert not (tmp_path / "run").exists()
