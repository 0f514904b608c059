"""The run folder holds only this run's files, and the secret scan covers all of them (issue 15.3).

`finish` writes summary.json, junit.xml and the report before it scans, so a secret that reaches
only those files (here: a judge that leaks one into its evidence) still fails P31 and the exit
code; with the scan skipped (the old order, scanning before the verdict files exist) the same leak
goes unnoticed, which shows the test can fail.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from stellar_sdk import Keypair

from harness.errors import HarnessError
from harness.judges import PROPERTY_JUDGES
from harness.judges.context import Check
from harness.outputs import EXIT_CHECK_FAILED
from harness.profiles import load_profile
from harness.run import evidence
from harness.run.lifecycle import RunOptions, RunState
from scenarios.recording import RecordWriter, write_counters

SECRET = Keypair.from_raw_ed25519_seed(bytes(range(32))).secret


def test_a_new_folder_is_created_and_an_empty_one_accepted(tmp_path: Path) -> None:
    evidence.prepare_out_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    evidence.prepare_out_dir(tmp_path / "a" / "b")


def test_a_previous_run_folder_is_emptied(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"run_id": "smoke-20260101T000000Z"}))
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "old.png").write_bytes(b"png")
    (tmp_path / "requests.csv").write_text("old")
    evidence.prepare_out_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("manifest", [None, "not json", json.dumps({"something": "else"})])
def test_a_folder_with_other_files_is_refused_untouched(tmp_path: Path, manifest: str | None) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(HarnessError, match="not a previous run folder"):
        evidence.prepare_out_dir(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(HarnessError, match="not a folder"):
        evidence.prepare_out_dir(tmp_path / "notes.txt")


def leaky_judge(ctx: object) -> Check:
    """A P32 judge with a bug: it copies a secret into its evidence (so into summary.json and junit.xml)."""
    return Check("P32", "property", "P32 leaky", "pass", "fine", {}, [{"input": SECRET}])


def finished_run(tmp_path: Path, target_log: str = "") -> tuple[int, dict]:
    profile = load_profile("e2e-short")
    out = tmp_path / "run"
    evidence.prepare_out_dir(out)
    if target_log:  # what a --target-cmd target printed (the supervisor writes it before finish runs)
        (out / "logs").mkdir()
        (out / "logs" / "target.log").write_text(target_log)
    state = RunState(RunOptions("e2e-short", out=out), profile, 1, "development", "e2e-short-test", out, "2026-01-01")
    state.run_start_epoch, state.load_started, state.secrets = time.time() - 80, True, (SECRET,)
    writer = RecordWriter(state.load_dir, pid=1)
    for i in range(40):
        writer.write({"intended_s": i, "sent_s": i, "endpoint": "decision", "method": "POST", "path": "/agent/decisions",
                      "status": 200, "latency_ms": 5.0, "latency_from_intended_ms": 5.0, "user_kind": "decider",
                      "client_key": "decider-0", "key_issued": 1})
    writer.close()
    write_counters(state.load_dir, {"decider": {"scheduled": 40, "sent": 40, "late": 0, "dropped": 0}}, 40, pid=1)
    code = evidence.finish(state)
    return code, json.loads((out / "summary.json").read_text())


def test_a_secret_only_in_the_verdict_files_still_fails_p31_and_the_exit_code(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROPERTY_JUDGES, "P32", leaky_judge)
    code, summary = finished_run(tmp_path)
    p31 = next(c for c in summary["checks"] if c["id"] == "P31")
    assert p31["verdict"] == "fail" and "summary.json" in p31["reason"]
    assert SECRET not in json.dumps(p31)  # findings name files and kinds, never the secret
    assert code == summary["exit_code"] == EXIT_CHECK_FAILED and summary["verdict"] == "fail"
    assert p31["figures"]["files_scanned"] >= 8  # requests.csv, events, ledger files, manifest, summary, junit, report
    report = (tmp_path / "run" / "report.html").read_text()
    assert 'id="verdict">fail' in report and SECRET not in report  # re-rendered with the final verdict


def test_without_the_final_scan_the_leak_goes_unnoticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROPERTY_JUDGES, "P32", leaky_judge)
    # the final P31 gets the complete folder (ctx.run_dir); judged without it, the scan does not run
    monkeypatch.setattr(evidence, "_final_p31", lambda ctx, state: PROPERTY_JUDGES["P31"](replace(ctx, run_dir=None)))
    code, summary = finished_run(tmp_path)
    p31 = next(c for c in summary["checks"] if c["id"] == "P31")
    assert p31["verdict"] != "fail" and code != EXIT_CHECK_FAILED


def test_the_target_log_is_scanned_and_the_rewrite_keeps_the_schema_2_fields(tmp_path: Path) -> None:
    code, summary = finished_run(tmp_path, target_log=f"LISTENING http://127.0.0.1:1\nconfig: seed={SECRET}\n")
    p31 = next(c for c in summary["checks"] if c["id"] == "P31")
    assert p31["verdict"] == "fail" and "logs/target.log" in p31["reason"] and code == EXIT_CHECK_FAILED
    assert SECRET not in (tmp_path / "run" / "summary.json").read_text()
    # the verdict files rewritten after the scan are still schema 2, P31 settled like every other check
    assert summary["schema_version"] == 2 and {"observability", "target", "worlds", "rate_limits"} <= set(summary)
    assert summary["observability"]["run-folder"]["available"] == "yes"
    assert summary["observability"]["state-sizes"]["available"] == "no"
    assert "run-folder" in p31["evidence_used"] and "run-folder" not in p31["not_observable"]
    state_bounds = next(c for c in summary["checks"] if c["id"] == "state-bounds")
    assert state_bounds["reason"].startswith("not observable: state-sizes")
    junit = (tmp_path / "run" / "junit.xml").read_text()
    assert "docs/runbooks.md#p31" in junit and "docs/runbooks.md#state-bounds" in junit


@pytest.mark.parametrize("target", [["--target", "http://127.0.0.1:9", "--worlds", "worlds.env"],
                                    ["--target-cmd", "node server.mjs"], ["--target", "http://127.0.0.1:9"]])
def test_target_and_worlds_runs_refuse_a_foreign_out_folder_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], target: list[str]) -> None:
    import argparse

    from harness.outputs import EXIT_HARNESS_ERROR
    from harness.run import cli

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    code = cli.main(parser.parse_args(["e2e-short", "--out", str(out), *target]))
    assert code == EXIT_HARNESS_ERROR and "not a previous run folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # untouched: no logs/, no summary
