"""Verifying a service the harness did not build: `--target-cmd`, `harness up` + `--target` + `--worlds`,
the evidence contract ("not observable"), readiness failures, Ctrl-C, and a Node.js target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.outputs import EXIT_CHECK_FAILED, EXIT_HARNESS_ERROR, EXIT_INCONCLUSIVE, EXIT_PASS
from harness.run.worlds import read_env_file
from tests.e2e.runs import (
    REPO_ROOT,
    RunResult,
    gone,
    harness_run,
    interrupted_run,
    once_per_session,
    started_pids,
)

pytestmark = [pytest.mark.e2e]

REFERENCE_CMD = f"{sys.executable} -m reference_impl.service --from-env"
FEED_CHECKS = {"P30", "P31", "P33", "P35"}
NODE_EXAMPLE = REPO_ROOT / "examples" / "node-target"


def verdicts(result: RunResult) -> dict[str, str]:
    return {cid: c["verdict"] for cid, c in result.checks().items()}


def not_passing(result: RunResult) -> dict[str, str]:
    return {cid: c["reason"] for cid, c in result.checks().items() if c["verdict"] != "pass"}


@pytest.fixture(scope="module")
def smoke_cmd(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return once_per_session(tmp_path_factory, "smoke-cmd", lambda folder: harness_run(
        "smoke", folder / "run", "--target-cmd", REFERENCE_CMD, timeout_s=400.0))


@pytest.mark.timeout(840)
def test_target_cmd_gives_the_reference_service_the_same_verdict_as_in_process(smoke, smoke_cmd) -> None:
    summary = smoke_cmd.summary
    assert smoke_cmd.exit_code == smoke.exit_code == EXIT_PASS, (summary["reason"], not_passing(smoke_cmd))
    assert verdicts(smoke_cmd) == verdicts(smoke)
    assert summary["target"]["kind"] == "command" and summary["target"]["command"] == REFERENCE_CMD
    assert started_pids(smoke_cmd.out_dir).keys() >= {"ledger", "toxiproxy", "target", "locust"}
    assert "service" not in started_pids(smoke_cmd.out_dir)  # the harness never started the reference itself
    log = (smoke_cmd.out_dir / "logs" / "target.log").read_text()
    assert log.startswith("LISTENING http://127.0.0.1:") and "CRITICAL" in log  # its error records, scanned (P31)
    assert all(row["available"] == "yes" for row in summary["observability"].values()), summary["observability"]
    for check in summary["checks"]:
        assert check["evidence_used"] and check["not_observable"] == {}, check["id"]


@pytest.mark.timeout(300)
def test_a_deliberate_fault_passed_through_the_command_fails_the_same_check(tmp_path: Path) -> None:
    result = harness_run("e2e-short", tmp_path / "run", "--target-cmd",
                         f"{REFERENCE_CMD} --fault-in-service breaker-never-opens", timeout_s=280.0)
    failed = {cid for cid, v in verdicts(result).items() if v == "fail"}
    assert "P35" in failed and failed <= {"P35", "P36", "health"}, not_passing(result)  # as test_broken_service.py
    assert result.exit_code == EXIT_CHECK_FAILED


@pytest.mark.timeout(300)
def test_admin_feed_off_makes_the_feed_checks_not_observable(tmp_path: Path) -> None:
    result = harness_run("e2e-short", tmp_path / "run", "--target-cmd", f"{REFERENCE_CMD} --no-admin-feed",
                         timeout_s=280.0)
    checks = result.checks()
    assert {cid for cid, c in checks.items() if c["verdict"] != "pass"} == FEED_CHECKS, not_passing(result)
    for cid in FEED_CHECKS:
        assert checks[cid]["verdict"] == "inconclusive"
        assert checks[cid]["reason"].startswith("not observable: feed:") and "answered 404" in checks[cid]["reason"]
        assert "runbook: docs/runbooks.md#" + cid.lower() in (result.out_dir / "junit.xml").read_text()
    assert result.exit_code == EXIT_INCONCLUSIVE and result.summary["verdict"] == "inconclusive"
    assert result.summary["observability"]["feed:alert"]["available"] == "no"


def _processes_mentioning(text: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


@pytest.mark.timeout(420)
def test_harness_up_then_target_and_worlds(tmp_path: Path) -> None:
    env_file = tmp_path / "worlds.env"
    up = subprocess.Popen([sys.executable, "-m", "harness", "up", "--env-file", str(env_file), "--profile", "e2e-short"],
                          cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    service = None
    try:
        for _ in range(600):
            if env_file.is_file() or up.poll() is not None:
                break
            time.sleep(0.1)
        assert env_file.is_file(), up.communicate(timeout=10)[0] if up.poll() is not None else "no worlds file"
        worlds = read_env_file(env_file)
        service = subprocess.Popen(REFERENCE_CMD.split(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **worlds})
        result = harness_run("e2e-short", tmp_path / "run", "--target", worlds["TARGET_URL"], "--worlds",
                             str(env_file), timeout_s=300.0)
        assert result.exit_code == EXIT_PASS, (result.summary["reason"], not_passing(result), result.output[-1500:])
        assert result.summary["worlds"]["started_by"] == "harness up"
        assert set(started_pids(result.out_dir)) == {"locust"}  # the run started neither worlds nor target
        assert service.poll() is None  # and left the user's service running
        assert _processes_mentioning(worlds["SRH_GENESIS_FILE"]), "the worlds' ledger is not running"
    finally:
        for proc in (service, up):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        code = up.wait(timeout=30)
        if service is not None:
            service.wait(timeout=30)
    assert code == 0 and not env_file.exists()
    time.sleep(1.0)
    assert _processes_mentioning(worlds["SRH_GENESIS_FILE"]) == []
    assert not Path(worlds["SRH_ACCOUNTS_FILE"]).exists()


@pytest.mark.timeout(180)
def test_a_target_that_never_becomes_healthy_exits_4_and_leaves_nothing(tmp_path: Path) -> None:
    command = f"{sys.executable} -c \"print('booting, never listening', flush=True); import time; time.sleep(600)\""
    started = time.monotonic()
    result = harness_run("e2e-short", tmp_path / "run", "--target-cmd", command, "--target-ready-timeout", "5",
                         timeout_s=150.0)
    assert result.exit_code == EXIT_HARNESS_ERROR and time.monotonic() - started < 120
    reason = result.summary["reason"]
    assert "not healthy within 5 s" in reason and "booting, never listening" in reason
    pids = started_pids(result.out_dir)
    assert {"ledger", "toxiproxy", "target"} <= set(pids) and "locust" not in pids
    assert all(gone(pid) for pid in pids.values())
    assert "runbook: docs/runbooks.md#harness-error" in (result.out_dir / "junit.xml").read_text()


@pytest.mark.timeout(240)
def test_ctrl_c_during_a_target_cmd_run_stops_the_target_and_writes_a_partial_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = interrupted_run("e2e-short", out, "--target-cmd", REFERENCE_CMD)
    assert code == EXIT_HARNESS_ERROR, output[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "error" and "interrupted" in summary["reason"]
    for name in ("junit.xml", "requests.parquet", "report.html", "logs/target.log"):
        assert (out / name).is_file(), name
    pids = started_pids(out)
    assert "target" in pids and all(gone(pid) for pid in pids.values())
    # the load is stopped before the target's feed is drained, so the partial evidence is consistent
    assert not [c["id"] for c in summary["checks"] if c["verdict"] == "fail"]


@pytest.mark.timeout(300)
def test_node_example_target(tmp_path: Path) -> None:
    """A service written in Node.js: what it cannot expose is "not observable", everything else is judged."""
    assert (NODE_EXAMPLE / "node_modules" / "@stellar" / "stellar-sdk").is_dir(), \
        "run `npm ci` in examples/node-target (make test does)"
    result = harness_run(str(NODE_EXAMPLE / "profile.json"), tmp_path / "run", "--target-cmd",
                         f"node {NODE_EXAMPLE / 'server.mjs'}", timeout_s=280.0)
    checks = result.checks()
    assert {cid for cid, c in checks.items() if c["verdict"] != "pass"} == FEED_CHECKS, not_passing(result)
    assert all(checks[cid]["reason"].startswith("not observable: feed:") for cid in FEED_CHECKS)
    judged = {"target.settlement.finality", "target.agent.decision", "P32", "P34", "P36", "nothing-lost"}
    assert judged <= set(checks) and all(checks[cid]["verdict"] == "pass" for cid in judged)
    assert checks["P34"]["figures"]["responses_429"] > 0 and checks["nothing-lost"]["figures"]["acknowledged"] > 0
    # it limits by the issued keys of SRH_API_KEYS_FILE: the key rotator's fresh keys are one anonymous client
    assert checks["P34"]["figures"]["key_rotator_429"] > 0 and checks["P34"]["figures"]["anonymous_429"] > 0
    assert result.exit_code == EXIT_INCONCLUSIVE


@pytest.mark.timeout(300)
def test_a_horizon_behind_the_proxies_is_read_through_its_public_api(tmp_path: Path) -> None:
    """`--horizon URL`: a network the harness did not start (here the offline network as a stand-alone
    Horizon, no accounts seeded): accounts come from friendbot, reconciliation from Horizon's public API,
    P35's "no primary request while open" from the fault proxy's arrival log (no ledger access log is read)."""
    horizon = subprocess.Popen([sys.executable, "-m", "harness", "ledger", "--port", "0", "--close-interval", "1"],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        line = horizon.stdout.readline() if horizon.stdout else ""
        assert line.startswith("LISTENING "), line
        result = harness_run("e2e-short", tmp_path / "run", "--horizon", line.split()[1], timeout_s=280.0)
    finally:
        horizon.send_signal(signal.SIGTERM)
        horizon.wait(timeout=30)
    assert result.exit_code == EXIT_PASS, (result.summary["reason"], not_passing(result))
    observed = result.summary["observability"]
    assert observed["ledger-history"]["source"].startswith("Horizon public API")
    assert observed["proxy-arrivals"]["source"].startswith("fault proxy arrival log")
    assert "ledger" not in started_pids(result.out_dir) and result.summary["worlds"]["kind"] == "horizon"
    assert result.checks()["nothing-lost"]["figures"]["acknowledged"] > 0
