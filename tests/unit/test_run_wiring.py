"""The pieces of the target contract that need no stack: the worlds file, expectations (limits, thresholds),
announced headers, the admin feed's schema, runbook links."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessConfigurationError
from harness.judges import judge
from harness.judges.context import Check
from harness.run.accounts import derive_accounts, write_private_files
from harness.run.collect import CollectionError
from harness.run.expectations import (
    PRESET_LIMITS,
    announced_rate_limits,
    configured_rate_limits,
    resolve_rate_limits,
    thresholds_ms,
)
from harness.run.junit import render_junit
from harness.run.poller import feed_page
from harness.run.runbooks import documented_anchors, runbook_anchor, runbook_ref
from harness.run.worlds import TARGET_KEYS, Worlds, WorldsError, hostport, read_env_file, write_env_file
from scenarios.headers import announced_limit, server_timing_ms
from tests.fixtures.synthetic import make_evidence

WORLDS = Worlds("offline", "http://127.0.0.1:4001", "http://127.0.0.1:4002",
                "Stellar Resilience Harness Offline Network ; 2026", "http://127.0.0.1:4474",
                "http://127.0.0.1:4003", "http://127.0.0.1:4003")


def test_worlds_file_round_trips_with_quoting_and_mode_0600(tmp_path: Path) -> None:
    files = write_private_files(derive_accounts(3))
    try:
        env = WORLDS.file_env(4100, files)
        path = tmp_path / "worlds.env"
        write_env_file(path, env)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "STELLAR_NETWORK_PASSPHRASE='Stellar Resilience Harness Offline Network ; 2026'" in path.read_text()
        back = read_env_file(path)
        assert back == env and set(TARGET_KEYS) <= set(back)
        assert Worlds.from_env(back) == WORLDS
        assert back["TARGET_URL"] == "http://127.0.0.1:4100" and back["SRH_ACCOUNTS_FILE"] == str(files.service_accounts)
        assert files.admin_token not in path.read_text()  # the file names the token file, never the token
    finally:
        files.cleanup()


def test_borrowed_worlds_must_close_ledgers_at_the_cadence_and_pay_in_the_assets_the_run_judges() -> None:
    """`harness up` writes its close interval (SRH_LEDGER_CLOSE_S) and the assets its target must pay in; a run
    judging another cadence, or paying in another asset, is refused: settlement finality measured at 1 s closes
    says nothing of a 5 s network, and a target paying USDC fails every settlement of a run paying XLM."""
    from harness.cadence import derive_profile, environment_cadence
    from harness.profiles import load_profile
    from harness.run.assets import RunAssets
    from harness.run.lifecycle import _check_borrowed
    from harness.run.worlds import CLOSE_KEY

    testnet = derive_profile(load_profile("smoke"), environment_cadence("testnet"))
    xlm = RunAssets("native", "native")
    _check_borrowed(WORLDS, {CLOSE_KEY: "5", **xlm.service_environ()}, testnet, xlm)
    _check_borrowed(WORLDS, {}, testnet, xlm)  # a hand-written file without them: nothing to compare
    with pytest.raises(HarnessConfigurationError, match="every 1 s, this run judges 5 s closes"):
        _check_borrowed(WORLDS, {CLOSE_KEY: "1"}, testnet, xlm)
    with pytest.raises(HarnessConfigurationError, match="pay in"):
        _check_borrowed(WORLDS, RunAssets("USDC:GXYZ", "native").service_environ(), testnet, xlm)


@pytest.mark.parametrize("text, error", [
    ("PORT=1 2\n", "quote values"),
    ("not a line\n", "expected KEY=VALUE"),
    ("PORT='4100'\n", "lacks"),
])
def test_bad_worlds_files_are_refused_with_the_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "w.env"
    path.write_text(text)
    with pytest.raises(WorldsError, match=error):
        Worlds.from_env(read_env_file(path))
    with pytest.raises(WorldsError, match="cannot be read"):
        read_env_file(tmp_path / "missing.env")


def test_hostport_defaults_the_scheme_port() -> None:
    assert hostport("http://127.0.0.1:8000/x") == "127.0.0.1:8000"
    assert hostport("https://horizon-testnet.stellar.org") == "horizon-testnet.stellar.org:443"


def test_limits_come_from_the_config_vocabulary_and_agree_with_the_seed_presets() -> None:
    from reference_impl.rate_limiter import PRESETS  # only to catch drift between the spec and the reference

    assert {k: (p.max_requests, p.window) for k, p in PRESETS.items()} == PRESET_LIMITS
    limits = configured_rate_limits("development")
    assert limits["settlement"] == {"limit": 50, "window_s": 60.0, "algorithm": "token-bucket"}
    assert limits["decision"]["limit"] == 100 and limits["channel"]["limit"] == 1000
    assert thresholds_ms("development", {"channel.latency": 80.0})["channel.latency"] == 80.0


def test_announced_limits_need_a_window_and_precedence_is_profile_config_announced() -> None:
    records = pd.DataFrame({"endpoint": ["orders"] * 3 + ["settlement", "quotes"],
                            "ratelimit_limit": [20, 20, 21, 999, 5], "ratelimit_window_s": [10.0, 10.0, 10.0, 60.0, -1.0]})
    announced = announced_rate_limits(records)
    assert announced == {"orders": {"limit": 20, "window_s": 10.0, "algorithm": "token-bucket"},
                         "settlement": {"limit": 999, "window_s": 60.0, "algorithm": "token-bucket"}}
    limits, origin = resolve_rate_limits({"decision": {"limit": 7, "window_s": 5.0, "algorithm": "sliding-window"}},
                                         "development", records)
    assert limits["decision"]["limit"] == 7 and limits["settlement"]["limit"] == 50 and limits["orders"]["limit"] == 20
    assert "quotes" not in limits
    assert origin.startswith("profile: decision; config/development.json") and origin.endswith("RateLimit-Policy): orders")


def test_headers_the_target_announces() -> None:
    assert server_timing_ms({"server-timing": "db;dur=3, settlement-finality;dur=812.5"}, "settlement.finality") == 812.5
    assert server_timing_ms({"Server-Timing": "settlement-finality;dur=-1"}, "settlement.finality") == -1.0
    assert announced_limit({"X-RateLimit-Limit": "50", "RateLimit-Policy": "50;w=60"}) == (50, 60.0)
    assert announced_limit({"RateLimit-Policy": '"burst";q=100;w=1, "daily";q=1000;w=86400'}) == (100, 1.0)
    assert announced_limit({"X-RateLimit-Limit": "fifty"}) == (-1, -1.0)


def test_a_target_announcing_another_limit_than_it_is_held_to_fails_p34() -> None:
    ev = make_evidence(seed=5)
    for r in ev.records:
        if r.endpoint == "decision":
            r.ratelimit_limit = 20  # the synthetic run holds decision to 10 per 10 s
    p34 = next(c for c in judge(ev.context()) if c.id == "P34")
    assert p34.verdict == "fail" and "announce" in p34.reason and p34.figures["misannounced_endpoints"] == 1
    for r in ev.records:
        if r.endpoint == "decision":
            r.ratelimit_limit = 10
    assert next(c for c in judge(ev.context()) if c.id == "P34").verdict == "pass"


@pytest.mark.parametrize("body, problem", [
    ({"events": [], "next": 0}, "version"),
    ({"version": 2, "kinds": [], "events": [], "next": 0}, "version"),
    ({"version": 1, "events": [], "next": 0}, "kinds"),
    ({"version": 1, "kinds": ["alert"], "events": {}, "next": 0}, "events"),
    ([], "not a JSON object"),
])
def test_admin_feed_pages_must_follow_schema_version_1(body: object, problem: str) -> None:
    with pytest.raises(CollectionError, match=problem):
        feed_page(body)
    events, nxt, kinds = feed_page({"version": 1, "kinds": ["alert"], "next": 4,
                                    "events": [{"seq": 3, "t": 1.0, "kind": "alert", "data": {}}]})
    assert (len(events), nxt, kinds) == (1, 4, ("alert",))


def test_every_check_id_has_a_runbook_section() -> None:
    anchors = documented_anchors()
    ids = {c.id for c in judge(make_evidence(seed=5).context())}
    ids |= {"capacity", "secret-scan", "recovery.12", "harness-error", "not-observable"}
    ids |= {f"target.{m}" for m in ("settlement.finality", "channel.latency", "x402.handshake", "agent.decision",
                                    "contract.execution")}
    assert {runbook_anchor(i) for i in ids} <= anchors, sorted({runbook_anchor(i) for i in ids} - anchors)
    assert runbook_ref("recovery.3") == "docs/runbooks.md#recovery"


def test_junit_names_the_runbook_of_failing_and_inconclusive_cases() -> None:
    checks = [Check("P35", "property", "breaker", "fail", "leaked"), Check("P30", "property", "alerts", "pass", "ok"),
              Check("P31", "property", "logging", "inconclusive", "not observable: feed:error.record (404)")]
    suite = ET.fromstring(render_junit("smoke", checks, 1.0).split("\n", 1)[1])
    cases = {c.get("name").split()[0]: c for c in suite.findall("testcase")}
    assert "runbook: docs/runbooks.md#p35" in cases["P35"].find("failure").get("message")
    assert cases["P31"].find("properties/property").get("value") == "docs/runbooks.md#p31"
    assert cases["P30"].find("properties") is None


def test_borrowed_account_files_are_read_and_never_removed(tmp_path: Path) -> None:
    from harness.run.accounts import borrowed_private_files

    accounts = derive_accounts(4)
    files = write_private_files(accounts)
    try:
        env = WORLDS.file_env(4100, files)
        borrowed = borrowed_private_files(env)
        assert not borrowed.owned and borrowed.admin_token == files.admin_token
        secrets = set(borrowed.secrets())
        assert files.admin_token in secrets and accounts.escrow.secret in secrets
        # the API-key secret the load derives its keys from, and the key hashes the target was handed
        assert borrowed.api_key_secret == files.api_key_secret and files.api_key_secret in secrets
        assert borrowed.api_keys_file == files.api_keys_file == Path(env["SRH_API_KEYS_FILE"])
        assert {k.secret for k in (*accounts.settlement_pool, *accounts.payers, *accounts.strangers)} <= secrets
        assert accounts.pay_to.public_key not in secrets  # public keys are not secrets
        summary = borrowed.public_summary()
        assert summary["escrow"] == accounts.escrow.public_key and summary["payers"] == len(accounts.payers)
        borrowed.cleanup()
        assert files.service_accounts.is_file()
    finally:
        files.cleanup()
    with pytest.raises(HarnessConfigurationError, match="is `harness up` still running"):
        borrowed_private_files(env)
    with pytest.raises(HarnessConfigurationError, match="lacks SRH_API_KEYS_FILE"):
        borrowed_private_files({k: v for k, v in env.items() if k != "SRH_API_KEYS_FILE"})


@pytest.mark.parametrize("wired, arrivals, arrivals_missing, fault_path, ledger", [
    (True, [5.0], False, "yes", "yes"),  # handed the proxies, and traffic crossed them
    (True, [], False, "no", "yes"),  # handed the proxies, but nothing crossed them during the run
    (True, [], True, "yes", "yes"),  # no arrival log to refute the wiring
    (False, [5.0], False, "yes", "yes"),  # a --target URL shown to use the proxies
    (False, [], True, "no", "no"),  # a --target URL nothing shows to use the worlds
    (False, [500.0], False, "no", "no"),  # arrivals outside the run's window do not count
    (True, [-5.0], False, "no", "yes"),  # only the x402 v2 facilitator's Soroban RPC crossed them
])
def test_the_fault_path_is_taken_from_the_wiring_and_refuted_or_shown_by_arrivals(
        wired: bool, arrivals: list[float], arrivals_missing: bool, fault_path: str, ledger: str) -> None:
    from harness.judges.observability import FAULT_PATH, LEDGER_HISTORY, PROXY_ARRIVALS
    from harness.run.world_evidence import WorldEvidence, settle_fault_path

    ev = WorldEvidence(arrivals=[{"t": abs(t), "listener": 0, "path": "/soroban/rpc" if t < 0 else "/accounts/G"}
                                 for t in arrivals],
                       unavailable={PROXY_ARRIVALS: "a real Toxiproxy"} if arrivals_missing else {})
    settle_fault_path(ev, wired, (0.0, 100.0))
    assert ("no" if FAULT_PATH in ev.unavailable else "yes") == fault_path
    assert (FAULT_PATH in ev.sources) == (fault_path == "yes")
    assert ("no" if LEDGER_HISTORY in ev.unavailable else "yes") == ledger


def test_a_run_that_did_not_finish_fails_no_check_on_its_partial_evidence() -> None:
    from harness.run.evidence import unfinished

    lost = Check("nothing-lost", "invariant", "nothing lost", "fail", "1 served x402 payment(s) not on the ledger",
                 {"lost": 1})
    cut = unfinished(lost)
    assert cut.verdict == "inconclusive" and cut.figures["partial_verdict"] == "fail" and cut.figures["lost"] == 1
    assert cut.reason.startswith("the run did not finish") and lost.reason in cut.reason
    held = Check("P32", "property", "validation", "pass", "all rejected")
    assert unfinished(held) is held
