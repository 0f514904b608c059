"""The HTTP layer: Horizon problems, admin endpoints, listeners, timeouts, concurrent duplicates."""

from __future__ import annotations

import base64
import concurrent.futures
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.http_api import LedgerServer

SEED = 21
pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def manual() -> Iterator[tuple[LedgerServer, list[str]]]:
    """Two listeners, no automatic closes (tests close via /admin/close), short submit timeout."""
    server = LedgerServer(LedgerConfig(auto_close=False, ports=(0, 0), generate_accounts=2, seed=SEED,
                                       submit_timeout=0.5))
    with server.run_in_thread() as urls:
        yield server, urls


def signed_payment(server: LedgerServer, amount: str = "1", seq_bump: int = 1) -> str:
    kp = generated_keypair(SEED, 0)
    seq = server.ledger.account(kp.public_key).seq_num + seq_bump - 1
    env = TransactionBuilder(Account(kp.public_key, seq), server.ledger.passphrase, 100) \
        .append_payment_op(generated_keypair(SEED, 1).public_key, Asset.native(), amount).set_timeout(600).build()
    env.sign(kp)
    return env.to_xdr()


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"https://stellar.org/horizon-errors/{slug}" and body["status"] == status
    assert body["title"] and body["detail"]
    assert "extras" not in body or isinstance(body["extras"], dict)
    return body


def test_bad_requests_get_horizon_problems_and_change_nothing(manual: tuple[LedgerServer, list[str]]) -> None:
    server, urls = manual
    before = server.ledger.snapshot()["accounts"]
    with httpx.Client(base_url=urls[0], timeout=10) as client:
        assert_problem(client.post("/transactions", content=b"tx=abc", headers={"Content-Type": "text/plain"}),
                       415, "unsupported_media_type")
        body = assert_problem(client.post("/transactions", data={"tx": "%%% not base64"}), 400,
                              "transaction_malformed")
        assert body["extras"]["envelope_xdr"] == "%%% not base64"
        assert_problem(client.post("/transactions_async", data={"tx": "AAAAAgAAAAA="}), 400, "transaction_malformed")
        assert_problem(client.post("/transactions", data={"memo": "x"}), 400, "bad_request")
        assert_problem(client.get(f"/accounts/{Keypair.random().public_key}"), 404, "not_found")
        assert_problem(client.get("/accounts/GNOTANACCOUNT"), 400, "bad_request")
        assert_problem(client.get("/transactions/" + "ab" * 32), 404, "not_found")
        assert_problem(client.get("/transactions/xyz"), 400, "bad_request")
        assert_problem(client.get("/no/such/route"), 404, "not_found")
        assert_problem(client.get("/ledgers", params={"limit": "0"}), 400, "bad_request")
        assert_problem(client.get("/friendbot", params={"addr": "nope"}), 400, "bad_request")
        assert_problem(client.get("/claimable_balances/zz"), 400, "bad_request")
        assert_problem(client.get("/admin/history", params={"since": "-1"}), 400, "bad_request")
        assert_problem(client.delete("/"), 405, "method_not_allowed")
        assert_problem(client.post("/transactions", data={"tx": "A" * 2_000_000}), 413, "bad_request")
    assert server.ledger.snapshot()["accounts"] == before
    assert server.ledger.pending_count() == 0


def test_sync_submit_times_out_with_504_then_resubmission_gets_the_outcome(
        manual: tuple[LedgerServer, list[str]]) -> None:
    server, urls = manual
    xdr = signed_payment(server)
    with httpx.Client(base_url=urls[0], timeout=10) as client:
        body = assert_problem(client.post("/transactions", data={"tx": xdr}), 504, "transaction_submission_timeout")
        assert body["extras"] == {"hash": server.ledger.submit(xdr).hash, "envelope_xdr": xdr}
        assert body["title"] == "Transaction Submission Timeout"
        assert [r["kind"] for r in server.ledger.history()][-2] == "timeout"
        closed = client.post("/admin/close").json()
        assert len(closed["applied"]) == 1
        again = client.post("/transactions", data={"tx": xdr})
        assert again.status_code == 200 and again.json()["successful"] is True
        assert client.get(f"/transactions/{closed['applied'][0]}").json()["ledger"] == closed["ledger"]["sequence"]


def test_concurrent_duplicate_sync_submissions_apply_once(manual: tuple[LedgerServer, list[str]]) -> None:
    server, urls = manual
    xdr = signed_payment(server)
    before = server.ledger.balance_of(generated_keypair(SEED, 1).public_key)

    def submit(url: str) -> int:
        with httpx.Client(base_url=url, timeout=10) as client:
            return client.post("/transactions", data={"tx": xdr}).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(submit, urls[i % 2]) for i in range(4)]
        deadline = time.monotonic() + 5
        while server.ledger.pending_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.002)  # close as soon as the first copy is queued (submit_timeout is 0.5 s)
        server.ledger.close_ledger()
        statuses = [f.result() for f in futures]
    assert statuses == [200] * 4
    assert server.ledger.balance_of(generated_keypair(SEED, 1).public_key) == before + 10_000_000
    assert len([r for r in server.ledger.history() if r["kind"] == "applied"]) == 1


def test_async_statuses(manual: tuple[LedgerServer, list[str]]) -> None:
    server, urls = manual
    with httpx.Client(base_url=urls[0], timeout=10) as client:
        xdr = signed_payment(server)
        first = client.post("/transactions_async", data={"tx": xdr})
        assert first.status_code == 201 and first.json()["tx_status"] == "PENDING"
        dup = client.post("/transactions_async", data={"tx": xdr})
        assert dup.status_code == 409 and dup.json() == {"tx_status": "DUPLICATE", "hash": first.json()["hash"]}
        bad = client.post("/transactions_async", data={"tx": signed_payment(server, seq_bump=0)})
        assert bad.status_code == 400 and bad.json()["tx_status"] == "ERROR"
        # older than the queued tx: canAdd's own txBAD_SEQ, built by createTxErrorResult (feeCharged 0)
        assert bad.json()["error_result_xdr"] == "AAAAAAAAAAD////7AAAAAA=="
        assert_problem(client.get(f"/transactions/{first.json()['hash']}"), 404, "not_found")  # pending
        client.post("/admin/close")
        assert client.get(f"/transactions/{first.json()['hash']}").status_code == 200


def test_try_again_later_async_503_sync_waits_then_504() -> None:
    """Async: core's TRY_AGAIN_LATER as 503 (actions/submit_transaction_async.go). Sync: txsub's submitter
    treats TRY_AGAIN_LATER as no error (txsub/submitter.go), so the request waits in the pending list
    for a hash that never comes and ends in 504 transaction_submission_timeout (txsub/system.go)."""
    server = LedgerServer(LedgerConfig(auto_close=False, generate_accounts=2, seed=SEED, submit_timeout=0.5))
    with server.run_in_thread() as urls, httpx.Client(base_url=urls[0], timeout=10) as client:
        assert client.post("/transactions_async", data={"tx": signed_payment(server)}).status_code == 201
        second = signed_payment(server, seq_bump=2)
        busy = client.post("/transactions_async", data={"tx": second})
        assert busy.status_code == 503 and busy.json() == {"tx_status": "TRY_AGAIN_LATER",
                                                            "hash": server.ledger.submit(second).hash}
        started = time.monotonic()
        assert_problem(client.post("/transactions", data={"tx": second}), 504, "transaction_submission_timeout")
        assert time.monotonic() - started >= 0.5


def test_admin_endpoints_and_per_listener_access_log(manual: tuple[LedgerServer, list[str]]) -> None:
    server, urls = manual
    httpx.get(urls[0] + "/", timeout=10)
    httpx.get(urls[1] + "/ledgers", params={"order": "desc", "limit": 1}, timeout=10)
    log = httpx.get(urls[0] + "/admin/access-log", params={"since": 0}, timeout=10).json()
    assert [(r["listener"], r["path"], r["status"]) for r in log["records"]] == [(0, "/", 200), (1, "/ledgers", 200)]
    assert log["next"] == 2
    later = httpx.get(urls[0] + "/admin/access-log", params={"since": 2}, timeout=10).json()
    assert [r["path"] for r in later["records"]] == ["/admin/access-log"]
    inv = httpx.get(urls[1] + "/admin/invariants", timeout=10).json()
    assert inv == {"ok": True, "violations": [], "ledger": 1}
    httpx.post(urls[0] + "/transactions_async", data={"tx": signed_payment(server)}, timeout=10)
    httpx.post(urls[0] + "/admin/close", timeout=10)
    history = httpx.get(urls[1] + "/admin/history", params={"since": 0}, timeout=10).json()
    kinds = [r["kind"] for r in history["records"]]
    assert kinds == ["submission", "applied", "close"] and history["next"] == 3
    applied = history["records"][1]
    assert applied["operations"] == [{"type": "payment", "source": generated_keypair(SEED, 0).public_key,
                                      "destination": generated_keypair(SEED, 1).public_key,
                                      "amount": "1.0000000", "asset": "native", "balance_id": None}]
    assert applied["ledger"] == 2 and applied["successful"] is True and applied["fee_charged"] == 100
    root = httpx.get(urls[1] + "/", timeout=10).json()
    assert root["network_passphrase"] == server.ledger.passphrase and root["history_latest_ledger"] == 2


def test_two_servers_use_distinct_free_ports() -> None:
    a, b = LedgerServer(LedgerConfig(auto_close=False)), LedgerServer(LedgerConfig(auto_close=False))
    with a.run_in_thread() as urls_a, b.run_in_thread() as urls_b:
        assert urls_a != urls_b
        assert httpx.get(urls_b[0] + "/health", timeout=10).json()["core_up"] is True
    with pytest.raises(httpx.ConnectError):
        httpx.get(urls_a[0] + "/health", timeout=2)


def test_fuzzed_submissions_get_4xx_problems_and_change_nothing() -> None:
    server = LedgerServer(LedgerConfig(auto_close=False, generate_accounts=2, seed=SEED))
    valid = base64.b64decode(signed_payment(server))
    bodies = st.one_of(
        st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
        st.text(max_size=100),
        st.integers(0, len(valid) - 1).map(lambda n: base64.b64encode(valid[:n]).decode()),  # truncated
        st.tuples(st.integers(0, len(valid) - 1), st.integers(1, 255)).map(  # one byte flipped
            lambda t: base64.b64encode(valid[:t[0]] + bytes([valid[t[0]] ^ t[1]]) + valid[t[0] + 1:]).decode()),
    )
    with server.run_in_thread() as urls, httpx.Client(base_url=urls[0], timeout=10) as client:
        before = server.ledger.snapshot()

        @settings(max_examples=60)
        @given(tx=bodies, path=st.sampled_from(["/transactions", "/transactions_async"]))
        def check(tx: str, path: str) -> None:
            response = client.post(path, data={"tx": tx})
            assert 400 <= response.status_code < 500 or response.status_code in (200, 201), response.text
            assert isinstance(response.json(), dict)
            if response.status_code == 400 and "tx_status" not in response.json():
                assert response.headers["content-type"].startswith("application/problem+json")

        check()
        server.ledger.close_ledger()
        after = server.ledger.snapshot()
    assert after["accounts"] == before["accounts"] and after["queue"]["queued"] == []  # every byte is signed
    assert not [r for r in server.ledger.history() if r["kind"] == "applied"]
    assert server.ledger.check_invariants() == []
