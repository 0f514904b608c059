"""The service in stellar-core's strict world: TRY_AGAIN_LATER is a retryable refusal that applies
nothing, and escrows ride channel accounts.

Sources: stellar-core src/herder/TransactionQueue.cpp `canAdd` (a source account with a queued
transaction gets TRY_AGAIN_LATER; a sequence number other than current + 1 is txBAD_SEQ via
src/transactions/TransactionFrame.cpp `isBadSeq`); src/transactions/CreateClaimableBalanceOpFrame.cpp
(the operation's source funds and sponsors the balance; its id derives from the transaction's source).
"""

from __future__ import annotations

import threading
import time

import pytest
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from harness.ledger.config import OFFLINE_PASSPHRASE
from tests.integration.test_service_support import running_stack, wait_for

pytestmark = pytest.mark.timeout(90)
DID = "did:web:agent.example.com"


def queue_external(stack, kp: Keypair) -> str:
    """Queue a transaction from `kp` straight into the ledger (as another wallet of the same key would)."""
    seq = stack.ledger.ledger.account(kp.public_key).seq_num
    env = TransactionBuilder(Account(kp.public_key, seq), OFFLINE_PASSPHRASE, 100).append_payment_op(
        stack.keys[10].public_key, Asset.native(), "0.5").set_timeout(60).build()
    env.sign(kp)
    assert stack.ledger.ledger.submit(env.to_xdr()).status.value == "PENDING"
    return env.hash_hex()


def settle(stack, key: str):
    return stack.http.post("/settlements", json={"destination": stack.keys[9].public_key, "amount": "1",
                                                 "agent_did": DID}, headers={"Idempotency-Key": key})


def test_try_again_later_is_retried_then_refused_with_nothing_applied():
    """Both pool accounts already have a queued transaction: every retry meets TRY_AGAIN_LATER, the
    request answers 503 (nothing applied, the sequence number given back), the retries are in the
    event feed; after a close the next settlement goes through."""
    with running_stack(auto_close=False) as stack:
        pool = [stack.keys[0], stack.keys[1]]
        external = [queue_external(stack, kp) for kp in pool]
        refused = settle(stack, "tal-1")
        assert refused.status_code == 503 and refused.json()["error"] == "unavailable", refused.text
        retries = stack.events("submission.retry")
        assert len(retries) == 2 and all(e["data"]["cause"] == "TRY_AGAIN_LATER" for e in retries)
        assert [e["data"]["attempt"] for e in retries] == [1, 2]
        assert stack.ledger.ledger.pending_count() == 2  # only the external ones: nothing of the service
        assert [t.hash for t in stack.ledger.ledger.close_ledger().applied] == external
        closer = threading.Thread(target=lambda: (time.sleep(0.5), stack.ledger.ledger.close_ledger()))
        closer.start()
        done = settle(stack, "tal-2")
        closer.join()
        assert done.status_code == 200, done.text
        history = stack.ledger.ledger.history()
        service_txs = [r for r in history if r["kind"] == "submission" and r["endpoint"] == "async"
                       and r["source"] in {kp.public_key for kp in pool} and r["hash"] not in external]
        # tal-1: three refusals; tal-2: the number given back is stale after the external tx (tx_bad_seq),
        # the counter reloads and the rebuilt transaction is queued
        assert [r["outcome"] for r in service_txs] == ["try_again_later"] * 3 + ["rejected", "queued"]
        assert service_txs[3]["codes"] == {"transaction": "tx_bad_seq"}


def test_escrow_rides_a_channel_account_and_the_escrow_account_sponsors():
    with running_stack() as stack:
        payee = stack.keys[9].public_key
        response = stack.http.post("/contracts/escrow", headers={"Idempotency-Key": "esc-ch"}, json={
            "agent_did": DID, "payee": payee, "amount": "2", "deadline_seconds": 600})
        assert response.status_code == 200, response.text
        body = response.json()
        applied = wait_for(lambda: [r for r in stack.applied() if r["hash"] == body["tx_hash"]])
        escrow = stack.keys[3].public_key
        assert applied[0]["source"] in {stack.keys[0].public_key, stack.keys[1].public_key}
        assert applied[0]["operations"][0]["source"] == escrow
        balance = stack.ledger.ledger.claimable_balance(body["balance_id"])
        assert balance is not None and balance.sponsor == escrow


def test_a_copy_applied_behind_a_lost_answer_is_found_not_refused():
    """The primary admits a settlement but its answer is lost; the ledger applies it and, like
    stellar-core, bans the applied envelope (src/herder/TransactionQueue.cpp `removeApplied`: "Ban
    applied tx"; `canAdd` answers TRY_AGAIN_LATER for a banned hash), so the same bytes sent to the
    secondary meet TRY_AGAIN_LATER. After a try that may have arrived that is no proof that nothing
    was applied: the service looks the hash up and answers 200, never a 503 for money that moved
    (the nightly run's timeout toxic on the primary showed it)."""
    with running_stack(auto_close=False, call_timeout=0.5) as stack:
        stack.proxies[0].set_mode("blackhole")  # requests reach the ledger, answers are dropped

        def close_once_admitted() -> None:
            wait_for(lambda: stack.ledger.ledger.pending_count() >= 1, timeout=20, interval=0.01)
            stack.ledger.ledger.close_ledger()

        closer = threading.Thread(target=close_once_admitted)
        closer.start()
        response = settle(stack, "lost-answer")
        closer.join()
        assert response.status_code == 200, response.text
        tx_hash = response.json()["tx_hash"]
        assert [r["hash"] for r in stack.applied()].count(tx_hash) == 1
        outcomes = [r["outcome"] for r in stack.ledger.ledger.history()
                    if r["kind"] == "submission" and r["hash"] == tx_hash]
        assert outcomes[0] == "queued" and "try_again_later" in outcomes  # admitted via the primary, refused after
