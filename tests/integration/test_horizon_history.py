"""Reconciliation through Horizon's public API, run against the offline network's public API: the same code path
`harness run --horizon URL` uses with a real Horizon (quickstart, testnet).

`GET /accounts/{id}/transactions?include_failed=true&order=asc&limit=N` paged by `_links.next` (Horizon
internal/actions/transaction.go `GetTransactionsHandler`, hal/page.go `PopulateLinks`) must give the judges the
same applied transactions, success flags and memo hashes as the offline network's own history feed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from stellar_sdk import Asset, HashMemo, Keypair, Server, TransactionBuilder
from stellar_sdk.exceptions import BadRequestError

from harness.judges.context import JudgeContext
from harness.judges.nothing_lost import reconcile
from harness.ledger.http_api import LedgerServer
from harness.run.collect import CollectionError, fetch_pages
from harness.run.horizon_history import fund_accounts, network_passphrase, read_history
from tests.ledger_clients import ledger_network

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    with ledger_network(0.05) as network:
        yield network


def pay(url: str, passphrase: str, source: Keypair, destination: str, key: str) -> str:
    """A payment with memo hash sha256(key); returns its hash (a ledger-failed one too)."""
    server = Server(url)
    env = (TransactionBuilder(server.load_account(source.public_key), passphrase, 100)
           .append_payment_op(destination, Asset.native(), "1.5").add_memo(HashMemo(hashlib.sha256(key.encode()).digest()))
           .set_timeout(60).build())
    env.sign(source)
    try:
        return server.submit_transaction(env, skip_memo_required_check=True)["hash"]
    except BadRequestError as exc:  # op_no_destination: applied, failed
        assert exc.extras["result_codes"]["transaction"] == "tx_failed"
        return env.hash_hex()


def test_history_through_the_public_api_matches_the_networks_own_feed(network: tuple[LedgerServer, str]) -> None:
    ledger, url = network
    passphrase = network_passphrase(url)
    assert passphrase == ledger.ledger.passphrase
    pool, destination = Keypair.random(), Keypair.random()
    balances = {pool.public_key: "200", destination.public_key: "20"}
    assert fund_accounts(url, url + "/friendbot", passphrase, [Keypair.random()], balances) == 2
    assert fund_accounts(url, url + "/friendbot", passphrase, [], balances) == 0  # existing accounts are left alone
    keys = [f"run-s{i}" for i in range(7)]
    hashes = [pay(url, passphrase, pool, destination.public_key, k) for k in keys]
    failed = pay(url, passphrase, pool, Keypair.random().public_key, "run-fails")

    history = read_history(url, [pool.public_key, destination.public_key], page_limit=3)  # forces paging
    by_hash = {h["hash"]: h for h in history}
    assert set(hashes) | {failed} <= set(by_hash) and len(by_hash) == len(history)
    assert all(by_hash[h]["successful"] for h in hashes) and by_hash[failed]["successful"] is False
    assert [by_hash[h]["memo_hash"] for h in hashes] == [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    with httpx.Client(base_url=url, timeout=10) as client:
        own = {h["hash"]: h for h in fetch_pages(client, "/admin/history") if h.get("kind") == "applied"}
    for tx_hash, record in by_hash.items():
        assert record["successful"] == own[tx_hash]["successful"] and record["ledger"] == own[tx_hash]["ledger"]
        assert record["memo_hash"] == (own[tx_hash]["memo_hash"] or "")
        own_payments = [{k: op[k] for k in ("type", "source", "destination", "amount", "asset")}
                        for op in own[tx_hash]["operations"] if op["type"] == "payment"]
        assert record["operations"] == own_payments  # what the x402 reconciliation reads (credited payees)
    assert by_hash[hashes[0]]["operations"] == [{"type": "payment", "source": pool.public_key,
                                                "destination": destination.public_key, "amount": "1.5000000",
                                                "asset": "native"}]

    records = [{"intended_s": 1.0, "sent_s": 1.0, "endpoint": "settlement", "method": "POST", "path": "/settlements",
                "status": 200, "latency_ms": 900.0, "latency_from_intended_ms": 900.0, "idempotency_key": k}
               for k in [*keys, "run-never-applied"]]
    result = reconcile(JudgeContext.build(records, ledger_history=history))
    assert (result["acknowledged"], result["applied"], result["lost"], result["duplicated"]) == (8, 7, 1, 0)
    assert result["lost_keys"] == ["run-never-applied"]


def test_funders_create_accounts_in_batches_and_refuse_what_they_cannot_pay(network: tuple[LedgerServer, str]) -> None:
    """Friendbot funds only the funders; 130 accounts take two create_account transactions (100 operations each
    at most) from the first funder and the second funder pays the one it cannot."""
    ledger, url = network
    passphrase = ledger.ledger.passphrase
    wanted = {Keypair.random().public_key: "20" for _ in range(130)}
    rich = Keypair.random().public_key
    wanted[rich] = "9000"
    funders = [Keypair.random(), Keypair.random()]
    assert fund_accounts(url, url + "/friendbot", passphrase, funders, wanted) == 131
    with httpx.Client(base_url=url, timeout=10) as client:
        balances = {a: client.get(f"/accounts/{a}").json()["balances"][0]["balance"] for a in (rich, *list(wanted)[:2])}
        created = [h for h in fetch_pages(client, "/admin/history") if h.get("kind") == "applied"
                   and h.get("source") in {f.public_key for f in funders}]
    assert balances[rich] == "9000.0000000" and set(balances.values()) == {"9000.0000000", "20.0000000"}
    assert len(created) == 3 and max(len(h["operations"]) for h in created) == 100
    with pytest.raises(CollectionError, match="cannot pay"):
        fund_accounts(url, url + "/friendbot", passphrase, [Keypair.random()], {Keypair.random().public_key: "20000"})


def test_an_unreadable_horizon_is_a_collection_error(network: tuple[LedgerServer, str]) -> None:
    _, url = network
    with pytest.raises(CollectionError, match="accounts/"):
        read_history(url, ["not-an-account"])
    with pytest.raises(CollectionError, match="root document"):
        network_passphrase(url + "/no-such-path")
