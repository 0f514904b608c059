"""`harness run smoke --env testnet` (and mainnet, marker `long`) at the environment's real cadence.

The verdict must be conclusive: no check inconclusive, and nothing failing but what a 5 s cadence
makes structural (docs/run.md, "Environments"): `target.contract.execution` (an escrow answers once
its claimable balance is in a ledger: the wait alone is uniform over a 5 s close, p95 4.75 s > 3 s)
and, at the edge, `target.settlement.finality` (p95 of the same wait plus processing against 5 s).
The ledger closes every 5 s, the service pays the offline USDC, and nothing signed in the run
verifies under a real network's passphrase.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cadence import derive_profile, environment_cadence
from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.genesis import offline_asset
from harness.profiles import load_profile
from harness.run.accounts import derive_accounts
from harness.run.lifecycle import account_sizes
from tests.e2e.runs import RunResult, harness_run, once_per_session
from tests.signatures import REAL_PASSPHRASES, verified_signatures

pytestmark = [pytest.mark.e2e]

STRUCTURAL_AT_5S = {"target.contract.execution", "target.settlement.finality"}


@pytest.fixture(scope="module")
def testnet_smoke(tmp_path_factory) -> RunResult:
    return once_per_session(tmp_path_factory, "testnet-smoke", lambda folder: harness_run(
        "smoke", folder / "run", "--env", "testnet", timeout_s=600.0))


def history(run: RunResult) -> list[dict]:
    with (run.out_dir / "ledger_history.jsonl").open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run_keys(run: RunResult, env: str) -> list[str]:
    profile = derive_profile(load_profile("smoke"), environment_cadence(env))
    accounts = derive_accounts(run.summary["seed"], account_sizes(profile))
    return [k.public_key for k in (*accounts.settlement_pool, accounts.escrow, accounts.pay_to, *accounts.payers,
                                   *accounts.destinations, *accounts.strangers)]


def assert_conclusive_at_5s(run: RunResult, env: str, breaker_s: float) -> None:
    summary = run.summary
    verdicts = {c["id"]: c["verdict"] for c in summary["checks"]}
    assert run.exit_code in (0, 1), f"exit {run.exit_code}: {summary['reason']}\n{run.output[-2000:]}"
    assert not [cid for cid, v in verdicts.items() if v == "inconclusive"], summary["reason"]
    failing = {cid for cid, v in verdicts.items() if v == "fail"}
    assert failing <= STRUCTURAL_AT_5S, {c["id"]: c["reason"] for c in summary["checks"] if c["id"] in failing}
    assert summary["cadence"]["env"] == env and summary["cadence"]["ledger_close_s"] == 5.0
    assert summary["cadence"]["breaker_timeout_s"] == breaker_s
    recoveries = [c for c in summary["checks"] if c["kind"] == "recovery"]
    assert len(recoveries) == 5 and all(c["figures"]["rto_s"] == breaker_s + 5.0 for c in recoveries)
    closes = np.array(sorted(r["t"] for r in history(run) if r["kind"] == "close"))
    assert 4.9 <= float(np.median(np.diff(closes))) <= 5.3  # the environment's cadence, not the profile's 1 s
    finality = next(c for c in summary["checks"] if c["id"] == "target.settlement.finality")["figures"]
    assert 1500.0 <= finality["p50_ms"] <= 4000.0  # about half a close plus processing


def assert_offline_usdc_and_nothing_valid_elsewhere(run: RunResult, env: str) -> None:
    usdc = offline_asset(LedgerConfig())
    assert run.summary["assets"] == {"payment": usdc, "x402": usdc}
    records = history(run)
    applied = [r for r in records if r["kind"] == "applied" and r["successful"]]
    paid = {op["asset"] for r in applied for op in r["operations"]
            if op["type"] in ("payment", "create_claimable_balance")}
    assert paid == {usdc}, paid  # settlements, x402 payments and escrows all in the offline USDC
    keys = run_keys(run, env)
    envelopes = {r["envelope_xdr"] for r in records if r.get("envelope_xdr")}
    assert len(envelopes) >= 100
    for xdr in envelopes:
        assert verified_signatures(xdr, OFFLINE_PASSPHRASE, keys) >= 1  # the check sees the run's signatures
        for passphrase in REAL_PASSPHRASES:
            assert verified_signatures(xdr, passphrase, keys) == 0, f"a signature of the run is valid on {passphrase}"


@pytest.mark.timeout(660)
def test_smoke_under_testnet_is_conclusive_at_its_cadence(testnet_smoke):
    assert_conclusive_at_5s(testnet_smoke, "testnet", 30.0)
    assert testnet_smoke.wall_s <= 330.0, f"took {testnet_smoke.wall_s:.0f}s"


@pytest.mark.timeout(660)
def test_smoke_under_testnet_pays_usdc_and_signs_nothing_valid_on_a_real_network(testnet_smoke):
    assert_offline_usdc_and_nothing_valid_elsewhere(testnet_smoke, "testnet")


@pytest.mark.long
@pytest.mark.timeout(900)
def test_smoke_under_mainnet_is_conclusive_at_its_cadence(tmp_path):
    run = harness_run("smoke", tmp_path / "run", "--env", "mainnet", timeout_s=840.0)
    assert_conclusive_at_5s(run, "mainnet", 60.0)
    assert_offline_usdc_and_nothing_valid_elsewhere(run, "mainnet")
