"""stellar-sdk 16.1.1's `Server` reading the offline network's history: collections paged with `.next()`
to the end, `stream()`, `include_failed`, operation and effect resources, Horizon's problems.

Each behaviour cites the Horizon source it follows (github.com/stellar/stellar-horizon, internal/...).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from stellar_sdk import Asset, Claimant, ClaimPredicate, Keypair, Server, TransactionBuilder
from stellar_sdk.exceptions import BadRequestError
from stellar_sdk.xdr import LedgerHeader

from harness.ledger.config import LedgerConfig
from harness.ledger.http_api import LedgerServer
from harness.ledger.paging import after_ledger, toid
from tests.ledger_clients import funded

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    server = LedgerServer(LedgerConfig(close_interval=0.05, submit_timeout=5))
    with server.run_in_thread() as urls:
        yield server, urls[0]


def submit(ledger_server: LedgerServer, url: str, kp: Keypair, add: Callable[[TransactionBuilder], object]) -> dict:
    server = Server(url)
    builder = TransactionBuilder(server.load_account(kp.public_key), ledger_server.ledger.passphrase, 100)
    add(builder)
    env = builder.set_timeout(60).build()
    env.sign(kp)
    return server.submit_transaction(env, skip_memo_required_check=True)


def drain(builder: Any, max_pages: int = 200) -> list[dict[str, Any]]:
    """`call()` then `.next()` until a page is empty (the SDK follows `_links.next.href`)."""
    page = builder.call()
    records: list[dict[str, Any]] = []
    for _ in range(max_pages):
        batch = page["_embedded"]["records"]
        if not batch:
            return records
        records += batch
        page = builder.next()
    raise AssertionError("paging never reached an empty page")


def test_sdk_pages_every_collection_with_next_to_an_empty_page(network: tuple[LedgerServer, str]) -> None:
    """hal/page.go PopulateLinks: next = last record's paging_token, same order; the end is an empty page."""
    ledger_server, url = network
    server = Server(url)
    a, b = funded(url), funded(url)
    hashes = [submit(ledger_server, url, a, lambda t, i=i: t.append_payment_op(b.public_key, Asset.native(), str(i + 1)))
              ["hash"] for i in range(5)]
    txs = drain(server.transactions().for_account(a.public_key).limit(2))
    assert [t["hash"] for t in txs][1:] == hashes  # the first is friendbot's create_account
    assert [int(t["paging_token"]) for t in txs] == sorted(int(t["paging_token"]) for t in txs)
    payments = drain(server.payments().for_account(b.public_key).limit(2))
    assert [p["type"] for p in payments] == ["create_account"] + ["payment"] * 5
    assert [p["amount"] for p in payments[1:]] == [f"{i + 1}.0000000" for i in range(5)]
    backwards = drain(server.payments().for_account(b.public_key).order(desc=True).limit(4))
    assert backwards == payments[::-1]
    effects = drain(server.effects().for_account(b.public_key).limit(3))
    assert [e["type"] for e in effects] == ["account_created", "signer_created"] + ["account_credited"] * 5
    for effect in effects:  # db2/history/effect.go: ID "%019d-%010d", PagingToken "%d-%d"
        op_id, order = map(int, effect["paging_token"].split("-"))
        assert effect["id"] == f"{op_id:019d}-{order:010d}"
    ledgers = drain(server.ledgers().limit(50))
    assert [int(x["paging_token"]) for x in ledgers] == [toid(n) for n in range(1, len(ledgers) + 1)]
    in_ledger = drain(server.operations().for_ledger(txs[-1]["ledger"]))
    assert txs[-1]["hash"] in {o["transaction_hash"] for o in in_ledger}


def test_sdk_stream_with_cursor_now_gets_the_payment_made_after_it_opened(network: tuple[LedgerServer, str]) -> None:
    """actions/helpers.go getCursor: `now` = toid.AfterLedger(latest); httpx/handler.go renderStream."""
    ledger_server, url = network
    a, b = funded(url), funded(url)
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    stream = Server(url).payments().for_account(b.public_key).cursor("now").stream()

    def consume() -> None:
        got.put(next(stream))

    active = ledger_server.streams.active
    threading.Thread(target=consume, daemon=True).start()
    deadline = time.monotonic() + 10
    while ledger_server.streams.active == active and time.monotonic() < deadline:
        time.sleep(0.01)
    paid = submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "7"))
    event = got.get(timeout=10)
    stream.close()
    assert (event["type"], event["transaction_hash"], event["amount"], event["to"]) == \
        ("payment", paid["hash"], "7.0000000", b.public_key)
    assert event["paging_token"] == str(int(paid["paging_token"]) + 1)


def test_sdk_account_stream_sends_the_account_again_when_it_changes(network: tuple[LedgerServer, str]) -> None:
    """httpx/handler.go streamableObjectActionHandler: the current resource, then each changed version."""
    ledger_server, url = network
    a, b = funded(url), funded(url)
    stream = Server(url).accounts().account_id(b.public_key).stream()
    first = next(stream)
    assert first["id"] == b.public_key and first["balances"][0]["balance"] == "10000.0000000"
    submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "5"))
    second = next(stream)
    assert second["balances"][0]["balance"] == "10005.0000000"
    stream.close()


def read_sse(url: str, path: str, params: dict[str, str], headers: dict[str, str] | None = None,
             count: int = 1000) -> list[dict[str, str]]:
    """SSE messages of one connection as {field: value}: `count` of them, or all until the server ends it."""
    messages: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with httpx.stream("GET", url + path, params=params, timeout=10,
                      headers={"Accept": "text/event-stream", **(headers or {})}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                current[name] = value
                continue
            messages.append(current)
            current = {}
            if len(messages) == count:
                break
    return messages


def test_last_event_id_resumes_with_exactly_the_missed_events_in_horizon_framing(
        network: tuple[LedgerServer, str]) -> None:
    """render/sse/main.go: hello (retry 1000, event open), `id:` = paging token, `data:` JSON, and after
    `limit` events the goodbye (retry 10, event close); helpers.go getCursor: Last-Event-ID wins."""
    ledger_server, url = network
    a, b = funded(url), funded(url)
    paid = [submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "1"))
            for _ in range(4)]
    tokens = [str(int(p["paging_token"]) + 1) for p in paid]
    messages = read_sse(url, f"/accounts/{b.public_key}/payments", {"cursor": "0", "limit": "2"},
                        {"Last-Event-ID": tokens[0]})
    assert messages[0] == {"retry": "1000", "event": "open", "data": '"hello"'}
    assert [m["id"] for m in messages[1:-1]] == tokens[1:3]
    assert messages[-1] == {"retry": "10", "event": "close", "data": '"byebye"'}
    rest = read_sse(url, f"/accounts/{b.public_key}/payments", {"limit": "5"}, {"Last-Event-ID": tokens[2]}, count=2)
    assert [m["id"] for m in rest[1:]] == tokens[3:]


def test_include_failed_and_the_operations_of_a_failed_transaction(network: tuple[LedgerServer, str]) -> None:
    """actions/transaction.go + db2/history/transaction.go: failed transactions only with include_failed=true;
    actions/operation.go: a transaction's own operations include failed ones; effects only of successful ones."""
    ledger_server, url = network
    a, b = funded(url), funded(url)
    with pytest.raises(BadRequestError) as err:
        submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "20000"))
    assert err.value.extras["result_codes"] == {"transaction": "tx_failed", "operations": ["op_underfunded"]}
    failed = next(r for r in reversed(ledger_server.ledger.history()) if r["kind"] == "applied"
                  and r["source"] == a.public_key)
    assert not failed["successful"]
    server = Server(url)
    default = {t["hash"] for t in drain(server.transactions().for_account(a.public_key))}
    everything = drain(server.transactions().for_account(a.public_key).include_failed(True))
    assert failed["hash"] not in default and failed["hash"] in {t["hash"] for t in everything}
    assert [t["successful"] for t in everything if t["hash"] == failed["hash"]] == [False]
    ops = server.operations().for_transaction(failed["hash"]).call()["_embedded"]["records"]
    assert [(o["type"], o["transaction_successful"], o["amount"]) for o in ops] == [("payment", False, "20000.0000000")]
    joined = server.operations().for_transaction(failed["hash"]).join("transactions").call()["_embedded"]["records"]
    assert [(o["transaction"]["hash"], o["transaction"]["successful"]) for o in joined] == [(failed["hash"], False)]
    assert failed["hash"] not in {o["transaction_hash"] for o in drain(server.operations().for_account(a.public_key))}
    assert server.effects().for_transaction(failed["hash"]).call()["_embedded"]["records"] == []
    assert server.transactions().transaction(failed["hash"]).call()["successful"] is False


def test_claimable_balance_and_data_operations_and_effects(network: tuple[LedgerServer, str]) -> None:
    """ingest/processors/effects_processor.go (create/claim claimable balance, manage data, sponsorship
    effects from the entries' sponsor) and operations_processor.go Details."""
    ledger_server, url = network
    server = Server(url)
    a, b, c = funded(url), funded(url), funded(url)
    claimants = [Claimant(b.public_key, ClaimPredicate.predicate_before_relative_time(600)),
                 Claimant(c.public_key)]
    created = submit(ledger_server, url, a,
                     lambda t: t.append_create_claimable_balance_op(Asset.native(), "12.5", claimants))
    op = server.operations().for_transaction(created["hash"]).call()["_embedded"]["records"][0]
    assert op["claimants"] == [{"destination": b.public_key, "predicate": {"rel_before": "600"}},
                               {"destination": c.public_key, "predicate": {"unconditional": True}}]
    assert (op["asset"], op["amount"], op["sponsor"]) == ("native", "12.5000000", a.public_key)
    balance_id = server.effects().for_operation(op["id"]).call()["_embedded"]["records"][0]["balance_id"]
    claimed = submit(ledger_server, url, c, lambda t: t.append_claim_claimable_balance_op(balance_id))
    effects = server.effects().for_transaction(created["hash"]).call()["_embedded"]["records"]
    assert [(e["type"], e["account"]) for e in effects] == [
        ("claimable_balance_created", a.public_key), ("claimable_balance_claimant_created", b.public_key),
        ("claimable_balance_claimant_created", c.public_key), ("account_debited", a.public_key),
        ("claimable_balance_sponsorship_created", a.public_key)]
    assert effects[1]["predicate"] == {"rel_before": "600"} and effects[3]["amount"] == "12.5000000"
    effects = server.effects().for_transaction(claimed["hash"]).call()["_embedded"]["records"]
    assert [(e["type"], e.get("amount"), e.get("former_sponsor")) for e in effects] == [
        ("claimable_balance_claimed", "12.5000000", None), ("account_credited", "12.5000000", None),
        ("claimable_balance_sponsorship_removed", None, a.public_key)]
    # claimable_balance_transaction_processor.go: a balance's operations/transactions are those that changed it
    by_balance = drain(server.operations().for_claimable_balance(balance_id))
    assert [(o["type"], o["transaction_hash"]) for o in by_balance] == [
        ("create_claimable_balance", created["hash"]), ("claim_claimable_balance", claimed["hash"])]
    assert [t["hash"] for t in drain(server.transactions().for_claimable_balance(balance_id))] == \
        [created["hash"], claimed["hash"]]
    # the claimant of a balance sees its creation; the sponsor sees the claim that released its reserve
    assert op["id"] in {o["id"] for o in drain(server.operations().for_account(b.public_key))}
    assert claimed["hash"] in {t["hash"] for t in drain(server.transactions().for_account(a.public_key))}

    for value in (b"one", b"two", None):
        submit(ledger_server, url, a, lambda t, v=value: t.append_manage_data_op("note", v))
    data = [e for e in drain(server.effects().for_account(a.public_key)) if e["type"].startswith("data_")]
    assert [(e["type"], e["name"], e.get("value")) for e in data] == [
        ("data_created", "note", "b25l"), ("data_updated", "note", "dHdv"), ("data_removed", "note", None)]


def test_records_carry_horizon_links_and_ledgers_a_decodable_header(network: tuple[LedgerServer, str]) -> None:
    """resourceadapter/{account_entry,transaction,ledger,operations}.go: absolute links on the request's host."""
    ledger_server, url = network
    server = Server(url)
    a, b = funded(url), funded(url)
    paid = submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "1"))
    account = server.accounts().account_id(a.public_key).call()
    assert account["_links"]["data"] == {"href": f"{url}/accounts/{a.public_key}/data/{{key}}", "templated": True}
    assert account["_links"]["payments"]["href"] == f"{url}/accounts/{a.public_key}/payments{{?cursor,limit,order}}"
    tx = server.transactions().transaction(paid["hash"]).call()
    assert tx["_links"]["succeeds"]["href"] == f"{url}/transactions?order=desc&cursor={tx['paging_token']}"
    assert tx["_links"]["ledger"]["href"] == f"{url}/ledgers/{tx['ledger']}"
    ledger = server.ledgers().ledger(tx["ledger"]).call()
    header = LedgerHeader.from_xdr(ledger["header_xdr"])
    assert header.ledger_seq.uint32 == tx["ledger"] and header.ledger_version.uint32 == ledger["protocol_version"]
    assert header.base_fee.uint32 == ledger["base_fee_in_stroops"]
    assert header.max_tx_set_size.uint32 == ledger["max_tx_set_size"]
    assert header.previous_ledger_hash.hash.hex() == ledger["prev_hash"]
    root = httpx.get(url + "/", timeout=10).json()["_links"]
    assert root["operations"] == {"href": f"{url}/operations{{?cursor,limit,order,include_failed}}", "templated": True}
    assert httpx.get(f"{url}/accounts/{a.public_key}/data/nothing", timeout=10).status_code == 404


@pytest.mark.parametrize(("path", "params", "headers", "status", "slug", "field"), [
    ("/transactions", {"limit": "201"}, {}, 400, "bad_request", "limit"),
    ("/payments", {"order": "sideways"}, {}, 400, "bad_request", "order"),
    ("/operations", {"cursor": "-1"}, {}, 400, "bad_request", "cursor"),
    ("/effects", {"cursor": "x-1"}, {}, 400, "bad_request", "cursor"),
    ("/transactions", {"cursor": "5-1"}, {}, 200, None, None),  # before history, ascending: starts at the elder
    ("/transactions", {"cursor": f"{toid(5)}-1"}, {}, 400, "bad_request", None),  # db2.ErrInvalidCursor
    ("/transactions", {"include_failed": "maybe"}, {}, 400, "bad_request", "include_failed"),
    ("/operations", {"join": "ledgers"}, {}, 400, "bad_request", "join"),
    ("/ledgers", {"order": "desc", "cursor": str(toid(1))}, {}, 410, "before_history", None),
    ("/accounts/GNOTANACCOUNT/payments", {}, {}, 400, "bad_request", "account_id"),
    (f"/accounts/{Keypair.from_raw_ed25519_seed(bytes(range(32))).public_key}/transactions", {}, {}, 404, "not_found", None),
    ("/ledgers/99999999/operations", {}, {}, 404, "not_found", None),
    ("/ledgers/abc", {}, {}, 400, "bad_request", "ledger_id"),
    ("/ledgers/0", {}, {}, 410, "before_history", None),
    ("/operations/5", {}, {}, 410, "before_history", None),
    (f"/operations/{after_ledger(2)}", {}, {}, 404, "not_found", None),
    ("/transactions/" + "A" * 64, {}, {}, 400, "bad_request", "tx_id"),
    ("/transactions/" + "a" * 64 + "/effects", {}, {}, 404, "not_found", None),
    ("/claimable_balances/" + "0" * 72 + "/operations", {}, {}, 404, "not_found", None),
    ("/claimable_balances/xyz/transactions", {}, {}, 400, "bad_request", "claimable_balance_id"),
    ("/payments", {}, {"Accept": "text/html"}, 406, "not_acceptable", None),
    ("/ledgers/1", {}, {"Accept": "text/event-stream"}, 406, "not_acceptable", None),
    ("/trades", {}, {}, 404, "not_found", None),
])
def test_bad_reads_get_horizons_problems(network: tuple[LedgerServer, str], path: str, params: dict, headers: dict,
                                         status: int, slug: str | None, field: str | None) -> None:
    """actions/helpers.go, query_params.go, validators.go; httpx/server.go registered errors; unserved routes 404."""
    ledger_server, url = network
    if slug is None:  # a page of records needs one transaction, whichever tests ran before (xdist may reorder)
        a, b = funded(url), funded(url)
        submit(ledger_server, url, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "1"))
    response = httpx.get(url + path, params=params, headers=headers, timeout=10)
    assert response.status_code == status, response.text[:300]
    body = response.json()
    if slug is None:
        assert body["_embedded"]["records"]
        return
    assert body["type"] == f"https://stellar.org/horizon-errors/{slug}" and body["status"] == status
    assert body.get("extras", {}).get("invalid_field") == field
