"""The pieces of `harness run` that need no stack: supervision of real child processes, accounts,
verdicts, JUnit, fault tagging, record merging and progress lines."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from harness.errors import ProcessStartError
from harness.judges.context import Check
from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import load_seed_accounts
from harness.ledger.ledger import Ledger
from harness.outputs import Event, RequestRecord
from harness.run.accounts import AccountSizes, derive_accounts, write_private_files
from harness.run.collect import actual_faults, check_worker_records, merge_records, tag_faults
from harness.run.junit import render_junit
from harness.run.poller import event_kind
from harness.run.progress import RecordTail, format_line
from harness.run.supervisor import Supervisor
from harness.run.verdict import decide
from reference_impl.request_keys import IssuedKeys
from scenarios.client_keys import LABEL_PREFIXES, MAX_KEYS_PER_PREFIX, UnissuedLabelError, api_key
from scenarios.recording import RecordWriter, write_counters

SERVER = textwrap.dedent("""
    import signal, socket, sys, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    socks = []
    for _ in range(n):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); socks.append(s)
        print(f"LISTENING http://127.0.0.1:{s.getsockname()[1]}", flush=True)
    for _ in range(600):
        time.sleep(0.1)
""")


@pytest.mark.timeout(30)
def test_supervisor_waits_for_every_listener_and_stops_cleanly(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    sup = Supervisor(tmp_path / "logs", grace_s=3.0)
    try:
        child = sup.start("srv", [sys.executable, str(script), "3"], listeners=3, ready_timeout_s=20)
        assert len(child.urls) == 3 and all(u.startswith("http://127.0.0.1:") for u in child.urls)
        assert child.running()
    finally:
        codes = sup.stop_all()
    assert codes == {"srv": 0}
    assert not child.running()
    assert "LISTENING" in (tmp_path / "logs" / "srv.log").read_text()
    assert sup.stop_all() == {}  # idempotent


@pytest.mark.timeout(30)
def test_supervisor_reports_early_exit_and_timeout_and_kills_stubborn_children(tmp_path):
    sup = Supervisor(tmp_path / "logs", grace_s=0.5)
    try:
        with pytest.raises(ProcessStartError, match="exited with code 3"):
            sup.start("dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], ready_timeout_s=10)
        stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\n" \
                   "for _ in range(300): time.sleep(0.1)"
        with pytest.raises(ProcessStartError, match="did not print LISTENING"):
            sup.start("mute", [sys.executable, "-c", stubborn], ready_timeout_s=1.0)
    finally:
        codes = sup.stop_all()
    assert codes["mute"] == -9  # ignored SIGTERM, so it was killed after the grace period


def test_accounts_are_deterministic_and_private(tmp_path):
    sizes = AccountSizes(settlement_pool=2, payers=2, destinations=2, channel_parties=2, strangers=1)
    a, b, c = derive_accounts(5, sizes), derive_accounts(5, sizes), derive_accounts(6, sizes)
    assert [k.secret for k in a.funded()] == [k.secret for k in b.funded()]
    assert a.pay_to.public_key != c.pay_to.public_key
    files = write_private_files(a, base_dir=tmp_path)
    try:
        assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
        genesis = json.loads(files.genesis.read_text())
        assert {g["account_id"] for g in genesis} == {k.public_key for k in a.funded()}
        assert "S" not in "".join(g["account_id"][0] for g in genesis)  # public keys only
        ledger = Ledger(LedgerConfig(auto_close=False, genesis_accounts=load_seed_accounts(files.genesis)))
        usdc = [t for t in ledger.trustlines(a.escrow.public_key) if t.asset.startswith("USDC:")]
        assert len(usdc) == 1 and usdc[0].balance == 1_000_000 * 10**7 and ledger.check_invariants() == []
        payer_usdc = [t for t in ledger.trustlines(a.payers[0].public_key) if t.asset.startswith("USDC:")]
        assert payer_usdc[0].balance == 10_000 * 10**7
        service = json.loads(files.service_accounts.read_text())
        assert service["escrow"] == a.escrow.secret
        assert a.escrow.secret not in json.dumps(a.public_summary())
        for path in files.directory.iterdir():  # every file of the private folder is the owner's only
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        load = json.loads(files.load_accounts.read_text())
        assert load["api_key_secret"] == files.api_key_secret
        issued = IssuedKeys.from_file(files.api_keys_file)  # the service honours exactly the clients' keys
        key = api_key(bytes.fromhex(files.api_key_secret), "settler-3")
        assert issued({"headers": [(b"x-api-key", key.encode())], "client": ("127.0.0.1", 1)}).startswith("key:")
        assert len(issued) == len(LABEL_PREFIXES) * MAX_KEYS_PER_PREFIX
        assert key not in files.api_keys_file.read_text()
        with pytest.raises(UnissuedLabelError):
            api_key(bytes.fromhex(files.api_key_secret), "settler-99999")
    finally:
        files.cleanup()
    assert not files.directory.exists()
    with pytest.raises(ValueError):
        derive_accounts(-1)
    with pytest.raises(ValueError):
        AccountSizes(payers=0)


def _check(cid: str, verdict: str) -> Check:
    return Check(cid, "invariant" if cid == "nothing-lost" else "property", cid, verdict, f"{cid} {verdict}")


@pytest.mark.parametrize(
    ("verdicts", "error", "expected"),
    [
        ({"P30": "pass", "nothing-lost": "pass"}, "", (0, "pass")),
        ({"P30": "fail", "nothing-lost": "pass"}, "", (1, "fail")),
        ({"P30": "fail", "nothing-lost": "fail"}, "", (2, "money-lost")),
        ({"P30": "inconclusive", "nothing-lost": "pass"}, "", (3, "inconclusive")),
        ({"P30": "fail", "P31": "inconclusive"}, "", (1, "fail")),
        ({}, "", (3, "inconclusive")),
        ({"P30": "pass"}, "ledger did not start", (4, "error")),
    ],
)
def test_exit_code_precedence(verdicts, error, expected):
    result = decide([_check(k, v) for k, v in verdicts.items()], error)
    assert (result.exit_code, result.verdict) == expected


def test_junit_has_one_case_per_check():
    checks = [_check("P30", "pass"), _check("P31", "fail"), _check("P32", "inconclusive")]
    suite = ET.fromstring(render_junit("smoke", checks, 12.5).split("\n", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("3", "1", "1", "0")
    assert len(suite.findall("testcase")) == 3
    errored = ET.fromstring(render_junit("smoke", [], 0.0, "could not start").split("\n", 1)[1])
    assert errored.get("errors") == "1" and errored.find("testcase/error") is not None


def _rec(endpoint: str, sent: float, latency_ms: float, status: int = 200) -> RequestRecord:
    return RequestRecord(sent, sent, endpoint, "POST", "/x", status, latency_ms, latency_ms)


def test_fault_tags_follow_actual_fault_times_and_the_request_path():
    events = [
        Event(10.2, "toxiproxy", "fault.applied", {"name": "d", "proxy": "horizon-primary", "toxic": "down"}),
        Event(20.4, "toxiproxy", "fault.removed", {"name": "d", "proxy": "horizon-primary", "toxic": "down"}),
        Event(30.0, "toxiproxy", "fault.applied", {"name": "l", "proxy": "horizon-secondary", "toxic": "latency",
                                                    "attributes": {"latency": 700}}),
    ]
    faults = actual_faults(events, end_s=40.0)
    assert [(f.start_s, f.end_s) for f in faults] == [(10.2, 20.4), (30.0, 40.0)]
    assert tag_faults(_rec("settlement", 9.0, 1500), faults).fault_active == "horizon-primary/down"  # in flight
    assert tag_faults(_rec("settlement", 9.0, 500), faults).fault_active == ""
    assert tag_faults(_rec("channel", 12.0, 5), faults).fault_active == ""  # never touches Horizon
    assert tag_faults(_rec("x402", 35.0, 5), faults).fault_active == "horizon-secondary/latency(latency=700)"


def test_records_merge_sorted_and_progress_counts_errors(tmp_path):
    first, second = RecordWriter(tmp_path, pid=1), RecordWriter(tmp_path, pid=2)
    first.write({"intended_s": 2.0, "sent_s": 2.0, "endpoint": "settlement", "method": "POST", "path": "/s",
                 "status": 503, "latency_ms": 3.0, "latency_from_intended_ms": 3.0})
    second.write({"intended_s": 1.0, "sent_s": 1.1, "endpoint": "channel", "method": "POST", "path": "/c",
                  "status": 200, "latency_ms": 5.0, "latency_from_intended_ms": 105.0})
    tail = RecordTail(tmp_path)
    assert tail.poll() == (2, 1)
    first.write({"intended_s": 3.0, "sent_s": 3.0, "endpoint": "decision", "method": "POST", "path": "/d",
                 "status": 0, "latency_ms": 9.0, "latency_from_intended_ms": 9.0})
    assert tail.poll() == (1, 1) and (tail.total, tail.errors) == (3, 2)
    for writer, pid in ((first, 1), (second, 2)):
        writer.close()
        write_counters(tmp_path, {}, writer.count, pid=pid)
    assert check_worker_records(tmp_path).problems == []
    merged = merge_records(tmp_path, [])
    assert [r.sent_s for r in merged] == [1.1, 2.0, 3.0]
    assert merged[0].latency_from_intended_ms == 105.0
    line = format_line("steady", 42.4, 120, 31.84, 2, 3, ["horizon-primary/down"])
    assert line == "phase 'steady' 42/120s | 31.8 req/s | errors 2 (66.7%) | faults: horizon-primary/down"


def test_service_error_logger_alerts_are_kept_apart_from_metric_alerts():
    assert event_kind("alert", {"metric": "x402.handshake", "value_ms": 700.0}) == "alert"
    assert event_kind("alert", {"record_id": "err-1", "severity": "HIGH"}) == "alert.record"
    assert event_kind("breaker.transition", {}) == "breaker.transition"
