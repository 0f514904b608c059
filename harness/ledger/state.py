"""Ledger entries (accounts, claimable balances), the fee pool and reserve arithmetic."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from stellar_sdk import StrKey
from stellar_sdk import xdr as X

MAX_SUBENTRIES = 1000


@dataclass(slots=True)
class Account:
    """An account entry: native balance (stroops), sequence number, thresholds, signers, data."""

    account_id: str
    balance: int
    seq_num: int
    master_weight: int = 1
    low_threshold: int = 0
    med_threshold: int = 0
    high_threshold: int = 0
    signers: dict[str, int] = field(default_factory=dict)  # extra ed25519 signers: G... -> weight
    data: dict[str, bytes] = field(default_factory=dict)
    subentry_count: int = 0
    num_sponsoring: int = 0
    last_modified_ledger: int = 0
    last_modified_time: int = 0

    def clone(self) -> Account:
        """An independent copy (cheaper than copy.deepcopy: only the two dicts are mutable)."""
        return replace(self, signers=dict(self.signers), data=dict(self.data))

    def signer_weights(self) -> dict[str, int]:
        """Every key that may sign for this account with its weight (master key included)."""
        weights = {self.account_id: self.master_weight} if self.master_weight > 0 else {}
        weights.update({k: w for k, w in self.signers.items() if w > 0})
        return weights

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "balance": self.balance, "seq_num": self.seq_num,
            "master_weight": self.master_weight, "thresholds": [self.low_threshold, self.med_threshold,
                                                                self.high_threshold],
            "signers": dict(self.signers), "data": {k: base64.b64encode(v).decode() for k, v in self.data.items()},
            "subentry_count": self.subentry_count, "num_sponsoring": self.num_sponsoring,
            "last_modified_ledger": self.last_modified_ledger, "last_modified_time": self.last_modified_time,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Account:
        low, med, high = obj["thresholds"]
        return cls(
            account_id=str(obj["account_id"]), balance=int(obj["balance"]), seq_num=int(obj["seq_num"]),
            master_weight=int(obj["master_weight"]), low_threshold=int(low), med_threshold=int(med),
            high_threshold=int(high), signers={str(k): int(v) for k, v in obj["signers"].items()},
            data={str(k): base64.b64decode(v) for k, v in obj["data"].items()},
            subentry_count=int(obj["subentry_count"]), num_sponsoring=int(obj["num_sponsoring"]),
            last_modified_ledger=int(obj["last_modified_ledger"]), last_modified_time=int(obj["last_modified_time"]),
        )


@dataclass(slots=True)
class ClaimableBalance:
    """A claimable balance (native asset): claimants hold Horizon-style JSON predicates, absolute times."""

    balance_id: str  # 72 hex chars
    amount: int
    sponsor: str
    claimants: list[tuple[str, dict[str, Any]]]
    last_modified_ledger: int = 0
    last_modified_time: int = 0

    def clone(self) -> ClaimableBalance:
        return replace(self, claimants=list(self.claimants))

    def to_json(self) -> dict[str, Any]:
        return {"balance_id": self.balance_id, "amount": self.amount, "sponsor": self.sponsor,
                "claimants": [[d, p] for d, p in self.claimants],
                "last_modified_ledger": self.last_modified_ledger, "last_modified_time": self.last_modified_time}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ClaimableBalance:
        return cls(balance_id=str(obj["balance_id"]), amount=int(obj["amount"]), sponsor=str(obj["sponsor"]),
                   claimants=[(str(d), dict(p)) for d, p in obj["claimants"]],
                   last_modified_ledger=int(obj["last_modified_ledger"]),
                   last_modified_time=int(obj["last_modified_time"]))


def iso_time(unix: int) -> str:
    """Unix seconds -> Horizon's `2026-01-01T00:00:00Z`."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def predicate_to_json(predicate: X.ClaimPredicate, close_time: int, depth: int = 0) -> dict[str, Any]:
    """XDR ClaimPredicate -> Horizon JSON; relative deadlines become absolute at `close_time`."""
    if depth > 8:
        raise ValueError("claim predicate nested too deeply")
    T = X.ClaimPredicateType
    kind = predicate.type
    if kind == T.CLAIM_PREDICATE_UNCONDITIONAL:
        return {"unconditional": True}
    if kind in (T.CLAIM_PREDICATE_AND, T.CLAIM_PREDICATE_OR):
        parts = predicate.and_predicates if kind == T.CLAIM_PREDICATE_AND else predicate.or_predicates
        key = "and" if kind == T.CLAIM_PREDICATE_AND else "or"
        return {key: [predicate_to_json(p, close_time, depth + 1) for p in parts or []]}
    if kind == T.CLAIM_PREDICATE_NOT:
        assert predicate.not_predicate is not None
        return {"not": predicate_to_json(predicate.not_predicate, close_time, depth + 1)}
    if kind == T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        assert predicate.abs_before is not None
        deadline = predicate.abs_before.int64
    else:
        assert predicate.rel_before is not None
        deadline = min(close_time + predicate.rel_before.int64, 2**63 - 1)
    return {"abs_before": iso_time(max(0, min(deadline, 253402300799))), "abs_before_epoch": str(deadline)}


def predicate_is_valid(predicate: X.ClaimPredicate, depth: int = 1) -> bool:
    """stellar-core's validity rule: and/or have two parts, times are non-negative, depth <= 4."""
    if depth > 4:
        return False
    T = X.ClaimPredicateType
    kind = predicate.type
    if kind in (T.CLAIM_PREDICATE_AND, T.CLAIM_PREDICATE_OR):
        parts = predicate.and_predicates if kind == T.CLAIM_PREDICATE_AND else predicate.or_predicates
        return parts is not None and len(parts) == 2 and all(predicate_is_valid(p, depth + 1) for p in parts)
    if kind == T.CLAIM_PREDICATE_NOT:
        return predicate.not_predicate is not None and predicate_is_valid(predicate.not_predicate, depth + 1)
    if kind == T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        return predicate.abs_before is not None and predicate.abs_before.int64 >= 0
    if kind == T.CLAIM_PREDICATE_BEFORE_RELATIVE_TIME:
        return predicate.rel_before is not None and predicate.rel_before.int64 >= 0
    return True


def predicate_holds(predicate: dict[str, Any], close_time: int, depth: int = 0) -> bool:
    """Evaluate a JSON predicate at a ledger close time (depth-bounded like core's 4 levels)."""
    if depth > 8:
        return False
    if predicate.get("unconditional"):
        return True
    if "and" in predicate:
        return all(predicate_holds(p, close_time, depth + 1) for p in predicate["and"])
    if "or" in predicate:
        return any(predicate_holds(p, close_time, depth + 1) for p in predicate["or"])
    if "not" in predicate:
        return not predicate_holds(predicate["not"], close_time, depth + 1)
    if "abs_before_epoch" in predicate:
        return close_time < int(predicate["abs_before_epoch"])
    return False


def is_account_id(text: str) -> bool:
    """True for a valid `G...` StrKey (checksum included)."""
    return isinstance(text, str) and StrKey.is_valid_ed25519_public_key(text)


@dataclass(slots=True)
class LedgerState:
    """All ledger entries plus the fee pool; `total_coins` is what the invariants conserve."""

    base_fee: int
    base_reserve: int
    total_coins: int
    accounts: dict[str, Account] = field(default_factory=dict)
    claimable: dict[str, ClaimableBalance] = field(default_factory=dict)
    fee_pool: int = 0

    def min_balance(self, account: Account) -> int:
        """(2 + subentries + sponsoring) x base reserve."""
        return (2 + account.subentry_count + account.num_sponsoring) * self.base_reserve

    def available(self, account: Account) -> int:
        """Spendable native balance above the minimum balance."""
        return account.balance - self.min_balance(account)

    def lumens_in_circulation(self) -> int:
        return sum(a.balance for a in self.accounts.values()) + sum(c.amount for c in self.claimable.values())
