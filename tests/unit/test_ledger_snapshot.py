"""Snapshots round-trip, restored ledgers keep stored outcomes; genesis files and config are validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stellar_sdk import Account, Asset, Claimant, Keypair, Network, TransactionBuilder

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig, format_amount, parse_amount
from harness.ledger.errors import LedgerConfigError
from harness.ledger.genesis import generated_keypair, issuer_keypair, load_seed_accounts, root_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from harness.ledger.snapshot import load_snapshot, save_snapshot
from reference_impl.clock import ManualClock

SEED = 9


def pay(ledger: Ledger, i: int, seq_bump: int = 1) -> str:
    kp = generated_keypair(SEED, i)
    seq = ledger.account(kp.public_key).seq_num + seq_bump - 1
    env = TransactionBuilder(Account(kp.public_key, seq), ledger.passphrase, 100) \
        .append_payment_op(generated_keypair(SEED, 1 - i).public_key, Asset.native(), "3") \
        .add_hash_memo(b"\x07" * 32).set_timeout(600).build()
    env.sign(kp)
    return env.to_xdr()


def test_snapshot_round_trip_keeps_outcomes_and_queue(tmp_path: Path) -> None:
    """Trustlines, issued amounts, claimable balances, queue and ban list all survive a round trip."""
    clock = ManualClock()
    ledger = Ledger(LedgerConfig(auto_close=False, generate_accounts=2, seed=SEED), clock=clock)
    done = pay(ledger, 0)
    ledger.submit(done)
    ledger.close_ledger()
    holder = generated_keypair(SEED, 0)
    usdc = Asset("USDC", issuer_keypair(SEED).public_key)
    escrow = TransactionBuilder(Account(holder.public_key, ledger.account(holder.public_key).seq_num),
                                ledger.passphrase, 100).append_create_claimable_balance_op(
        usdc, "2.5", [Claimant(generated_keypair(SEED, 1).public_key)]).set_timeout(600).build()
    escrow.sign(holder)
    ledger.submit(escrow.to_xdr())
    ledger.close_ledger()
    queued = pay(ledger, 1)
    ledger.submit(queued)
    path = tmp_path / "snap.json"
    save_snapshot(ledger, path)
    restored = Ledger.restore(load_snapshot(path), clock=clock)
    assert restored.snapshot() == ledger.snapshot()
    assert restored.trustlines(holder.public_key) == ledger.trustlines(holder.public_key)
    assert restored.issued(usdc.code + ":" + usdc.issuer) == ledger.issued(usdc.code + ":" + usdc.issuer)
    assert restored.claimable_balances()[0].asset == f"USDC:{usdc.issuer}"
    assert restored.submit(done, endpoint="sync").status is SubmitStatus.KNOWN
    assert restored.submit(done).status is SubmitStatus.TRY_AGAIN_LATER  # the ban list came along
    assert restored.submit(queued).status is SubmitStatus.DUPLICATE
    closed = restored.close_ledger()
    assert [t.hash for t in closed.applied] == [restored.submit(queued).hash]
    applied = [r for r in restored.history() if r["kind"] == "applied"]
    assert [r["memo_hash"] for r in applied] == ["07" * 32, None, "07" * 32]
    assert restored.check_invariants() == []


def test_restore_rejects_bad_snapshots(tmp_path: Path) -> None:
    ledger = Ledger(LedgerConfig(auto_close=False), clock=ManualClock())
    data = ledger.snapshot()
    with pytest.raises(LedgerConfigError):
        Ledger.restore({"version": 99})
    with pytest.raises(LedgerConfigError):
        Ledger.restore(data, LedgerConfig(passphrase="Standalone Network ; February 2017"))
    broken = dict(data, accounts=[{"account_id": "x"}])
    with pytest.raises(LedgerConfigError):
        Ledger.restore(broken)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LedgerConfigError):
        load_snapshot(tmp_path / "bad.json")
    with pytest.raises(LedgerConfigError):
        load_snapshot(tmp_path / "missing.json")


def test_seed_accounts_file(tmp_path: Path) -> None:
    kp = Keypair.random()
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"account_id": kp.public_key, "balance": "123.4500000"}]))
    accounts = load_seed_accounts(path)
    ledger = Ledger(LedgerConfig(auto_close=False, genesis_accounts=accounts), clock=ManualClock())
    assert ledger.balance_of(kp.public_key) == 1_234_500_000
    assert ledger.account(kp.public_key).seq_num == 1 << 32
    assert ledger.check_invariants() == []


@pytest.mark.parametrize("content, fragment", [
    ("{}", "JSON list"),
    ("[{\"account_id\": \"GBAD\", \"balance\": \"1\"}]", "account_id"),
    ("[{\"account_id\": \"%s\", \"balance\": 5}]", "decimal string"),
    ("[{\"account_id\": \"%s\", \"balance\": \"1.123456789\"}]", "7 decimals"),
    ("[{\"account_id\": \"%s\", \"balance\": \"-1\"}]", "positive"),
    ("[{\"account_id\": \"%s\"}]", "must have the keys account_id and balance"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"extra\": 1}]", "must have the keys"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"trustlines\": {}}]", "trustlines must be a list"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"trustlines\": [{}]}]", r"trustlines\[0\] must be an object"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"trustlines\": [{\"asset\": \"US D\"}]}]", "CODE:ISSUER"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"trustlines\": [{\"asset\": \"USDC\", \"balance\": \"2\","
     " \"limit\": \"1\"}]}]", "above its limit"),
    ("[{\"account_id\": \"%s\", \"balance\": \"5\", \"trustlines\": [{\"asset\": \"USDC\", \"authorized\": 1}]}]",
     "true or false"),
    ("[not json", "not JSON"),
])
def test_bad_seed_accounts_files(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(content.replace("%s", Keypair.random().public_key))
    with pytest.raises(LedgerConfigError, match=fragment):
        load_seed_accounts(path)


@pytest.mark.parametrize("passphrase", [Network.PUBLIC_NETWORK_PASSPHRASE, Network.TESTNET_NETWORK_PASSPHRASE,
                                        Network.FUTURENET_NETWORK_PASSPHRASE, "", "   ", "x" * 257])
def test_the_offline_network_never_takes_a_real_networks_passphrase(passphrase: str) -> None:
    """Whatever environment a run judges, nothing signed for the offline network may be valid on a real
    one: every signature covers the network id, sha256 of the passphrase (stellar-core
    src/main/ApplicationImpl.cpp: mNetworkID = sha256(mConfig.NETWORK_PASSPHRASE); the hash a
    TransactionFrame signs is built from that network id, src/transactions/TransactionFrame.cpp)."""
    with pytest.raises(LedgerConfigError):
        LedgerConfig(passphrase=passphrase)


def test_config_and_amount_validation() -> None:
    assert LedgerConfig().passphrase == OFFLINE_PASSPHRASE
    assert LedgerConfig(passphrase="Standalone Network ; February 2017").passphrase.startswith("Standalone")
    for bad in [dict(close_interval=0),
                dict(host="0.0.0.0"), dict(ports=()), dict(base_fee=0), dict(submit_timeout=-1)]:
        with pytest.raises(LedgerConfigError):
            LedgerConfig(**bad)  # type: ignore[arg-type]
    assert parse_amount("1.5") == 15_000_000 and format_amount(15_000_000) == "1.5000000"
    assert format_amount(-1) == "-0.0000001"


def test_root_account_is_derived_from_the_passphrase_and_holds_the_rest() -> None:
    ledger = Ledger(LedgerConfig(auto_close=False, generate_accounts=2, seed=SEED), clock=ManualClock())
    root = root_keypair(ledger.passphrase).public_key
    others = [generated_keypair(SEED, i).public_key for i in range(2)] + [issuer_keypair(SEED).public_key]
    total = ledger.balance_of(root) + sum(ledger.balance_of(k) for k in others)
    assert total == ledger.snapshot()["total_coins"]
    assert generated_keypair(SEED, 0).public_key != generated_keypair(SEED + 1, 0).public_key
