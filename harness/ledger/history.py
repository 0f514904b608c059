"""Append-only history of submissions and applied transactions, the access log, and the invariants."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.ledger.soroban.contracts import contract_holdings
from harness.ledger.state import LedgerState

HISTORY_KINDS = ("submission", "applied", "dropped", "timeout", "close", "invariant_violation")
ACCESS_FIELDS = ("t", "listener", "method", "path", "status")


class History:
    """Records are dicts with `index`, `kind` and `t`; they are never changed or removed once appended."""

    def __init__(self, records: Iterable[dict[str, Any]] = ()) -> None:
        self._records: list[dict[str, Any]] = []
        for record in records:
            self.append(dict(record))

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        if record.get("kind") not in HISTORY_KINDS:
            raise ValueError(f"unknown history kind {record.get('kind')!r}")
        record["index"] = len(self._records)
        self._records.append(record)
        return record

    def since(self, index: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Records from `index` on, at most `limit` (copies, so callers cannot alter the history)."""
        start = max(0, index)
        end = None if limit is None else start + max(0, limit)
        return [dict(r) for r in self._records[start:end]]

    def __len__(self) -> int:
        return len(self._records)

    def write_jsonl(self, path: Path) -> int:
        """Write every record as one JSON line; returns the count."""
        with Path(path).open("w") as fh:
            for record in self._records:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        return len(self._records)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read history records written by `History.write_jsonl` (or polled from /admin/history)."""
    with Path(path).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


class AccessLog:
    """Every HTTP request any listener answered: (t, listener, method, path, status), compact tuples."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, int, str, str, int]] = []

    def append(self, t: float, listener: int, method: str, path: str, status: int) -> None:
        self._entries.append((t, listener, method, path, status))

    def since(self, index: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        start = max(0, index)
        end = None if limit is None else start + max(0, limit)
        return [dict(zip(("index", *ACCESS_FIELDS), (start + i, *e), strict=True))
                for i, e in enumerate(self._entries[start:end])]

    def __len__(self) -> int:
        return len(self._entries)


def check_invariants(state: LedgerState) -> list[str]:
    """Violations of: lumens conserved, no negative balance, no account below its minimum balance,
    and per credit asset: trustline + claimable balances + contract balances (what C-addresses hold
    through the asset's SAC) = the issued amount, no trustline negative or above its limit. A G-address's
    SAC balance is its account or trustline itself, so it needs no check of its own.

    (Sequence-number monotonicity is checked by the ledger as each transaction is applied.)
    """
    violations: list[str] = []
    in_contracts, problems = contract_holdings(state)
    violations += problems
    total = state.lumens_in_circulation() + in_contracts.get("native", 0) + state.fee_pool
    if total != state.total_coins:
        violations.append(f"lumens not conserved: accounts+balances+fee pool = {total}, expected {state.total_coins}")
    if state.fee_pool < 0:
        violations.append(f"negative fee pool {state.fee_pool}")
    for account in state.accounts.values():
        if account.balance < 0:
            violations.append(f"negative balance {account.balance} on {account.account_id}")
        elif account.balance < state.min_balance(account):
            violations.append(f"{account.account_id} below its minimum balance: {account.balance} < "
                              f"{state.min_balance(account)}")
    for balance in state.claimable.values():
        if balance.amount <= 0:
            violations.append(f"claimable balance {balance.balance_id} holds {balance.amount}")
    return violations + _asset_violations(state, in_contracts)


def _asset_violations(state: LedgerState, in_contracts: dict[str, int]) -> list[str]:
    violations: list[str] = []
    held = {asset: amount for asset, amount in in_contracts.items() if asset != "native"}
    for line in state.all_trustlines():
        held[line.asset] = held.get(line.asset, 0) + line.balance
        if not 0 <= line.balance <= line.limit:
            violations.append(f"trustline {line.asset} of {line.account_id} holds {line.balance} "
                              f"(limit {line.limit})")
    for balance in state.claimable.values():
        if balance.asset != "native":
            held[balance.asset] = held.get(balance.asset, 0) + balance.amount
    for asset in sorted(set(held) | set(state.issued)):
        if held.get(asset, 0) != state.issued.get(asset, 0):
            violations.append(f"{asset} not conserved: trustlines+balances = {held.get(asset, 0)}, "
                              f"issued {state.issued.get(asset, 0)}")
    return violations
