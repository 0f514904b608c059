"""`harness run smoke-x402` end to end: x402 v1 and v2 side by side on smoke's schedule, the facilitator
as a supervised child, every check passing, both versions reconciled with the ledger."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from harness.outputs import read_events
from harness.profiles import load_profile
from harness.records_store import RecordStore
from harness.run.accounts import derive_accounts
from harness.run.lifecycle import account_sizes
from tests.e2e.runs import harness_run, once_per_session

pytestmark = [pytest.mark.e2e]

BUDGET_S = 200.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return once_per_session(tmp_path_factory, "smoke-x402",
                            lambda folder: harness_run("smoke-x402", folder / "run", timeout_s=420.0))


@pytest.mark.timeout(440)
def test_smoke_x402_passes_every_check(run):
    summary = run.summary
    failing = {c["id"]: (c["verdict"], c["reason"]) for c in summary["checks"] if c["verdict"] != "pass"}
    assert run.exit_code == 0, f"exit {run.exit_code}: {summary['reason']}; not passing: {failing}\n{run.output[-2000:]}"
    assert run.wall_s <= BUDGET_S, f"smoke-x402 took {run.wall_s:.0f}s"
    checks = run.checks()
    assert {"target.x402.handshake", "target.x402.handshake.v2", "P33", "nothing-lost"} <= set(checks)
    assert checks["target.x402.handshake.v2"]["figures"]["threshold_ms"] == 1500.0
    lost = checks["nothing-lost"]["figures"]
    assert lost["x402_served"] > 0 and lost["x402_lost"] == lost["x402_unserved"] == 0
    p33 = checks["P33"]["figures"]
    assert p33["crypto"] > 0 and p33["mismatched"] > 0 and p33["replayed"] > 0 and p33["accepted"] == 0


@pytest.mark.timeout(440)
def test_both_versions_paid_and_the_facilitator_was_supervised(run):
    store = RecordStore([run.out_dir / "requests.parquet"])
    ok = store.select(["endpoint", "tx_hash"], endpoint=("x402", "x402-v2"), status=(200,))
    served = Counter(ok["endpoint"])
    assert served["x402"] > 50 and served["x402-v2"] > 50
    assert all(len(h) == 64 for h in ok.loc[ok["endpoint"] == "x402-v2", "tx_hash"])
    events = read_events(run.out_dir / "events.jsonl")
    started = {e.data["name"]: e.data["pid"] for e in events if e.kind == "process.start"}
    assert "facilitator" in started
    with pytest.raises(ProcessLookupError):
        os.kill(started["facilitator"], 0)
    stopped = next(e for e in events if e.kind == "process.stop").data["exit_codes"]
    assert stopped["facilitator"] == 0  # a clean SIGTERM exit


@pytest.mark.timeout(440)
def test_no_facilitator_secret_reaches_the_run_folder(run):
    accounts = derive_accounts(run.summary["seed"], account_sizes(load_profile("smoke-x402")))
    secrets = [k.secret for k in accounts.facilitator]
    assert secrets
    for path in run.out_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="ignore")
            assert not any(s in text for s in secrets), f"a facilitator seed appears in {path.name}"
