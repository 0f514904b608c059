"""Soroban RPC over HTTP, shaped as stellar-rpc's: the JSON-RPC envelope of cmd/stellar-rpc/internal/
jsonrpc.go (jrpc2 behind jhttp, 512 KiB bodies), and the methods of cmd/stellar-rpc/internal/methods/
(get_health.go, get_network.go, get_latest_ledger.go, get_ledger_entries.go, get_transaction.go,
send_transaction.go, simulate_transaction.go, get_fee_stats.go) with go-stellar-sdk protocols/rpc types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stellar_sdk import Account, Address, Asset, Keypair, TransactionBuilder
from stellar_sdk import xdr as X

from harness.ledger.http_api import LedgerServer
from harness.ledger.soroban.contracts import data_key
from reference_impl.clock import ManualClock
from tests.soroban_support import PAYEE, PAYER, SUBMITTER, sac, signed_transfer, soroban_ledger, transfer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def rpc() -> Iterator[tuple[LedgerServer, str]]:
    server = LedgerServer(ledger=soroban_ledger())
    with server.run_in_thread() as urls:
        yield server, urls[0]


def call(url: str, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    response = httpx.post(url + "/soroban/rpc", json=body, timeout=10)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def result(url: str, method: str, params: Any = None) -> dict[str, Any]:
    answer = call(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]  # type: ignore[no-any-return]


def close(url: str) -> None:
    assert httpx.post(url + "/admin/close", timeout=10).status_code == 200


def test_jsonrpc_envelope(rpc: tuple[LedgerServer, str]) -> None:
    _, url = rpc
    endpoint = url + "/soroban/rpc"
    assert httpx.get(endpoint).status_code == 405
    assert httpx.post(endpoint, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.post(endpoint, content=b"x" * (512 * 1024 + 1), headers={"Content-Type": "application/json"}).status_code == 413
    post = lambda raw: httpx.post(endpoint, content=raw, headers={"Content-Type": "application/json"}).json()  # noqa: E731
    assert post(b"{nope")["error"]["code"] == -32700
    assert post(b"[]")["error"]["code"] == -32600
    assert post(b"7")["error"]["code"] == -32600
    assert post(b'{"jsonrpc": "1.0", "id": 1, "method": "getHealth"}')["error"]["code"] == -32600
    assert call(url, "getNothing")["error"] == {"code": -32601, "message": 'no such method "getNothing"'}
    assert call(url, "getLedgerEntries", ["AAAA"])["error"]["code"] == -32602
    batch = post(json.dumps([{"jsonrpc": "2.0", "id": "a", "method": "getNetwork"},
                             {"jsonrpc": "2.0", "method": "getHealth"},
                             {"jsonrpc": "2.0", "id": 9, "method": "getVersionInfo"}]).encode())
    assert [a["id"] for a in batch] == ["a", 9] and all("result" in a for a in batch)
    notification = httpx.post(endpoint, json={"jsonrpc": "2.0", "method": "getHealth"})
    assert notification.status_code == 204 and notification.content == b""


def test_health_network_and_latest_ledger(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    network = result(url, "getNetwork")
    assert network == {"friendbotUrl": url + "/friendbot", "passphrase": server.ledger.passphrase, "protocolVersion": 21}
    assert result(url, "getHealth")["status"] == "healthy"
    server.ledger.submit(signed_transfer(server.ledger, PAYER, SUBMITTER, 5).to_xdr(), endpoint="rpc")
    close(url)
    latest = result(url, "getLatestLedger")
    header = server.ledger.latest()
    assert (latest["id"], latest["sequence"], latest["closeTime"]) == (header.hash, 2, str(header.close_time))
    assert X.LedgerHeader.from_xdr(latest["headerXdr"]).ledger_seq.uint32 == 2
    meta = X.LedgerCloseMeta.from_xdr(latest["metadataXdr"]).v1
    assert meta.ledger_header.hash.hash.hex() == header.hash
    (processed,) = meta.tx_processing
    assert processed.tx_apply_processing.v3.soroban_meta is not None
    assert [len(p.v0_components[0].txs_maybe_discounted_fee.txs) if p.v0_components else 0
            for p in meta.tx_set.v1_tx_set.phases] == [0, 1]
    clock = server.ledger.clock
    assert isinstance(clock, ManualClock)
    clock.advance(31)  # MaxHealthyLedgerLatency is 30 s
    error = call(url, "getHealth")["error"]
    assert error["code"] == -32603 and "since last known ledger closed is too high" in error["message"]


def test_ledger_entries(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    instance = data_key(Address(sac(server.ledger)).to_xdr_sc_address(),
                        X.SCVal(X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), X.ContractDataDurability.PERSISTENT)
    account = X.LedgerKey(X.LedgerEntryType.ACCOUNT, account=X.LedgerKeyAccount(Keypair.from_public_key(PAYER.public_key).xdr_account_id()))
    missing = X.LedgerKey(X.LedgerEntryType.ACCOUNT, account=X.LedgerKeyAccount(Keypair.random().xdr_account_id()))
    found = result(url, "getLedgerEntries", {"keys": [account.to_xdr(), missing.to_xdr(), instance.to_xdr()]})
    assert found["latestLedger"] == 1 and [e["key"] for e in found["entries"]] == [account.to_xdr(), instance.to_xdr()]
    acc, inst = found["entries"]
    assert X.LedgerEntryData.from_xdr(acc["xdr"]).account.balance.int64 == server.ledger.balance_of(PAYER.public_key)
    assert "liveUntilLedgerSeq" not in acc and inst["liveUntilLedgerSeq"] == 1 + 3_110_400 - 1
    assert X.LedgerEntryData.from_xdr(inst["xdr"]).contract_data.val.instance.executable.type == \
        X.ContractExecutableType.CONTRACT_EXECUTABLE_STELLAR_ASSET
    ttl = X.LedgerKey(X.LedgerEntryType.TTL, ttl=X.LedgerKeyTtl(X.Hash(bytes(32))))
    assert call(url, "getLedgerEntries", {"keys": [ttl.to_xdr()]})["error"] == {
        "code": -32602, "message": "ledger ttl entries cannot be queried directly"}
    assert call(url, "getLedgerEntries", {"keys": ["AAAA"] * 201})["error"]["message"] == \
        "key count (201) exceeds maximum supported (200)"
    assert call(url, "getLedgerEntries", {"keys": ["!!"]})["error"]["message"] == "cannot unmarshal key value !! at index 0"


def test_send_and_get_transaction(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    env = signed_transfer(server.ledger, PAYER, SUBMITTER, 5)
    sent = result(url, "sendTransaction", {"transaction": env.to_xdr()})
    assert sent == {"status": "PENDING", "hash": env.hash_hex(), "latestLedger": 1,
                    "latestLedgerCloseTime": str(server.ledger.latest().close_time)}
    assert result(url, "sendTransaction", {"transaction": env.to_xdr()})["status"] == "DUPLICATE"
    other = signed_transfer(server.ledger, PAYEE, SUBMITTER, 5)
    assert result(url, "sendTransaction", {"transaction": other.to_xdr()})["status"] == "TRY_AGAIN_LATER"
    pending = result(url, "getTransaction", {"hash": env.hash_hex()})
    assert {k: pending[k] for k in ("status", "applicationOrder", "feeBump", "events", "ledger", "createdAt")} == {
        "status": "NOT_FOUND", "applicationOrder": 0, "feeBump": False, "events": {}, "ledger": 0, "createdAt": "0"}
    close(url)
    got = result(url, "getTransaction", {"hash": env.hash_hex()})
    applied = server.ledger.transaction(env.hash_hex())
    assert (got["status"], got["txHash"], got["ledger"], got["applicationOrder"], got["createdAt"]) == (
        "SUCCESS", env.hash_hex(), 2, 1, str(applied.close_time))
    assert (got["envelopeXdr"], got["resultXdr"], got["resultMetaXdr"]) == (
        applied.envelope_xdr, applied.result_xdr, applied.result_meta_xdr)
    (events,) = got["events"]["contractEventsXdr"]
    assert X.ContractEvent.from_xdr(events[0]).body.v0.topics[0].sym.sc_symbol == b"transfer"
    assert any(X.DiagnosticEvent.from_xdr(e).event.type == X.ContractEventType.DIAGNOSTIC for e in got["diagnosticEventsXdr"])
    assert call(url, "getTransaction", {"hash": "abc"})["error"] == {"code": -32602, "message": "unexpected hash length (3)"}
    assert call(url, "getTransaction", {"hash": "zz" * 32})["error"]["message"].startswith("incorrect hash")
    assert call(url, "sendTransaction", {"transaction": "bm90IHhkcg=="})["error"] == {"code": -32602, "message": "invalid_xdr"}


def test_send_transaction_error_carries_the_result_and_diagnostics(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    env = signed_transfer(server.ledger, PAYER, SUBMITTER, 5)
    env.transaction.soroban_data.resource_fee = X.Int64(10)
    env.signatures = []
    env.sign(SUBMITTER)
    sent = result(url, "sendTransaction", {"transaction": env.to_xdr()})
    assert sent["status"] == "ERROR"
    assert X.TransactionResult.from_xdr(sent["errorResultXdr"]).result.code == X.TransactionResultCode.txSOROBAN_INVALID
    (event,) = [X.DiagnosticEvent.from_xdr(e) for e in sent["diagnosticEventsXdr"]]
    assert b"is lower than the actual Soroban resource fee" in event.event.body.v0.data.vec.sc_vec[0].str.sc_string


def test_simulate_transaction_shapes(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    ledger = server.ledger
    sim = result(url, "simulateTransaction", {"transaction": transfer(ledger, SUBMITTER, PAYER.public_key,
                                                                      PAYEE.public_key, 3).to_xdr()})
    assert set(sim) == {"transactionData", "minResourceFee", "events", "results", "stateChanges", "latestLedger"}
    assert int(sim["minResourceFee"]) == X.SorobanTransactionData.from_xdr(sim["transactionData"]).resource_fee.int64
    (res,) = sim["results"]
    assert X.SCVal.from_xdr(res["xdr"]).type == X.SCValType.SCV_VOID and len(res["auth"]) == 1
    assert sorted(c["type"] for c in sim["stateChanges"]) == ["created", "updated", "updated"]
    assert result(url, "simulateTransaction", {"transaction": "nope"}) == {"error": "Could not unmarshal transaction",
                                                                           "latestLedger": 0}
    payment = (TransactionBuilder(Account(PAYER.public_key, 1), ledger.passphrase, 100)
               .append_payment_op(PAYEE.public_key, Asset.native(), "1").set_timeout(30).build())
    assert result(url, "simulateTransaction", {"transaction": payment.to_xdr()})["error"] == \
        "Transaction contains unsupported operation type: OperationTypePayment"
    signed = signed_transfer(ledger, PAYER, SUBMITTER, 3)
    assert result(url, "simulateTransaction", {"transaction": signed.to_xdr(), "authMode": "record"})["error"] == \
        "cannot set authMode to 'record' with an auth footprint"
    failed = result(url, "simulateTransaction", {"transaction": transfer(ledger, SUBMITTER, PAYER.public_key,
                                                                         PAYEE.public_key, -1).to_xdr()})
    assert failed["error"].startswith("HostError: Error(Contract, #8)") and "negative amount is not allowed" in failed["error"]
    assert "transactionData" not in failed and "minResourceFee" not in failed and failed["events"]


def test_fee_stats_count_what_was_charged(rpc: tuple[LedgerServer, str]) -> None:
    server, url = rpc
    empty = result(url, "getFeeStats")
    assert empty["sorobanInclusionFee"]["transactionCount"] == "0" and empty["sorobanInclusionFee"]["ledgerCount"] == 0
    server.ledger.submit(signed_transfer(server.ledger, PAYER, SUBMITTER, 5).to_xdr(), endpoint="rpc")
    payment = (TransactionBuilder(Account(PAYEE.public_key, server.ledger.account(PAYEE.public_key).seq_num),
                                  server.ledger.passphrase, 300).append_payment_op(PAYER.public_key, Asset.native(), "1")
               .set_timeout(60).build())
    payment.sign(PAYEE)
    server.ledger.submit(payment.to_xdr())
    close(url)
    stats = result(url, "getFeeStats")
    assert stats["latestLedger"] == 2
    assert {k: stats["sorobanInclusionFee"][k] for k in ("p50", "max", "transactionCount", "ledgerCount")} == {
        "p50": "100", "max": "100", "transactionCount": "1", "ledgerCount": 1}
    assert (stats["inclusionFee"]["mode"], stats["inclusionFee"]["transactionCount"]) == ("100", "1")
