"""What a joining worker gets from the master (scenarios/wire.py) and `harness worker`'s refusals
(harness/run/worker_cli.py): the run's files land only in the worker's private folder, 0600."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from harness.outputs import EXIT_HARNESS_ERROR
from harness.run import worker_cli
from harness.run.load import write_token
from scenarios.wire import TOKEN_ENV, build_bundle, read_token, write_bundle


def _master_config(tmp_path: Path) -> dict:
    master = tmp_path / "master"
    master.mkdir()
    (master / "accounts.json").write_text(json.dumps({"api_key_secret": "ab" * 32, "payers": ["S..."]}))
    (master / "corpus.json").write_text(json.dumps([{"case": 1}]))
    return {"run_id": "r1", "seed": 3, "accounts_file": str(master / "accounts.json"),
            "corpus_file": str(master / "corpus.json"), "out_dir": str(master / "load"),
            "ready_file": str(master / "locust-ready"), "start_file": str(master / "run-start"),
            "service_url": "http://127.0.0.1:1"}


def test_the_bundle_lands_in_the_private_folder_only_with_owner_only_modes(tmp_path: Path) -> None:
    config = _master_config(tmp_path)
    bundle = json.loads(json.dumps(build_bundle(config)))  # as it crosses the wire
    assert str(tmp_path / "master") not in json.dumps(bundle["config"])  # the master's paths stay home
    private = tmp_path / "elsewhere" / "run"
    path = write_bundle(bundle, private)
    written = json.loads(path.read_text())
    for key in ("accounts_file", "corpus_file", "out_dir", "ready_file", "start_file"):
        assert Path(written[key]).parent == private, key  # nothing names the master's folder
    assert json.loads(Path(written["accounts_file"]).read_text())["api_key_secret"] == "ab" * 32
    assert json.loads(Path(written["corpus_file"]).read_text()) == [{"case": 1}]
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in private.iterdir()} == {0o600}
    assert {k: v for k, v in written.items() if not k.endswith(("_file", "_dir"))} == {
        "run_id": "r1", "seed": 3, "service_url": "http://127.0.0.1:1"}


def test_a_run_without_a_corpus_sends_none(tmp_path: Path) -> None:
    config = {**_master_config(tmp_path), "corpus_file": None}
    written = json.loads(write_bundle(build_bundle(config), tmp_path / "w").read_text())
    assert written["corpus_file"] is None and not (tmp_path / "w" / "corpus.json").exists()


def test_the_token_comes_from_its_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = write_token(tmp_path / "join-token", "t" * 43)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    assert read_token(token_file) == "t" * 43
    assert read_token() == "from-the-environment"
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token() is None


@pytest.mark.parametrize("port, token_file, message", [
    (70000, None, "is not a port"),
    (5557, None, "no join token"),
    (5557, "missing", "cannot read the join token"),
])
def test_harness_worker_refuses_without_a_port_or_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], port: int,
                                                          token_file: str | None, message: str) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    args = argparse.Namespace(master_host="127.0.0.1", master_port=port,
                              token_file=tmp_path / token_file if token_file else None)
    assert worker_cli.main(args) == EXIT_HARNESS_ERROR
    assert message in capsys.readouterr().err
