"""stellar-sdk 16.1.1's own `Server` and `ServerAsync`, unchanged, against the offline network.

Submission rules and their sources: one queued tx per source account and the ban of applied
envelopes (stellar-core src/herder/TransactionQueue.cpp `canAdd`, `removeApplied`, `isBanned`),
strict sequence numbers (src/transactions/TransactionFrame.cpp `isBadSeq`), fee bumps
(src/transactions/FeeBumpTransactionFrame.cpp), Horizon's sync and async answers
(stellar-horizon internal/txsub/system.go, internal/actions/submit_transaction_async.go).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from stellar_sdk import (
    Account,
    AiohttpClient,
    Asset,
    AuthorizationFlag,
    Claimant,
    ClaimPredicate,
    Keypair,
    Network,
    Server,
    ServerAsync,
    Transaction,
    TransactionBuilder,
    TransactionEnvelope,
)
from stellar_sdk.exceptions import BadRequestError, BadResponseError, NotFoundError
from stellar_sdk.sep.exceptions import AccountRequiresMemoError
from stellar_sdk.xdr import TransactionResult

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.http_api import LedgerServer
from tests.ledger_clients import ledger_network

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    with ledger_network(0.05) as network:
        yield network


@pytest.fixture(scope="module", autouse=True)
def http() -> Iterator[httpx.Client]:
    """One shared HTTP client for friendbot calls (creating an httpx client costs ~50 ms)."""
    with httpx.Client(timeout=10) as client:
        _HTTP.append(client)
        yield client
        _HTTP.clear()


_HTTP: list[httpx.Client] = []


def funded(url: str) -> Keypair:
    kp = Keypair.random()
    response = _HTTP[0].get(url + "/friendbot", params={"addr": kp.public_key})
    assert response.status_code == 200 and response.json()["successful"] is True
    return kp


def build(server: Server, passphrase: str, kp: Keypair, add: Callable[[TransactionBuilder], object],
          *, fee: int | None = None, signers: tuple[Keypair, ...] | None = None, timeout: int = 60):
    account = server.load_account(kp.public_key)
    builder = TransactionBuilder(account, passphrase, fee or server.fetch_base_fee())
    add(builder)
    env = builder.set_timeout(timeout).build()
    for signer in signers if signers is not None else (kp,):
        env.sign(signer)
    return env


def test_load_account_fee_submit_lookup_and_duplicate(network: tuple[LedgerServer, str]) -> None:
    ledger_server, url = network
    passphrase = ledger_server.ledger.passphrase
    server = Server(url)
    assert server.root().call()["network_passphrase"] == passphrase
    assert server.fetch_base_fee() == 100
    a, b = funded(url), funded(url)
    account = server.load_account(a.public_key)
    assert account.raw_data["balances"][0]["balance"] == "10000.0000000"
    assert account.thresholds.low_threshold == 0 and account.load_ed25519_public_key_signers()[0].account_id \
        == a.public_key
    env = build(server, passphrase, a, lambda t: t.append_payment_op(b.public_key, Asset.native(), "12.5")
                .add_hash_memo(b"\x01" * 32))
    response = server.submit_transaction(env)
    assert response["successful"] is True and response["hash"] == env.hash_hex()
    assert response["memo_type"] == "hash" and response["fee_charged"] == "100"
    looked_up = server.transactions().transaction(env.hash_hex()).call()
    assert looked_up["ledger"] == response["ledger"] and looked_up["result_xdr"] == response["result_xdr"]
    assert server.submit_transaction(env)["ledger"] == response["ledger"]  # replayed, not reapplied
    assert server.accounts().account_id(b.public_key).call()["balances"][0]["balance"] == "10012.5000000"
    with pytest.raises(NotFoundError):
        server.transactions().transaction("00" * 32).call()
    with pytest.raises(NotFoundError):
        server.load_account(Keypair.random().public_key)
    latest = server.ledgers().order(desc=True).limit(1).call()["_embedded"]["records"][0]
    assert server.ledgers().ledger(latest["sequence"]).call()["hash"] == latest["hash"]


@pytest.fixture(scope="module")
def manual() -> Iterator[tuple[LedgerServer, str]]:
    """Closes only when a test says so; sync submissions give up after 1 s."""
    server = LedgerServer(LedgerConfig(auto_close=False, submit_timeout=1, generate_accounts=4, seed=SEED))
    with server.run_in_thread() as urls:
        yield server, urls[0]


SEED = 31


def test_async_submit_duplicate_busy_then_banned(manual: tuple[LedgerServer, str]) -> None:
    ledger_server, url = manual
    server = Server(url)
    a, b = generated_keypair(SEED, 0), generated_keypair(SEED, 1)
    account = server.load_account(a.public_key)
    pay = lambda amount: TransactionBuilder(account, ledger_server.ledger.passphrase, 100).append_payment_op(  # noqa
        b.public_key, Asset.native(), amount).set_timeout(60).build()
    env, second = pay("1"), pay("2")
    for e in (env, second):
        e.sign(a)
    assert server.submit_transaction_async(env) == {"tx_status": "PENDING", "hash": env.hash_hex()}
    with pytest.raises(BadRequestError) as dup:
        server.submit_transaction_async(env)
    assert dup.value.status == 409 and '"DUPLICATE"' in dup.value.message
    with pytest.raises(BadResponseError) as busy:  # one queued tx per source account
        server.submit_transaction_async(second)
    assert busy.value.status == 503 and '"TRY_AGAIN_LATER"' in busy.value.message
    ledger_server.ledger.close_ledger()
    assert server.transactions().transaction(env.hash_hex()).call()["successful"] is True
    with pytest.raises(BadResponseError) as banned:  # applied envelopes are banned for 10 ledgers
        server.submit_transaction_async(env)
    assert banned.value.status == 503
    assert server.submit_transaction(env)["hash"] == env.hash_hex()  # sync: Horizon's stored outcome
    assert server.submit_transaction_async(second)["tx_status"] == "PENDING"
    ledger_server.ledger.close_ledger()
    assert len([r for r in ledger_server.ledger.history() if r.get("hash") == env.hash_hex()
                and r["kind"] == "applied"]) == 1


def test_sync_second_tx_of_a_busy_account_times_out(manual: tuple[LedgerServer, str]) -> None:
    ledger_server, url = manual
    server = Server(url)
    a, b = generated_keypair(SEED, 2), generated_keypair(SEED, 3)
    first = build(server, ledger_server.ledger.passphrase, a, lambda t: t.append_payment_op(b.public_key,
                                                                                            Asset.native(), "1"))
    assert server.submit_transaction_async(first)["tx_status"] == "PENDING"
    account = server.load_account(a.public_key)
    account.increment_sequence_number()
    second = TransactionBuilder(account, ledger_server.ledger.passphrase, 100).append_payment_op(
        b.public_key, Asset.native(), "2").set_timeout(60).build()
    second.sign(a)
    started = time.monotonic()
    with pytest.raises(BadResponseError) as timeout:
        server.submit_transaction(second)
    assert timeout.value.status == 504 and time.monotonic() - started >= 1
    assert timeout.value.type == "https://stellar.org/horizon-errors/transaction_submission_timeout"
    assert timeout.value.extras == {"hash": second.hash_hex(), "envelope_xdr": second.to_xdr()}
    ledger_server.ledger.close_ledger()


def test_memo_required_check_path(network: tuple[LedgerServer, str]) -> None:
    ledger_server, url = network
    passphrase = ledger_server.ledger.passphrase
    server = Server(url)
    a, exchange = funded(url), funded(url)
    server.submit_transaction(build(server, passphrase, exchange,
                                    lambda t: t.append_manage_data_op("config.memo_required", b"1")))
    assert server.accounts().account_id(exchange.public_key).call()["data"] == {"config.memo_required": "MQ=="}
    no_memo = build(server, passphrase, a, lambda t: t.append_payment_op(exchange.public_key, Asset.native(), "1"))
    with pytest.raises(AccountRequiresMemoError) as err:
        server.submit_transaction(no_memo)
    assert err.value.account_id == exchange.public_key and err.value.operation_index == 0
    with_memo = build(server, passphrase, a, lambda t: t.append_payment_op(exchange.public_key, Asset.native(), "1")
                      .add_text_memo("deposit-42"))
    assert server.submit_transaction(with_memo)["memo"] == "deposit-42"
    unknown_dest = build(server, passphrase, a,
                         lambda t: t.append_payment_op(Keypair.random().public_key, Asset.native(), "1"))
    with pytest.raises(BadRequestError) as failed:  # memo check ignores the 404, the ledger says no destination
        server.submit_transaction(unknown_dest)
    assert failed.value.extras["result_codes"] == {"transaction": "tx_failed", "operations": ["op_no_destination"]}


def test_claimable_balance_escrow_create_and_claim(network: tuple[LedgerServer, str]) -> None:
    ledger_server, url = network
    passphrase = ledger_server.ledger.passphrase
    server = Server(url)
    payer, payee = funded(url), funded(url)
    deadline = int(time.time()) + 3600
    claimants = [Claimant(payee.public_key, ClaimPredicate.predicate_before_absolute_time(deadline)),
                 Claimant(payer.public_key, ClaimPredicate.predicate_not(
                     ClaimPredicate.predicate_before_absolute_time(deadline)))]
    env = build(server, passphrase, payer,
                lambda t: t.append_create_claimable_balance_op(Asset.native(), "25", claimants))
    balance_id = env.transaction.get_claimable_balance_id(0)
    server.submit_transaction(env)
    body = server.claimable_balances().claimable_balance(balance_id).call()
    assert body["amount"] == "25.0000000" and body["sponsor"] == payer.public_key
    assert body["claimants"][0]["predicate"]["abs_before_epoch"] == str(deadline)
    listed = server.claimable_balances().for_claimant(payee.public_key).call()["_embedded"]["records"]
    assert [r["id"] for r in listed] == [balance_id]
    reclaim = build(server, passphrase, payer, lambda t: t.append_claim_claimable_balance_op(balance_id))
    with pytest.raises(BadRequestError) as err:
        server.submit_transaction(reclaim)
    assert err.value.extras["result_codes"]["operations"] == ["op_cannot_claim"]
    server.submit_transaction(build(server, passphrase, payee, lambda t: t.append_claim_claimable_balance_op(balance_id)))
    with pytest.raises(NotFoundError):
        server.claimable_balances().claimable_balance(balance_id).call()


# codes decided when the transaction is checked on submission: nothing is charged
NO_FEE = {"op_bad_auth", "op_no_source_account", "op_not_supported", "op_malformed", "op_invalid_name"}


def provoke(case: str, server: Server, passphrase: str, a: Keypair, b: Keypair) -> object:
    """A real signed envelope built to produce `case` (a source `a` and a destination `b` exist)."""
    pay = lambda t: t.append_payment_op(b.public_key, Asset.native(), "1")  # noqa: E731
    stranger = Keypair.random()
    now = int(time.time())
    if case == "tx_bad_seq":
        env = build(server, passphrase, a, pay)
        server.submit_transaction(env)
        stale = TransactionBuilder(Account(a.public_key, env.transaction.sequence - 1), passphrase, 100) \
            .append_payment_op(b.public_key, Asset.native(), "2").set_timeout(60).build()
        stale.sign(a)
        return stale
    if case in ("tx_too_late", "tx_too_early", "tx_no_source_account", "tx_missing_operation", "tx_not_supported"):
        source = stranger if case == "tx_no_source_account" else a
        account = Account(source.public_key, 1) if source is stranger else server.load_account(a.public_key)
        builder = TransactionBuilder(account, passphrase, 100)
        if case != "tx_missing_operation":
            pay(builder)
        bounds = {"tx_too_late": (0, now - 30), "tx_too_early": (now + 3600, 0)}.get(case, (0, now + 60))
        if case == "tx_missing_operation":
            tx = Transaction(a.public_key, account.sequence + 1, 100, [], preconditions=None)
            env = TransactionEnvelope(tx, passphrase)
        elif case == "tx_not_supported":  # ledger bounds: a precondition the simulator does not model
            env = builder.add_time_bounds(*bounds).set_ledger_bounds(0, 10**6).build()
        else:
            env = builder.add_time_bounds(*bounds).build()
        env.sign(source)
        return env
    if case == "tx_insufficient_balance":
        server.submit_transaction(build(server, passphrase, a, lambda t: t.append_create_account_op(
            stranger.public_key, "1")))
        return build(server, passphrase, stranger, pay)
    if case == "op_no_trust":
        return build(server, passphrase, a, lambda t: t.append_payment_op(b.public_key, Asset("USD", a.public_key),
                                                                          "1"))
    gold = Asset("GOLD", b.public_key)
    if case == "op_line_full":
        server.submit_transaction(build(server, passphrase, a, lambda t: t.append_change_trust_op(gold, "1")))
        return build(server, passphrase, b, lambda t: t.append_payment_op(a.public_key, gold, "2"))
    if case in ("op_not_authorized", "op_src_not_authorized"):
        server.submit_transaction(build(server, passphrase, b, lambda t: t.append_set_options_op(
            set_flags=AuthorizationFlag.AUTHORIZATION_REQUIRED)))
        server.submit_transaction(build(server, passphrase, a, lambda t: t.append_change_trust_op(gold, "10")))
        if case == "op_not_authorized":
            return build(server, passphrase, b, lambda t: t.append_payment_op(a.public_key, gold, "1"))
        return build(server, passphrase, a, lambda t: t.append_payment_op(b.public_key, gold, "1"))
    simple: dict[str, tuple[Callable[[TransactionBuilder], object], dict[str, object]]] = {
        "tx_bad_auth": (pay, {"signers": (b,)}),
        "tx_insufficient_fee": (pay, {"fee": 50}),
        "tx_bad_auth_extra": (pay, {"signers": (a, b)}),
        "op_underfunded": (lambda t: t.append_payment_op(b.public_key, Asset.native(), "20000"), {}),
        "op_no_destination": (lambda t: t.append_payment_op(stranger.public_key, Asset.native(), "1"), {}),
        "op_low_reserve": (lambda t: t.append_create_account_op(stranger.public_key, "0.1"), {}),
        "op_already_exists": (lambda t: t.append_create_account_op(b.public_key, "5"), {}),
        "op_src_no_trust": (lambda t: t.append_payment_op(b.public_key, Asset("USD", b.public_key), "1"), {}),
        "op_bad_auth": (lambda t: t.append_payment_op(a.public_key, Asset.native(), "1", source=b.public_key), {}),
        "op_no_source_account": (lambda t: t.append_payment_op(a.public_key, Asset.native(), "1",
                                                               source=stranger.public_key), {}),
        "op_not_supported": (lambda t: t.append_bump_sequence_op(10**12), {}),
        "op_malformed": (lambda t: t.append_create_account_op(a.public_key, "5"), {}),
        "op_invalid_name": (lambda t: t.append_manage_data_op("bad\tname", b"1"), {}),
        "op_data_name_not_found": (lambda t: t.append_manage_data_op("absent", None), {}),
        "op_does_not_exist": (lambda t: t.append_claim_claimable_balance_op("00000000" + "cd" * 32), {}),
        "op_no_issuer": (lambda t: t.append_change_trust_op(Asset("NOPE", stranger.public_key), "1"), {}),
        "op_invalid_limit": (lambda t: t.append_change_trust_op(gold, "0"), {}),
    }
    add, options = simple[case]
    return build(server, passphrase, a, add, **options)  # type: ignore[arg-type]


CODE_CASES = ["tx_bad_seq", "tx_bad_auth", "tx_insufficient_fee", "tx_no_source_account", "tx_bad_auth_extra",
              "tx_too_late", "tx_too_early", "tx_insufficient_balance", "tx_missing_operation", "tx_not_supported",
              "op_underfunded", "op_no_destination", "op_low_reserve", "op_already_exists", "op_src_no_trust",
              "op_no_trust", "op_bad_auth", "op_no_source_account", "op_not_supported", "op_malformed",
              "op_invalid_name", "op_data_name_not_found", "op_does_not_exist", "op_line_full", "op_not_authorized",
              "op_src_not_authorized", "op_no_issuer", "op_invalid_limit"]


@pytest.mark.parametrize("case", CODE_CASES)
def test_result_codes_through_the_sdk(network: tuple[LedgerServer, str], case: str) -> None:
    ledger_server, url = network
    passphrase = ledger_server.ledger.passphrase
    server = Server(url)
    a, b = funded(url), funded(url)
    env = provoke(case, server, passphrase, a, b)
    balance_before = server.accounts().account_id(a.public_key).call()["balances"][-1]["balance"]
    with pytest.raises(BadRequestError) as err:
        server.submit_transaction(env, skip_memo_required_check=True)  # type: ignore[arg-type]
    e = err.value
    assert e.status == 400 and e.type == "https://stellar.org/horizon-errors/transaction_failed"
    assert e.title == "Transaction Failed" and e.result_xdr == e.extras["result_xdr"]
    assert TransactionResult.from_xdr(e.result_xdr).result.code.name.startswith("tx")
    codes = e.extras["result_codes"]
    if case.startswith("op_"):
        assert codes == {"transaction": "tx_failed", "operations": [case]}
    else:
        assert codes == {"transaction": case}
    fee_paid = 100 if case.startswith("op_") and case not in NO_FEE else 0
    balance_after = server.accounts().account_id(a.public_key).call()["balances"][-1]["balance"]
    if case not in ("tx_insufficient_balance", "op_line_full", "op_not_authorized"):  # not paid by `a`
        assert round((float(balance_before) - float(balance_after)) * 10**7) == fee_paid


def test_wrong_network_passphrase_is_bad_auth(network: tuple[LedgerServer, str]) -> None:
    ledger_server, url = network
    server = Server(url)
    a, b = funded(url), funded(url)
    env = build(server, Network.TESTNET_NETWORK_PASSPHRASE, a,
                lambda t: t.append_payment_op(b.public_key, Asset.native(), "1"))
    with pytest.raises(BadRequestError) as err:
        server.submit_transaction(env)
    assert err.value.extras["result_codes"] == {"transaction": "tx_bad_auth"}


def test_server_async_with_aiohttp_client(network: tuple[LedgerServer, str]) -> None:
    ledger_server, url = network
    passphrase = ledger_server.ledger.passphrase
    a, b = funded(url), funded(url)

    async def scenario() -> None:
        async with ServerAsync(url, AiohttpClient()) as server:
            account = await server.load_account(a.public_key)
            fee = await server.fetch_base_fee()
            env = TransactionBuilder(account, passphrase, fee).append_payment_op(
                b.public_key, Asset.native(), "3").set_timeout(60).build()
            env.sign(a)
            assert (await server.submit_transaction(env))["successful"] is True
            env2 = TransactionBuilder(account, passphrase, fee).append_payment_op(
                b.public_key, Asset.native(), "4").set_timeout(60).build()
            env2.sign(a)
            assert (await server.submit_transaction_async(env2))["tx_status"] == "PENDING"
            with pytest.raises(BadRequestError):
                await server.submit_transaction_async(env2)
            bad = TransactionBuilder(account, passphrase, fee).append_payment_op(
                b.public_key, Asset.native(), "99999").set_timeout(60).build()
            bad.sign(a)
            for _ in range(200):
                try:
                    await server.transactions().transaction(env2.hash_hex()).call()
                    break
                except NotFoundError:
                    await asyncio.sleep(0.02)
            with pytest.raises(BadRequestError) as err:
                await server.submit_transaction(bad)
            assert err.value.extras["result_codes"]["operations"] == ["op_underfunded"]
            assert (await server.transactions().transaction(bad.hash_hex()).call())["successful"] is False

    asyncio.run(scenario())


def test_queue_full_maps_to_bad_response_error() -> None:
    ledger_server = LedgerServer(LedgerConfig(close_interval=30, max_pending=1, submit_timeout=5,
                                              generate_accounts=2, seed=SEED))
    with ledger_server.run_in_thread() as urls:
        server = Server(urls[0])
        a, b = generated_keypair(SEED, 0), generated_keypair(SEED, 1)
        env = build(server, ledger_server.ledger.passphrase, a,
                    lambda t: t.append_payment_op(b.public_key, Asset.native(), "1"))
        other = build(server, ledger_server.ledger.passphrase, b,
                      lambda t: t.append_payment_op(a.public_key, Asset.native(), "2"))
        assert server.submit_transaction_async(env)["tx_status"] == "PENDING"
        with pytest.raises(BadResponseError) as err:
            server.submit_transaction_async(other)
        assert err.value.status == 503 and '"TRY_AGAIN_LATER"' in err.value.message


def test_fee_bump_and_credit_payment_through_the_sdk(manual: tuple[LedgerServer, str]) -> None:
    """build_fee_bump_transaction + submit_transaction: fee source charged, Horizon's fee-bump fields; a
    genesis USDC payment shows in both accounts' `balances`."""
    ledger_server, url = manual
    server = Server(url)
    passphrase = ledger_server.ledger.passphrase
    a, b, c = (generated_keypair(SEED, i) for i in (1, 2, 3))
    usdc = Asset("USDC", issuer_keypair(SEED).public_key)
    inner = build(server, passphrase, a, lambda t: t.append_payment_op(b.public_key, usdc, "2.5"))
    bump = TransactionBuilder.build_fee_bump_transaction(c, 150, inner, passphrase)
    bump.sign(c)
    assert server.submit_transaction_async(bump)["tx_status"] == "PENDING"
    ledger_server.ledger.close_ledger()
    body = server.submit_transaction(bump)  # stored outcome
    assert body["successful"] is True and body["fee_account"] == c.public_key and body["fee_charged"] == "200"
    assert body["fee_bump_transaction"]["hash"] == bump.hash_hex() == body["hash"]
    assert body["inner_transaction"] == {"hash": inner.hash_hex(), "signatures": body["inner_transaction"][
        "signatures"], "max_fee": "100"}
    by_inner = server.transactions().transaction(inner.hash_hex()).call()
    assert by_inner["id"] == inner.hash_hex() and by_inner["fee_account"] == c.public_key
    balances = server.accounts().account_id(b.public_key).call()["balances"]
    assert balances[0]["asset_code"] == "USDC" and balances[0]["balance"] == "10002.5000000"
