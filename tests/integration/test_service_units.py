"""The service's own building blocks in isolation (no sockets): sequence pool, keyed locks, event
feed, faults registry, accounts file and settings validation."""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields

import pytest
from stellar_sdk import Keypair

from reference_impl.clock import ManualClock
from reference_impl.errors import ConfigurationError
from reference_impl.service.components import Parts
from reference_impl.service.events import EventFeed
from reference_impl.service.faults import FAULTS, check_fault
from reference_impl.service.sequence_pool import PoolExhaustedError, SequencePool, UnknownAccountError
from reference_impl.service.settings import ServiceAccounts, ServiceSettings, SettingsError, read_token
from reference_impl.service.submission import KeyedLocks
from tests.integration.test_service_support import corrupted_secret


def run(coro):
    return asyncio.run(coro)


def test_pool_lends_each_account_to_one_submission_at_a_time():
    """stellar-core queues one transaction per source account (TransactionQueue::canAdd): no pipelining."""
    async def scenario():
        keys = [Keypair.random(), Keypair.random()]
        pool = SequencePool(keys)
        loads = []

        async def load(account_id):
            loads.append(account_id)
            return 100

        async with pool.lease(1) as a1, pool.lease(1) as a2:
            assert a1 is not a2
            with pytest.raises(PoolExhaustedError):  # a third concurrent submission must wait
                async with pool.lease(0.05):
                    pass
            assert [await SequencePool.allocate(a, load) for a in (a1, a2)] == [101, 101]
        async with pool.lease(1) as again:
            assert await SequencePool.allocate(again, load) == 102  # counter kept, loaded once
        assert len(loads) == 2
    run(scenario())


def test_pool_lends_a_warm_account_first_then_the_one_idle_longest():
    """A known counter needs no ledger read (which may be exactly what is failing)."""
    async def scenario():
        pool = SequencePool([Keypair.random() for _ in range(3)])

        async def load(_):
            return 1

        order = []
        for _ in range(3):
            async with pool.lease(1) as account:
                order.append(account.account_id)
        assert len(set(order)) == 3  # all cold: the one idle longest
        async with pool.lease(1) as a, pool.lease(1) as b:
            for acc in (a, b):
                await SequencePool.allocate(acc, load)
        order = []
        for _ in range(4):
            async with pool.lease(1) as account:
                order.append(account.account_id)
        assert order[:2] == order[2:] and set(order) == {a.account_id, b.account_id}
    run(scenario())


def test_not_applied_gives_the_number_back_or_reloads_after_bad_seq():
    async def scenario():
        pool = SequencePool([Keypair.random()])

        async def load(_):
            return 7

        async with pool.lease(1) as account:
            n1 = await SequencePool.allocate(account, load)
            SequencePool.not_applied(account, n1)
            assert await SequencePool.allocate(account, load) == n1
            SequencePool.not_applied(account, n1, bad_seq=True)
            assert account.sequence is None
            assert await SequencePool.allocate(account, load) == 8  # reloaded from the ledger
    run(scenario())


def test_unknown_outcome_quarantines_the_account_until_resolved():
    """While the same bytes may still be queued, anything newer from the account would be refused."""
    async def scenario():
        pool = SequencePool([Keypair.random()])

        async def load(_):
            return 7

        async with pool.lease(1) as account:
            n = await SequencePool.allocate(account, load)
            SequencePool.quarantine(account, "ab" * 32)
        assert pool.quarantined() == 1
        with pytest.raises(PoolExhaustedError):
            async with pool.lease(0.05):
                pass
        waiter = asyncio.create_task(_lease_number(pool, load))
        await asyncio.sleep(0.01)
        await pool.resolved(account.account_id, "cd" * 32, n, applied=False)  # another hash: ignored
        assert pool.quarantined() == 1 and not waiter.done()
        await pool.resolved(account.account_id, "ab" * 32, n, applied=False)  # never applied: number back
        assert await asyncio.wait_for(waiter, 1) == n
    run(scenario())


async def _lease_number(pool, load):
    async with pool.lease(5) as account:
        return await SequencePool.allocate(account, load)


def test_unknown_pool_account_is_a_typed_error():
    async def scenario():
        pool = SequencePool([Keypair.random()])

        async def load(_):
            return None

        async with pool.lease(1) as account:
            with pytest.raises(UnknownAccountError):
                await SequencePool.allocate(account, load)
    run(scenario())
    with pytest.raises(ConfigurationError):
        SequencePool([])


def test_keyed_locks_serialise_one_key_and_forget_idle_keys():
    async def scenario():
        locks, order = KeyedLocks(), []

        async def worker(key, tag):
            async with locks.hold(key):
                order.append(f"{tag}+")
                await asyncio.sleep(0.01)
                order.append(f"{tag}-")

        await asyncio.gather(worker("k", "a"), worker("k", "b"), worker("other", "c"))
        assert order.index("a-") < order.index("b+") or order.index("b-") < order.index("a+")
        assert len(locks) == 0
    run(scenario())


def test_event_feed_pages_in_order_and_stays_bounded():
    clock = ManualClock(wall_start=1000.0)
    feed = EventFeed(capacity=3, clock=clock)
    for i in range(5):
        clock.advance(1)
        feed.publish("alert", {"i": i})
    events, nxt = feed.since(0)
    assert [e.data["i"] for e in events] == [2, 3, 4] and nxt == 6
    assert events[0].t == 1003.0 and events[0].seq == 3
    assert feed.since(nxt) == ([], 6)
    page, nxt2 = feed.since(0, limit=2)
    assert [e.seq for e in page] == [3, 4] and nxt2 == 5
    with pytest.raises(ConfigurationError):
        feed.publish("nonsense", {})


def test_faults_registry_substitutes_real_parts_and_refuses_mainnet():
    assert check_fault(None, "development") is None and check_fault("none", "testnet") is None
    assert check_fault("no-failover", "testnet") == "no-failover"
    with pytest.raises(ConfigurationError, match="valid: "):
        check_fault("explode", "development")
    with pytest.raises(ConfigurationError, match="refused under mainnet"):
        check_fault("no-failover", "mainnet")
    assert {"no-failover", "validator-passes-bad-input", "validator-ignores-amount", "resubmits-failed-tx"} <= set(FAULTS)
    part_names = {f.name for f in fields(Parts)}
    for name, fault in FAULTS.items():  # each fault substitutes one real part, nothing else
        assert fault.description and len(fault.parts) == 1 and set(fault.parts) <= part_names, name
        assert getattr(Parts.for_fault(name), *fault.parts) is not getattr(Parts(), *fault.parts)


def test_accounts_file_validation_never_echoes_secrets(tmp_path):
    good = Keypair.random()
    ok = ServiceAccounts.from_mapping({"settlement_pool": [good.secret], "x402_pay_to": good.public_key,
                                       "escrow": good.secret})
    assert ok.pay_to == good.public_key and good.secret not in repr(ok)
    broken = corrupted_secret(good.secret)
    for data in ({"settlement_pool": [broken], "x402_pay_to": good.public_key, "escrow": good.secret},
                 {"settlement_pool": [], "escrow": good.secret},
                 {"settlement_pool": [good.secret], "x402_pay_to": "nope", "escrow": good.secret},
                 ["not", "an", "object"]):
        with pytest.raises(SettingsError) as error:
            ServiceAccounts.from_mapping(data)
        assert good.secret not in str(error.value) and broken not in str(error.value)
    path = tmp_path / "accounts.json"
    path.write_text("{nope")
    with pytest.raises(SettingsError):
        ServiceAccounts.load(path)
    token = tmp_path / "token"
    token.write_text("short")
    with pytest.raises(SettingsError):
        read_token(token)


def test_settings_resolve_fills_from_config_and_rejects_bad_values():
    kp = Keypair.random()
    accounts = ServiceAccounts((kp,), kp.public_key, kp)
    settings = ServiceSettings(accounts=accounts, environ={}).resolve()
    assert settings.horizon_urls == ["http://127.0.0.1:8000", "http://127.0.0.1:8001"]
    assert settings.submit_timeout == 4.0 and settings.request_deadline == 10.0
    assert "admin_token" not in repr(settings) and kp.secret not in repr(settings)
    with pytest.raises(ConfigurationError):
        ServiceSettings(accounts=accounts, fault="explode", environ={}).resolve()
    with pytest.raises(SettingsError):
        ServiceSettings(accounts=accounts, call_timeout=0, environ={}).resolve()
    assert json.dumps(settings.config.stellar.network)  # the config was really loaded


def test_never_sent_recognises_refused_connections_through_the_exception_chain():
    from stellar_sdk.exceptions import ConnectionError as SdkConnectionError

    from reference_impl.service.stellar_client import never_sent

    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise SdkConnectionError("wrapped") from inner
    except SdkConnectionError as outer:
        assert never_sent(outer)
    assert not never_sent(TimeoutError())
    assert not never_sent(SdkConnectionError("reset by peer"))


def test_result_codes_from_xdr_match_horizon_names():
    """The service decodes an async ERROR's result XDR into Horizon's code strings (internal/codes)."""
    from harness.ledger.results import GENERIC_OP_CODES, INNER_OP_CODES, TX_CODES, OpResult, TxResult
    from reference_impl.service.result_codes import codes_from_result_xdr

    for code in TX_CODES:
        if code not in ("tx_success", "tx_failed", "tx_fee_bump_inner_success", "tx_fee_bump_inner_failed"):
            assert codes_from_result_xdr(TxResult(code, 100).to_xdr()) == {"transaction": code}
    for op_type, (_, _, _, codes) in INNER_OP_CODES.items():
        for code in codes:
            if code != "op_success" or op_type not in ("create_claimable_balance", "invoke_host_function"):
                failed = TxResult("tx_failed", 100, (OpResult(op_type, code),))
                assert codes_from_result_xdr(failed.to_xdr())["operations"] == [code], (op_type, code)
    for code in GENERIC_OP_CODES:
        assert codes_from_result_xdr(TxResult("tx_failed", 100, (OpResult("payment", code),)).to_xdr()) == {
            "transaction": "tx_failed", "operations": [code]}
    bump = TxResult("tx_fee_bump_inner_failed", 200, inner=TxResult("tx_bad_seq"), inner_hash="ab" * 32)
    assert codes_from_result_xdr(bump.to_xdr()) == {"transaction": "tx_fee_bump_inner_failed",
                                                    "inner_transaction": "tx_bad_seq"}
