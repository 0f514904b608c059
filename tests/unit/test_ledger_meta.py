"""fee_meta_xdr and result_meta_xdr: real XDR that stellar-sdk decodes, describing exactly what changed.

Shape as stellar-core writes it (src/transactions/TransactionMeta.cpp, src/ledger/LedgerTxn.cpp
`getChanges`): a modified entry is STATE (before) then UPDATED (after), a new one CREATED, a deleted
one STATE then REMOVED (its key); the fee is processed first (fee meta: the fee source), the sequence
number is consumed in txChangesBefore, and a failed transaction keeps no operation changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from stellar_sdk import Account, Asset, Claimant, Keypair, TransactionBuilder
from stellar_sdk.xdr import LedgerEntryChanges, LedgerEntryChangeType, TransactionMeta

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import AppliedTx
from reference_impl.clock import ManualClock

SEED = 29
A, B = generated_keypair(SEED, 0), generated_keypair(SEED, 1)


@pytest.fixture()
def ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=2, seed=SEED), clock=ManualClock())


def apply(ledger: Ledger, kp: Keypair, add: Any) -> tuple[AppliedTx, Any]:
    b = TransactionBuilder(Account(kp.public_key, ledger.account(kp.public_key).seq_num), ledger.passphrase, 100)
    env = add(b).set_timeout(600).build()
    env.sign(kp)
    ledger.submit(env.to_xdr())
    applied = ledger.close_ledger().applied[0]
    return applied, TransactionMeta.from_xdr(applied.result_meta_xdr).v3


def summary(changes: Any) -> list[tuple[str, str]]:
    """(change type, entry type) per change."""
    out = []
    for c in changes.ledger_entry_changes:
        entry = c.state or c.updated or c.created
        kind = entry.data.type.name if entry is not None else c.removed.type.name
        out.append((c.type.name.removeprefix("LEDGER_ENTRY_"), kind))
    return out


def test_payment_meta_has_fee_sequence_and_both_accounts(ledger: Ledger) -> None:
    a_before, b_before = ledger.balance_of(A.public_key), ledger.balance_of(B.public_key)
    applied, meta = apply(ledger, A, lambda t: t.append_payment_op(B.public_key, Asset.native(), "2"))
    fee = LedgerEntryChanges.from_xdr(applied.fee_meta_xdr).ledger_entry_changes
    assert [c.type for c in fee] == [LedgerEntryChangeType.LEDGER_ENTRY_STATE, LedgerEntryChangeType.LEDGER_ENTRY_UPDATED]
    assert fee[0].state.data.account.balance.int64 - fee[1].updated.data.account.balance.int64 == 100
    assert fee[1].updated.last_modified_ledger_seq.uint32 == applied.ledger
    assert summary(meta.tx_changes_before) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT")]
    bumped = meta.tx_changes_before.ledger_entry_changes[1].updated.data.account
    assert bumped.seq_num.sequence_number.int64 == applied.seq
    assert bumped.ext.v1.ext.v2.ext.v3.seq_ledger.uint32 == applied.ledger  # AccountEntry extension v3
    (op,) = meta.operations
    assert summary(op.changes) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT")] * 2
    balances = {c.updated.data.account.account_id.account_id.ed25519.uint256: c.updated.data.account.balance.int64
                for c in op.changes.ledger_entry_changes if c.updated}
    assert balances[Keypair.from_public_key(A.public_key).raw_public_key()] == a_before - 100 - 20_000_000
    assert balances[Keypair.from_public_key(B.public_key).raw_public_key()] == b_before + 20_000_000


def test_trustline_created_and_removed(ledger: Ledger) -> None:
    eur = Asset("EUR", B.public_key)
    _, meta = apply(ledger, A, lambda t: t.append_change_trust_op(eur, "10"))
    assert summary(meta.operations[0].changes) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT"),
                                                   ("CREATED", "TRUSTLINE")]
    created = meta.operations[0].changes.ledger_entry_changes[2].created.data.trust_line
    assert created.limit.int64 == 100_000_000 and created.flags.uint32 == 1
    _, meta = apply(ledger, A, lambda t: t.append_change_trust_op(eur, "0"))
    assert summary(meta.operations[0].changes) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT"),
                                                   ("STATE", "TRUSTLINE"), ("REMOVED", "TRUSTLINE")]


def test_claimable_balance_created_with_sponsor_then_removed(ledger: Ledger) -> None:
    build = lambda t: t.append_create_claimable_balance_op(Asset.native(), "3", [Claimant(B.public_key)])  # noqa
    applied, meta = apply(ledger, A, build)
    changes = meta.operations[0].changes.ledger_entry_changes
    assert summary(meta.operations[0].changes) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT"),
                                                   ("CREATED", "CLAIMABLE_BALANCE")]
    entry = changes[2].created
    assert entry.data.claimable_balance.amount.int64 == 30_000_000
    assert entry.ext.v1.sponsoring_id.sponsorship_descriptor.account_id.ed25519.uint256 == \
        Keypair.from_public_key(A.public_key).raw_public_key()
    balance_id = applied.result.operations[0].balance_id
    _, meta = apply(ledger, B, lambda t: t.append_claim_claimable_balance_op(balance_id))
    kinds = summary(meta.operations[0].changes)
    assert ("REMOVED", "CLAIMABLE_BALANCE") in kinds and kinds.count(("UPDATED", "ACCOUNT")) == 2


def test_data_entry_and_failed_transaction(ledger: Ledger) -> None:
    _, meta = apply(ledger, A, lambda t: t.append_manage_data_op("k", b"v"))
    assert ("CREATED", "DATA") in summary(meta.operations[0].changes)
    applied, meta = apply(ledger, A, lambda t: t.append_payment_op(B.public_key, Asset.native(), "1")
                          .append_payment_op(B.public_key, Asset.native(), "999999"))
    assert not applied.successful and meta.operations == []
    assert summary(meta.tx_changes_before) == [("STATE", "ACCOUNT"), ("UPDATED", "ACCOUNT")]
