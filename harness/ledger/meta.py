"""Ledger entries as XDR and the `LedgerEntryChanges` / `TransactionMeta` (v3) of an applied transaction.

Each changed entry yields what stellar-core's LedgerTxn::getChanges emits: STATE (before) then
UPDATED (after) for a modified entry, CREATED for a new one, STATE then REMOVED (its key) for a
deleted one. The meta of a failed transaction has no operation changes (core drops them). A Soroban
contract data entry comes with its TTL entry, changed when the entry is created, removed or its
`live_until` moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stellar_sdk import StrKey
from stellar_sdk import xdr as X

from harness.ledger.assets import account_id_xdr, to_trustline_xdr, to_xdr
from harness.ledger.journal import Key
from harness.ledger.predicates import predicate_from_json
from harness.ledger.soroban.contracts import ttl_key
from harness.ledger.state import Account, ClaimableBalance, TrustLine

T = X.LedgerEntryType
C = X.LedgerEntryChangeType


def _account_ext(account: Account) -> X.AccountEntryExt:
    if not account.num_sponsoring and not account.seq_ledger:
        return X.AccountEntryExt(0)
    v3 = X.AccountEntryExtensionV3(X.ExtensionPoint(0), X.Uint32(account.seq_ledger),
                                   X.TimePoint(X.Uint64(account.seq_time)))
    v2 = X.AccountEntryExtensionV2(
        X.Uint32(0), X.Uint32(account.num_sponsoring), [X.SponsorshipDescriptor(None)] * len(account.signers),
        X.AccountEntryExtensionV2Ext(3, v3=v3) if account.seq_ledger else X.AccountEntryExtensionV2Ext(0))
    v1 = X.AccountEntryExtensionV1(X.Liabilities(X.Int64(0), X.Int64(0)), X.AccountEntryExtensionV1Ext(2, v2=v2))
    return X.AccountEntryExt(1, v1=v1)


def account_entry(account: Account) -> X.LedgerEntryData:
    signers = [X.Signer(X.SignerKey(X.SignerKeyType.SIGNER_KEY_TYPE_ED25519,
                                    ed25519=X.Uint256(StrKey.decode_ed25519_public_key(key))), X.Uint32(weight))
               for key, weight in sorted(account.signers.items())]
    entry = X.AccountEntry(
        account_id_xdr(account.account_id), X.Int64(account.balance), X.SequenceNumber(X.Int64(account.seq_num)),
        X.Uint32(account.subentry_count),
        account_id_xdr(account.inflation_dest) if account.inflation_dest else None, X.Uint32(account.flags),
        X.String32(account.home_domain.encode()),
        X.Thresholds(bytes([account.master_weight, account.low_threshold, account.med_threshold,
                            account.high_threshold])),
        signers, _account_ext(account))
    return X.LedgerEntryData(T.ACCOUNT, account=entry)


def trustline_entry(line: TrustLine) -> X.LedgerEntryData:
    entry = X.TrustLineEntry(account_id_xdr(line.account_id), to_trustline_xdr(line.asset), X.Int64(line.balance),
                             X.Int64(line.limit), X.Uint32(line.flags), X.TrustLineEntryExt(0))
    return X.LedgerEntryData(T.TRUSTLINE, trust_line=entry)


def claimable_entry(balance: ClaimableBalance) -> X.LedgerEntryData:
    claimants = [X.Claimant(X.ClaimantType.CLAIMANT_TYPE_V0,
                            v0=X.ClaimantV0(account_id_xdr(d), predicate_from_json(p))) for d, p in balance.claimants]
    entry = X.ClaimableBalanceEntry(X.ClaimableBalanceID.from_xdr_bytes(bytes.fromhex(balance.balance_id)),
                                    claimants, to_xdr(balance.asset), X.Int64(balance.amount),
                                    X.ClaimableBalanceEntryExt(0))
    return X.LedgerEntryData(T.CLAIMABLE_BALANCE, claimable_balance=entry)


def data_entry(account_id: str, name: str, value: bytes) -> X.LedgerEntryData:
    entry = X.DataEntry(account_id_xdr(account_id), X.String64(name.encode()), X.DataValue(value),
                        X.DataEntryExt(0))
    return X.LedgerEntryData(T.DATA, data=entry)


def ledger_key(key: Key) -> X.LedgerKey:
    kind = key[0]
    if kind == "contract":
        return X.LedgerKey.from_xdr(key[1])
    if kind == "ttl":
        return ttl_key(X.LedgerKey.from_xdr(key[1]))
    if kind == "account":
        return X.LedgerKey(T.ACCOUNT, account=X.LedgerKeyAccount(account_id_xdr(key[1])))
    if kind == "trustline":
        return X.LedgerKey(T.TRUSTLINE, trust_line=X.LedgerKeyTrustLine(account_id_xdr(key[1]),
                                                                        to_trustline_xdr(key[2])))
    if kind == "claimable":
        balance_id = X.ClaimableBalanceID.from_xdr_bytes(bytes.fromhex(key[1]))
        return X.LedgerKey(T.CLAIMABLE_BALANCE, claimable_balance=X.LedgerKeyClaimableBalance(balance_id))
    return X.LedgerKey(T.DATA, data=X.LedgerKeyData(account_id_xdr(key[1]), X.String64(key[2].encode())))


def ledger_entry(key: Key, value: Any, last_modified: int) -> X.LedgerEntry:
    """The LedgerEntry of journal `value` under `key`; sponsored claimable balances carry their sponsor."""
    ext = X.LedgerEntryExt(0)
    if key[0] == "contract":
        return X.LedgerEntry(X.Uint32(last_modified), value.ledger_entry().data, ext)
    if key[0] == "ttl":
        ttl = X.TTLEntry(ttl_key(X.LedgerKey.from_xdr(key[1])).ttl.key_hash, X.Uint32(value.live_until))  # type: ignore[union-attr]
        return X.LedgerEntry(X.Uint32(last_modified), X.LedgerEntryData(T.TTL, ttl=ttl), ext)
    if key[0] == "account":
        data = account_entry(value)
    elif key[0] == "trustline":
        data = trustline_entry(value)
    elif key[0] == "claimable":
        data = claimable_entry(value)
        sponsor = X.SponsorshipDescriptor(account_id_xdr(value.sponsor))
        ext = X.LedgerEntryExt(1, v1=X.LedgerEntryExtensionV1(sponsor, X.LedgerEntryExtensionV1Ext(0)))
    else:
        data = data_entry(key[1], key[2], value)
    return X.LedgerEntry(X.Uint32(last_modified), data, ext)


def _modified(value: Any, fallback: int) -> int:
    return int(getattr(value, "last_modified_ledger", fallback) or fallback)


def entry_changes(changed: Iterable[tuple[Key, Any, Any]], ledger_seq: int) -> list[X.LedgerEntryChange]:
    """Core's change list for (key, before, after) triples (after None = removed, before None = created)."""
    out: list[X.LedgerEntryChange] = []
    for key, before, after in _with_ttls(changed):
        if before is None:
            out.append(X.LedgerEntryChange(C.LEDGER_ENTRY_CREATED,
                                           created=ledger_entry(key, after, _modified(after, ledger_seq))))
            continue
        out.append(X.LedgerEntryChange(C.LEDGER_ENTRY_STATE, state=ledger_entry(key, before, _modified(before, 1))))
        if after is None:
            out.append(X.LedgerEntryChange(C.LEDGER_ENTRY_REMOVED, removed=ledger_key(key)))
        else:
            out.append(X.LedgerEntryChange(C.LEDGER_ENTRY_UPDATED,
                                           updated=ledger_entry(key, after, _modified(after, ledger_seq))))
    return out


def _with_ttls(changed: Iterable[tuple[Key, Any, Any]]) -> list[tuple[Key, Any, Any]]:
    """Each contract data change followed by its TTL entry's change when the TTL entry changed."""
    out = []
    for key, before, after in changed:
        out.append((key, before, after))
        if key[0] == "contract" and (before is None or after is None or before.live_until != after.live_until):
            out.append((("ttl", key[1]), before, after))
    return out


def changes_xdr(changes: list[X.LedgerEntryChange]) -> str:
    return X.LedgerEntryChanges(changes).to_xdr()


def transaction_meta_xdr(before: list[X.LedgerEntryChange], operations: list[list[X.LedgerEntryChange]],
                         after: list[X.LedgerEntryChange] | None = None,
                         soroban: X.SorobanTransactionMeta | None = None) -> str:
    """Base64 TransactionMeta v3: txChangesBefore, one OperationMeta per operation, txChangesAfter (a
    Soroban fee refund) and sorobanMeta."""
    meta = X.TransactionMetaV3(X.ExtensionPoint(0), X.LedgerEntryChanges(before),
                               [X.OperationMeta(X.LedgerEntryChanges(ops)) for ops in operations],
                               X.LedgerEntryChanges(after or []), soroban)
    return X.TransactionMeta(3, v3=meta).to_xdr()
