"""Ledger entries (accounts, trustlines, claimable balances), the fee pool and reserve arithmetic."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from stellar_sdk import StrKey

MAX_SUBENTRIES = 1000
# Account flags (xdr AccountFlags) and trustline flags (xdr TrustLineFlags)
AUTH_REQUIRED, AUTH_REVOCABLE, AUTH_IMMUTABLE, AUTH_CLAWBACK = 1, 2, 4, 8
TL_AUTHORIZED, TL_MAINTAIN_LIABILITIES, TL_CLAWBACK = 1, 2, 4


@dataclass(slots=True)
class Account:
    """An account entry: native balance (stroops), sequence number, thresholds, signers, data, flags.

    `seq_ledger`/`seq_time` are when a transaction last consumed the sequence number (AccountEntry
    extension v3, Horizon's `sequence_ledger`/`sequence_time`); 0 before the first one.
    """

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
    flags: int = 0
    home_domain: str = ""
    inflation_dest: str | None = None
    seq_ledger: int = 0
    seq_time: int = 0

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
            "flags": self.flags, "home_domain": self.home_domain, "inflation_dest": self.inflation_dest,
            "seq_ledger": self.seq_ledger, "seq_time": self.seq_time,
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
            flags=int(obj["flags"]), home_domain=str(obj["home_domain"]),
            inflation_dest=None if obj["inflation_dest"] is None else str(obj["inflation_dest"]),
            seq_ledger=int(obj["seq_ledger"]), seq_time=int(obj["seq_time"]),
        )


@dataclass(slots=True)
class TrustLine:
    """A trustline entry: `account_id` holds `asset` ("CODE:ISSUER") up to `limit`; flags as in xdr."""

    account_id: str
    asset: str
    balance: int
    limit: int
    flags: int
    last_modified_ledger: int = 0
    last_modified_time: int = 0

    @property
    def authorized(self) -> bool:
        return bool(self.flags & TL_AUTHORIZED)

    def clone(self) -> TrustLine:
        return replace(self)

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "asset": self.asset, "balance": self.balance, "limit": self.limit,
                "flags": self.flags, "last_modified_ledger": self.last_modified_ledger,
                "last_modified_time": self.last_modified_time}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrustLine:
        return cls(str(obj["account_id"]), str(obj["asset"]), int(obj["balance"]), int(obj["limit"]),
                   int(obj["flags"]), int(obj["last_modified_ledger"]), int(obj["last_modified_time"]))


@dataclass(slots=True)
class ClaimableBalance:
    """A claimable balance: claimants hold Horizon-style JSON predicates with absolute times."""

    balance_id: str  # 72 hex chars
    amount: int
    sponsor: str
    claimants: list[tuple[str, dict[str, Any]]]
    last_modified_ledger: int = 0
    last_modified_time: int = 0
    asset: str = "native"

    def clone(self) -> ClaimableBalance:
        return replace(self, claimants=list(self.claimants))

    def to_json(self) -> dict[str, Any]:
        return {"balance_id": self.balance_id, "amount": self.amount, "sponsor": self.sponsor,
                "claimants": [[d, p] for d, p in self.claimants], "asset": self.asset,
                "last_modified_ledger": self.last_modified_ledger, "last_modified_time": self.last_modified_time}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ClaimableBalance:
        return cls(balance_id=str(obj["balance_id"]), amount=int(obj["amount"]), sponsor=str(obj["sponsor"]),
                   claimants=[(str(d), dict(p)) for d, p in obj["claimants"]],
                   last_modified_ledger=int(obj["last_modified_ledger"]),
                   last_modified_time=int(obj["last_modified_time"]), asset=str(obj["asset"]))


def iso_time(unix: int) -> str:
    """Unix seconds -> Horizon's `2026-01-01T00:00:00Z`."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_account_id(text: str) -> bool:
    """True for a valid `G...` StrKey (checksum included)."""
    return isinstance(text, str) and StrKey.is_valid_ed25519_public_key(text)


@dataclass(slots=True)
class LedgerState:
    """All ledger entries plus the fee pool; `total_coins` is what the invariants conserve.

    `issued` tracks, per credit asset, how much its issuer has put into circulation (paid out minus
    paid back): the sum of that asset's trustline and claimable balances must equal it.
    `contract_data` holds Soroban CONTRACT_DATA entries (harness.ledger.soroban.contracts.ContractData)
    by their LedgerKey's base64 XDR: SAC instances, contract balances, nonces.
    """

    base_fee: int
    base_reserve: int
    total_coins: int
    accounts: dict[str, Account] = field(default_factory=dict)
    claimable: dict[str, ClaimableBalance] = field(default_factory=dict)
    fee_pool: int = 0
    trustlines: dict[str, dict[str, TrustLine]] = field(default_factory=dict)  # account -> asset -> line
    issued: dict[str, int] = field(default_factory=dict)
    contract_data: dict[str, Any] = field(default_factory=dict)

    def min_balance(self, account: Account) -> int:
        """(2 + subentries + sponsoring) x base reserve."""
        return (2 + account.subentry_count + account.num_sponsoring) * self.base_reserve

    def available(self, account: Account) -> int:
        """Spendable native balance above the minimum balance."""
        return account.balance - self.min_balance(account)

    def lumens_in_circulation(self) -> int:
        return (sum(a.balance for a in self.accounts.values())
                + sum(c.amount for c in self.claimable.values() if c.asset == "native"))

    def trustline(self, account_id: str, asset: str) -> TrustLine | None:
        return self.trustlines.get(account_id, {}).get(asset)

    def trustlines_of(self, account_id: str) -> list[TrustLine]:
        """The account's trustlines in a stable order (asset string)."""
        return sorted(self.trustlines.get(account_id, {}).values(), key=lambda t: t.asset)

    def all_trustlines(self) -> list[TrustLine]:
        return [t for lines in self.trustlines.values() for t in lines.values()]

    def put_trustline(self, line: TrustLine) -> None:
        self.trustlines.setdefault(line.account_id, {})[line.asset] = line

    def drop_trustline(self, account_id: str, asset: str) -> None:
        lines = self.trustlines.get(account_id)
        if lines is not None:
            lines.pop(asset, None)
            if not lines:
                del self.trustlines[account_id]
