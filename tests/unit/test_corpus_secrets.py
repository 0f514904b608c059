"""The corpus a run keeps (corpus.json) holds no secret, and the secret scan still sees one put into it.

Its deliberately wrong credentials (a junk X-API-Key, `Bearer wrong-token`) look like tokens to the scan's
generic rule; they count as `corpus-decoy` (harness/judges/secret_scan.py), never as a finding. A seed, an
issued API key or a known secret in the corpus, a token anywhere else in it, and the same decoys in any other
file are findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.judges import judge_secret_scan
from harness.judges.context import VERDICT_FAIL, VERDICT_PASS, JudgeContext
from harness.judges.failure_logging import judge_failure_logging
from harness.outputs import CORPUS_FILE
from harness.run.load import CORPUS_SIZE
from scenarios.client_keys import api_key
from scenarios.corpus import _PARTIES, write_corpus

ADMIN_TOKEN = "admin-token-of-this-run-0042"


@pytest.fixture(scope="module")
def corpus_cases(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    path = tmp_path_factory.mktemp("corpus") / CORPUS_FILE
    write_corpus(path, 4242, CORPUS_SIZE)  # the size a run uses
    return json.loads(path.read_text())


def scan(folder: Path, cases: list[dict]):
    folder.mkdir(exist_ok=True)
    (folder / CORPUS_FILE).write_text(json.dumps(cases))
    known = [ADMIN_TOKEN, *(k.secret for k in _PARTIES)]  # the fuzz parties' seeds sign its channel states
    return judge_secret_scan(JudgeContext.build([], run_dir=folder, known_secrets=known))


def with_header(cases: list[dict], name: str, value: str) -> list[dict]:
    i = next(i for i, c in enumerate(cases) if name in c["headers"])
    return [*cases[:i], {**cases[i], "headers": {name: value}}, *cases[i + 1:]]


def test_the_corpus_holds_no_secret_only_decoys(corpus_cases, tmp_path):
    check = scan(tmp_path, corpus_cases)
    assert check.verdict == VERDICT_PASS, check.reason
    assert check.figures["findings"] == 0 and check.figures["corpus_decoys"] > 10


@pytest.mark.parametrize(("header", "value", "kind"), [
    ("X-API-Key", _PARTIES[0].secret, "stellar-seed"),
    ("X-API-Key", api_key(b"run-key-secret", "agent-7"), "api-key"),
    ("Authorization", f"Bearer {ADMIN_TOKEN}", "known-secret"),
], ids=["seed", "issued-key", "known-secret"])
def test_a_real_secret_in_a_credential_header_is_still_found(corpus_cases, tmp_path, header, value, kind):
    check = scan(tmp_path, with_header(corpus_cases, header, value))
    assert check.verdict == VERDICT_FAIL and check.figures["findings"] >= 1
    assert {e["kind"] for e in check.evidence} == {kind}


def test_a_token_outside_the_credential_headers_is_found(corpus_cases, tmp_path):
    leaked = {**corpus_cases[0], "headers": {"X-Debug": "password=hunter2-not-a-decoy"}}
    check = scan(tmp_path, [leaked, *corpus_cases[1:]])
    assert check.verdict == VERDICT_FAIL and {e["kind"] for e in check.evidence} == {"token-or-encoded-secret"}


def test_decoys_are_decoys_only_in_the_corpus_file(corpus_cases, tmp_path):
    scan(tmp_path, corpus_cases)
    (tmp_path / "logs").mkdir()
    shutil.copy(tmp_path / CORPUS_FILE, tmp_path / "logs" / "corpus-copy.json")
    check = judge_secret_scan(JudgeContext.build([], run_dir=tmp_path))
    assert check.verdict == VERDICT_FAIL and {e["path"] for e in check.evidence} == {"logs/corpus-copy.json"}


def test_p31_reports_the_decoys_the_scan_passed(corpus_cases, tmp_path):
    (tmp_path / CORPUS_FILE).write_text(json.dumps(corpus_cases))
    check = judge_failure_logging(JudgeContext.build([], run_dir=tmp_path))
    assert check.figures["secret_findings"] == 0 and check.figures["corpus_decoys"] > 10
