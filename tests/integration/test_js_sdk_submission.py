"""The JavaScript Stellar SDK (npm @stellar/stellar-sdk 14.6.1) meets stellar-core's submission rules.

`tests/js/horizon_submit.mjs` runs every scenario through `Horizon.Server` (`submitTransaction`,
`submitAsyncTransaction`, `TransactionBuilder.buildFeeBumpTransaction`, `loadAccount`,
`claimableBalances()`) and reports what the SDK returned or threw; these tests assert it, with the
rule's source:
- one queued tx per source account: stellar-core src/herder/TransactionQueue.cpp `canAdd`;
  async 503 TRY_AGAIN_LATER: stellar-horizon internal/actions/submit_transaction_async.go;
  sync waits then 504 transaction_submission_timeout: internal/txsub/submitter.go + system.go
- strict sequence numbers: src/transactions/TransactionFrame.cpp `isBadSeq`; feeCharged of the
  refusal: `checkValidImpl`
- fee bumps: src/transactions/FeeBumpTransactionFrame.cpp; resource fields:
  internal/resourceadapter/transaction.go `PopulateTransaction`
- trustlines, credit payments, authorization, claimable balances: ChangeTrustOpFrame.cpp,
  PathPaymentOpFrameBase.cpp, SetTrustLineFlagsOpFrame.cpp, ClaimClaimableBalanceOpFrame.cpp;
  balance fields: internal/resourceadapter/balance.go
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.http_api import LedgerServer
from tests.node_clients import run_script

pytestmark = pytest.mark.timeout(240)

SEED = 13
SUBMIT_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def report() -> Iterator[tuple[LedgerServer, dict[str, Any]]]:
    server = LedgerServer(LedgerConfig(close_interval=0.2, submit_timeout=SUBMIT_TIMEOUT, seed=SEED,
                                       generate_accounts=2))
    with server.run_in_thread() as urls:
        result = run_script("horizon_submit.mjs", {
            "horizon": urls[0], "passphrase": server.ledger.passphrase, "usdc_issuer": issuer_keypair(SEED).public_key,
            "usdc_holder_secret": generated_keypair(SEED, 0).secret, "usdc_receiver": generated_keypair(SEED, 1).public_key,
        }, timeout_s=200)
        assert not [k for k, v in result.items() if "scenario_error" in v], result
        yield server, result


def failed_ops(outcome: dict[str, Any]) -> list[str]:
    assert outcome["ok"] is False and outcome["status"] == 400, outcome
    assert outcome["type"] == "https://stellar.org/horizon-errors/transaction_failed"
    return outcome["result_codes"]["operations"]


def test_second_tx_of_a_busy_account(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    server, r = report
    busy = r["busyAccount"]
    assert busy["pending"]["tx_status"] == "PENDING"
    assert busy["async_busy"]["status"] == 503 and busy["async_busy"]["tx_status"] == "TRY_AGAIN_LATER"
    sync = busy["sync_busy"]
    assert sync["status"] == 504 and sync["type"] == "https://stellar.org/horizon-errors/transaction_submission_timeout"
    assert sync["extras_hash"] == busy["async_busy"]["body_hash"] and sync["elapsed_ms"] >= SUBMIT_TIMEOUT * 1000
    assert busy["first_landed"]["successful"] is True and busy["first_landed"]["hash"] == busy["pending"]["hash"]
    assert server.ledger.transaction(sync["extras_hash"]) is None  # the refused tx never reached a ledger


def test_a_sequence_gap_is_tx_bad_seq_at_once(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    _, r = report
    gap = r["badSeq"]
    assert gap["async_gap"]["status"] == 400 and gap["async_gap"]["tx_status"] == "ERROR"
    assert gap["async_gap"]["decoded"] == {"code": "txBadSeq", "fee_charged": "100"}
    assert gap["sync_gap"]["status"] == 400 and gap["sync_gap"]["result_codes"] == {"transaction": "tx_bad_seq"}
    assert gap["sync_gap"]["elapsed_ms"] < SUBMIT_TIMEOUT * 1000  # answered at once, not after a wait


def test_fee_bumps(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    _, r = report
    fb = r["feeBumps"]
    applied = fb["applied"]
    assert applied["successful"] is True and applied["hash"] == fb["bump_hash"]
    assert applied["fee_account"] == fb["fee_source"] and applied["fee_charged"] == "200"
    assert applied["max_fee"] == "400" and applied["source_account"] != fb["fee_source"]
    assert applied["fee_bump_transaction"]["hash"] == fb["bump_hash"]
    assert applied["inner_transaction"]["hash"] == fb["inner_hash"] and applied["inner_transaction"]["max_fee"] == "100"
    assert fb["by_inner_hash"] == {"id": fb["inner_hash"], "fee_account": fb["fee_source"]}
    assert fb["failed"]["result_codes"] == {"transaction": "tx_fee_bump_inner_failed",
                                            "inner_transaction": "tx_failed", "operations": ["op_underfunded"]}


def test_trustlines_and_credit_payments(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    _, r = report
    t = r["trustlines"]
    assert t["change_trust"]["successful"] and t["issue"]["successful"] and t["burn"]["successful"]
    credit = t["holder_balances"][0]
    assert credit["asset_type"] == "credit_alphanum4" and credit["asset_code"] == "EUR"
    assert credit["balance"] == "6.0000000" and credit["limit"] == "10.0000000" and credit["is_authorized"] is True
    assert t["holder_balances"][-1]["asset_type"] == "native"
    for code in ("op_no_trust", "op_line_full", "op_src_no_trust", "op_underfunded", "op_no_issuer",
                 "op_invalid_limit"):
        assert failed_ops(t[code]) == [code], code
    assert t["usdc_payment"]["successful"] is True  # genesis USDC between two generated accounts
    usdc = t["usdc_receiver_balances"][0]
    assert (usdc["asset_code"], usdc["balance"]) == ("USDC", "10001.5000000")


def test_authorization_flags(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    _, r = report
    a = r["authorization"]
    assert a["issuer_flags"]["auth_required"] is True
    assert failed_ops(a["op_not_authorized"]) == ["op_not_authorized"]
    assert failed_ops(a["op_src_not_authorized"]) == ["op_src_not_authorized"]
    assert a["authorize"]["successful"] and a["paid"]["successful"]


def test_credit_claimable_balance(report: tuple[LedgerServer, dict[str, Any]]) -> None:
    _, r = report
    cb = r["claimableBalances"]
    assert cb["create"]["successful"]
    assert cb["listed"][0]["amount"] == "8.0000000" and cb["listed"][0]["asset"].startswith("EUR:G")
    assert failed_ops(cb["claim_without_trustline"]) == ["op_no_trust"]
    assert cb["claim"]["successful"] and cb["claimant_balances"][0]["balance"] == "8.0000000"
