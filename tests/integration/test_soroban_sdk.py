"""Soroban RPC and the Stellar Asset Contracts through clients nobody here wrote: stellar-sdk's
SorobanServer (Python 16.1.1: simulate -> prepare -> sign -> send -> poll) and the JavaScript SDK 14.6.1
(rpc.Server and contract.AssembledTransaction, the way the x402 `exact` Stellar client and facilitator
use them: typescript/packages/mechanisms/stellar/src/exact/{client,facilitator}/scheme.ts in
coinbase/x402). Shapes follow stellar-rpc (cmd/stellar-rpc/internal/methods/*.go)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from nacl.signing import VerifyKey
from stellar_sdk import Asset, SorobanServer, TransactionBuilder, TransactionEnvelope, scval
from stellar_sdk import xdr as X
from stellar_sdk.auth import authorize_entry
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.http_api import LedgerServer
from harness.ledger.soroban.auth import signature_payload
from tests.node_clients import run_script

pytestmark = pytest.mark.timeout(240)

SEED = 31
PAYER, PAYEE, SUBMITTER, OTHER = (generated_keypair(SEED, i) for i in range(4))
PASSPHRASE = OFFLINE_PASSPHRASE  # the offline network never takes a real network's passphrase
USDC = Asset("USDC", issuer_keypair(SEED).public_key)


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    server = LedgerServer(LedgerConfig(passphrase=PASSPHRASE, close_interval=0.2, seed=SEED, generate_accounts=4,
                                       ports=(0, 0)))
    with server.run_in_thread() as urls:
        yield server, urls[0]


def _usdc(server: LedgerServer, account: str) -> int:
    return next(t.balance for t in server.ledger.trustlines(account) if t.asset == f"USDC:{USDC.issuer}")


def _transfer(rpc: SorobanServer, source: str, frm: str, to: str, amount: int) -> TransactionEnvelope:
    """An unsigned SAC transfer of `source`, built with stellar-sdk's TransactionBuilder."""
    return (TransactionBuilder(rpc.load_account(source), PASSPHRASE, 100)
            .append_invoke_contract_function_op(USDC.contract_id(PASSPHRASE), "transfer", [
                scval.to_address(frm), scval.to_address(to), scval.to_int128(amount)])
            .set_timeout(60).build())


def _poll(rpc: SorobanServer, tx_hash: str) -> object:
    return rpc.poll_transaction(tx_hash, max_attempts=100, sleep_strategy=lambda _: 0.1)


def test_python_soroban_server_pays_with_source_account_credentials(network: tuple[LedgerServer, str]) -> None:
    server, url = network
    rpc = SorobanServer(url + "/soroban/rpc")
    assert rpc.get_network().passphrase == PASSPHRASE and rpc.get_health().status == "healthy"
    before = _usdc(server, PAYEE.public_key)
    tx = _transfer(rpc, PAYER.public_key, PAYER.public_key, PAYEE.public_key, 3_000_000)
    tx = rpc.prepare_transaction(tx)
    assert tx.transaction.fee > 100 and tx.transaction.soroban_data is not None
    tx.sign(PAYER)
    sent = rpc.send_transaction(tx)
    assert sent.status == SendTransactionStatus.PENDING and sent.hash == tx.hash_hex()
    got = _poll(rpc, sent.hash)
    assert got.status == GetTransactionStatus.SUCCESS and got.ledger and got.create_at
    meta = X.TransactionMeta.from_xdr(got.result_meta_xdr)
    assert meta.v3.soroban_meta.return_value.type == X.SCValType.SCV_VOID
    assert _usdc(server, PAYEE.public_key) == before + 3_000_000
    assert server.ledger.check_invariants() == []


def test_python_soroban_server_with_an_auth_entry_and_another_fee_payer(network: tuple[LedgerServer, str]) -> None:
    """The x402 shape in Python: PAYER signs only the auth entry; SUBMITTER is source and fee payer."""
    server, url = network
    rpc = SorobanServer(url + "/soroban/rpc")
    before = _usdc(server, PAYER.public_key)
    tx = _transfer(rpc, SUBMITTER.public_key, PAYER.public_key, PAYEE.public_key, 1_000_000)
    sim = rpc.simulate_transaction(tx)
    assert sim.error is None and len(sim.results[0].auth) == 1
    until = rpc.get_latest_ledger().sequence + 12
    tx.transaction.operations[0].auth = [authorize_entry(e, PAYER, until, PASSPHRASE) for e in sim.results[0].auth]
    tx = rpc.prepare_transaction(tx)
    tx.sign(SUBMITTER)
    got = _poll(rpc, rpc.send_transaction(tx).hash)
    assert got.status == GetTransactionStatus.SUCCESS
    assert _usdc(server, PAYER.public_key) == before - 1_000_000
    again = rpc.send_transaction(tx)
    assert again.status == SendTransactionStatus.TRY_AGAIN_LATER  # an applied envelope is banned for 10 ledgers
    horizon = httpx.get(f"{url}/transactions/{tx.hash_hex()}/operations", timeout=10).json()["_embedded"]["records"]
    assert horizon[0]["type"] == "invoke_host_function" and horizon[0]["transaction_successful"] is True


def test_js_sdk_assembled_transaction_pays_through_a_second_account(network: tuple[LedgerServer, str]) -> None:
    server, url = network
    secondary = server.urls[1]  # the RPC is served on every listener
    out = run_script("soroban_rpc.mjs", {
        "rpcUrl": secondary + "/soroban/rpc", "horizonUrl": url, "passphrase": PASSPHRASE,
        "payerSecret": PAYER.secret, "submitterSecret": OTHER.secret, "payTo": PAYEE.public_key,
        "assetCode": "USDC", "assetIssuer": USDC.issuer, "amount": "12500000"}, timeout_s=180)
    assert out["contractId"] == USDC.contract_id(PASSPHRASE)
    assert out["health"]["status"] == "healthy" and out["network"]["protocolVersion"] == 21
    assert out["instance"] == [{"type": "contractData", "liveUntil": 3_110_400}]
    assert out["firstSimulation"]["ok"] and out["firstSimulation"]["needs"] == [PAYER.public_key]
    assert out["secondSimulation"] == {"ok": True, "needs": [], "error": None}
    signed = X.SorobanAuthorizationEntry.from_xdr(out["signedAuth"])  # the JS SDK's authorizeEntry
    creds = signed.credentials.address
    payload = signature_payload(server.ledger.network_id, creds.nonce.int64, creds.signature_expiration_ledger.uint32,
                                signed.root_invocation)
    (sig,) = scval.from_vec(creds.signature)
    fields = scval.from_struct(sig)
    assert scval.from_bytes(fields["public_key"]) == PAYER.raw_public_key()
    VerifyKey(PAYER.raw_public_key()).verify(payload, scval.from_bytes(fields["signature"]))
    assert out["verifyEvents"] == [{"topics": ["transfer", PAYER.public_key, PAYEE.public_key, f"USDC:{USDC.issuer}"],
                                    "data": "12500000"}]
    assert out["sent"]["status"] == "PENDING"
    got = out["got"]
    assert (got["status"], got["returnValue"], got["metaVersion"], got["events"]) == ("SUCCESS", "scvVoid", 3, 1)
    assert int(out["before"]["payer"]) - int(out["after"]["payer"]) == 12_500_000
    assert int(out["after"]["payTo"]) - int(out["before"]["payTo"]) == 12_500_000
    assert float(out["before"]["horizonPayer"]) - float(out["after"]["horizonPayer"]) == pytest.approx(1.25)
    assert "Error(Auth, ExistingValue)" in out["replaySimulation"]
    assert out["replay"] == {"status": "PENDING", "result": {"status": "FAILED",
                                                             "code": "invokeHostFunctionResourceLimitExceeded"}}
    assert server.ledger.check_invariants() == []


def test_horizon_shows_the_invocation_and_its_balance_changes(network: tuple[LedgerServer, str]) -> None:
    """operations_processor.go for invoke_host_function: Details (function, parameters,
    asset_balance_changes), Participants (changed accounts and trustlines, SAC event addresses), IsPayment."""
    server, url = network
    rpc = SorobanServer(url + "/soroban/rpc")
    tx = _transfer(rpc, PAYEE.public_key, PAYEE.public_key, PAYER.public_key, 2_500_000)
    tx = rpc.prepare_transaction(tx)
    tx.sign(PAYEE)
    assert _poll(rpc, rpc.send_transaction(tx).hash).status == GetTransactionStatus.SUCCESS
    (op,) = httpx.get(f"{url}/transactions/{tx.hash_hex()}/operations", timeout=10).json()["_embedded"]["records"]
    assert op["function"] == "HostFunctionTypeHostFunctionTypeInvokeContract"
    assert [p["type"] for p in op["parameters"]] == ["Address", "Sym", "Address", "Address", "I128"]
    assert X.SCVal.from_xdr(op["parameters"][1]["value"]).sym.sc_symbol == b"transfer"
    assert op["asset_balance_changes"] == [{"from": PAYEE.public_key, "to": PAYER.public_key, "type": "transfer",
                                            "amount": "0.2500000", "asset_type": "credit_alphanum4",
                                            "asset_code": "USDC", "asset_issuer": USDC.issuer}]
    for account in (PAYER.public_key, PAYEE.public_key):  # participants from the changes and SAC events; a payment
        latest = httpx.get(f"{url}/accounts/{account}/payments", params={"order": "desc", "limit": 1}, timeout=10)
        assert latest.json()["_embedded"]["records"][0]["id"] == op["id"]
