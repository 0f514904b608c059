"""The JavaScript Stellar SDK's read side (pinned in tests/js) against the offline network.

What it pins, with the Horizon source each behaviour comes from:
* default `submitTransaction` runs SEP-29's memo check, which reads the destination's `data` through the
  account resource's `_links` (resourceadapter/account_entry.go PopulateAccountEntry) and refuses a
  memo-less payment to an account whose `config.memo_required` is "1";
* every history collection pages with `next()` until an empty page and stops (hal/page.go PopulateLinks,
  actions/helpers.go GetPageQuery), with Horizon's TOID paging tokens (toid/main.go) and effect tokens
  (db2/history/effect.go PagingToken);
* `stream()` delivers a payment made after it opened with `cursor("now")` (actions/helpers.go getCursor),
  and after Horizon's per-connection limit ("byebye", render/sse/main.go goodbyeEvent) it resumes from the
  last paging token with exactly the missed events.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import pytest
from stellar_sdk import Asset, Keypair, Server, TransactionBuilder

from harness.ledger.config import parse_amount
from harness.ledger.http_api import LedgerServer
from harness.ledger.paging import toid
from tests.ledger_clients import funded, ledger_network
from tests.node_clients import run_script

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    with ledger_network(0.1) as network:
        yield network


def pay(server: LedgerServer, url: str, payer: Keypair, payee: str, amount: str = "2") -> dict[str, Any]:
    sdk = Server(url)
    tx = (TransactionBuilder(sdk.load_account(payer.public_key), server.ledger.passphrase, 100)
          .append_payment_op(payee, Asset.native(), amount).set_timeout(60).build())
    tx.sign(payer)
    return sdk.submit_transaction(tx)


def applied_records(server: LedgerServer) -> list[tuple[int, dict[str, Any]]]:
    """(TOID, record) of every applied transaction, numbered from the history alone (not the read side)."""
    out, position = [], {}
    for record in server.ledger.history():
        if record["kind"] == "applied":
            position[record["ledger"]] = position.get(record["ledger"], 0) + 1
            out.append((toid(record["ledger"], position[record["ledger"]]), record))
    return out


def test_js_sdk_submits_with_defaults_pages_collections_to_the_end_and_follows_links(
        network: tuple[LedgerServer, str]) -> None:
    server, url = network
    payer, payee, memo = funded(url), funded(url), funded(url)
    sdk = Server(url)
    tx = (TransactionBuilder(sdk.load_account(memo.public_key), server.ledger.passphrase, 100)
          .append_manage_data_op("config.memo_required", b"1").set_timeout(60).build())
    tx.sign(memo)
    sdk.submit_transaction(tx, skip_memo_required_check=True)

    out = run_script("horizon_read.mjs", {"horizon": url, "passphrase": server.ledger.passphrase,
                                          "payer_secret": payer.secret, "payee": payee.public_key,
                                          "memo_account": memo.public_key})

    assert out["plain"]["ok"] and out["plain"]["value"]["successful"], out["plain"]
    assert out["refused"] == {"ok": False, "memo_required": True, "account": memo.public_key,
                              "message": "account requires memo"}
    assert out["with_memo"]["ok"] and out["with_memo"]["value"]["successful"]

    applied = [(i, r) for i, r in applied_records(server) if r["successful"]]
    ok_ops = [(i + n + 1, op, r) for i, r in applied for n, op in enumerate(r["operations"])]
    involved = lambda op, r, who: who in (r["source"], op["source"], op["destination"])  # noqa: E731
    expected = {
        "transactions": [str(i) for i, _ in applied],
        "payer_transactions": [str(i) for i, r in applied if any(involved(op, r, payer.public_key)
                                                                   for op in r["operations"])],
        "operations": [str(i) for i, _, _ in ok_ops],
        "payer_operations": [str(i) for i, op, r in ok_ops if involved(op, r, payer.public_key)],
        "payee_payments": [str(i) for i, op, r in ok_ops if involved(op, r, payee.public_key)
                           and op["type"] in ("payment", "create_account")],
        "payments": [str(i) for i, op, _ in ok_ops if op["type"] in ("payment", "create_account")],
    }
    collections = out["collections"]
    for name, tokens in expected.items():
        assert collections[name]["ended"] and collections[name]["tokens"] == tokens, name
    ledger_of_tx = next(r["ledger"] for _, r in applied if r["hash"] == out["plain"]["value"]["hash"])
    assert collections["ledger_transactions"]["tokens"] == [str(i) for i, r in applied if r["ledger"] == ledger_of_tx]
    ledgers = collections["ledgers"]["tokens"]
    assert collections["ledgers"]["ended"] and ledgers == [str(toid(n)) for n in range(1, len(ledgers) + 1)]
    # effects: account_created + signer_created (orders 1, 3) on creation, account_debited (order 2) per payment
    created = next(i for i, op, _ in ok_ops if op["type"] == "create_account" and op["destination"] == payer.public_key)
    paid = [i for i, op, r in ok_ops if op["type"] == "payment" and r["source"] == payer.public_key]
    assert collections["payer_effects"]["tokens"] == [f"{created}-1", f"{created}-3", *(f"{i}-2" for i in paid)]
    effects = collections["effects"]["tokens"]
    assert collections["effects"]["ended"] and len(effects) == len(set(effects))
    assert effects == sorted(effects, key=lambda t: tuple(map(int, t.split("-"))))
    assert collections["tx_effects"]["tokens"] == [f"{paid[0]}-1", f"{paid[0]}-2"]

    links = out["links"]
    assert links["tx_operations"] == [["payment", out["plain"]["value"]["hash"], "1.0000000", payee.public_key]]
    assert links["tx_effects"] == [["account_credited", payee.public_key, "1.0000000"],
                                   ["account_debited", payer.public_key, "1.0000000"]]
    assert links["op_effects"] == ["account_credited", "account_debited"]
    assert links["tx_ledger"] == ledger_of_tx and links["tx_account"] == payer.public_key
    assert links["memo_data"] == {"value": "MQ=="}
    header, fields = links["header"], links["ledger_fields"]
    assert header["sequence"] == ledger_of_tx
    assert int(header["fee_pool"]) == parse_amount(fields["fee_pool"])
    assert int(header["total_coins"]) == parse_amount(fields["total_coins"])
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(header["close_time"]))) == fields["closed_at"]


def stream_while(server: LedgerServer, args: dict[str, Any], action: Any) -> dict[str, Any]:
    """Run horizon_stream.mjs; once its stream is open on the server, run `action`; return its output."""
    before = server.streams.active
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_script, "horizon_stream.mjs", args, 90)
        deadline = time.monotonic() + 30
        while server.streams.active <= before and time.monotonic() < deadline and not future.done():
            time.sleep(0.02)
        assert server.streams.active > before, "the JavaScript stream never connected"
        action()
        return future.result(timeout=90)


def test_js_sdk_stream_with_cursor_now_receives_the_payment_made_after_it_opened(
        network: tuple[LedgerServer, str]) -> None:
    server, url = network
    payer, payee = funded(url), funded(url)
    made: list[dict[str, Any]] = []
    out = stream_while(server, {"horizon": url, "account": payee.public_key, "cursor": "now", "expect": 1,
                                "timeout_ms": 20000},
                       lambda: made.append(pay(server, url, payer, payee.public_key, "3.5")))
    operation_toid = str(int(made[0]["paging_token"]) + 1)  # the transaction's TOID + operation 1
    assert out["received"] == [[operation_toid, "payment", made[0]["hash"], "3.5000000"]]


def test_js_sdk_stream_resumes_after_byebye_with_exactly_the_missed_events(network: tuple[LedgerServer, str]) -> None:
    """limit=2: Horizon closes each connection after 2 events; the SDK reconnects from the last token."""
    server, url = network
    payer, payee = funded(url), funded(url)
    hashes = [pay(server, url, payer, payee.public_key, f"1.{i}")["hash"] for i in range(5)]
    tokens = {r["hash"]: str(i + 1) for i, r in applied_records(server) if r["hash"] in hashes}
    connects_before = sum(1 for e in server.ledger.access_log() if e["path"].endswith(f"{payee.public_key}/payments"))
    out = run_script("horizon_stream.mjs", {"horizon": url, "account": payee.public_key, "cursor": tokens[hashes[0]],
                                            "limit": 2, "expect": 4, "timeout_ms": 20000})
    assert [r[2] for r in out["received"]] == hashes[1:]
    assert [r[0] for r in out["received"]] == [tokens[h] for h in hashes[1:]]
    time.sleep(0.3)  # the access log entry of a stream is written when it ends
    connects = sum(1 for e in server.ledger.access_log() if e["path"].endswith(f"{payee.public_key}/payments"))
    assert connects - connects_before >= 2
