"""Before-images of the ledger entries a transaction or operation touches: rollback and meta.

Keys: `("account", G...)`, `("trustline", G..., asset)`, `("claimable", balance_id)`,
`("data", G..., name)`, `("contract", ledger key base64)` (Soroban contract data) and `("issued", asset)`
(the issued-amount counter, rolled back but never in meta). An operation runs against its own journal; when it succeeds its images merge into the
transaction's journal (the earliest image wins), so a failed transaction rolls back to where it began.
"""

from __future__ import annotations

from typing import Any

from harness.ledger.state import Account, ClaimableBalance, LedgerState, TrustLine

Key = tuple[str, ...]


class Journal:
    """Records each entry's state the first time it is loaded for writing."""

    def __init__(self, state: LedgerState) -> None:
        self.state = state
        self.before: dict[Key, Any] = {}

    def account(self, account_id: str) -> Account | None:
        current = self.state.accounts.get(account_id)
        key = ("account", account_id)
        if key not in self.before:
            self.before[key] = current.clone() if current is not None else None
        return current

    def trustline(self, account_id: str, asset: str) -> TrustLine | None:
        current = self.state.trustline(account_id, asset)
        key = ("trustline", account_id, asset)
        if key not in self.before:
            self.before[key] = current.clone() if current is not None else None
        return current

    def balance(self, balance_id: str) -> ClaimableBalance | None:
        current = self.state.claimable.get(balance_id)
        key = ("claimable", balance_id)
        if key not in self.before:
            self.before[key] = current.clone() if current is not None else None
        return current

    def contract(self, key_id: str) -> Any:
        current = self.state.contract_data.get(key_id)
        key = ("contract", key_id)
        if key not in self.before:
            self.before[key] = current.clone() if current is not None else None
        return current

    def data(self, account_id: str, name: str) -> bytes | None:
        account = self.account(account_id)
        value = account.data.get(name) if account is not None else None
        self.before.setdefault(("data", account_id, name), value)
        return value

    def add_issued(self, asset: str, delta: int) -> None:
        self.before.setdefault(("issued", asset), self.state.issued.get(asset, 0))
        self.state.issued[asset] = self.state.issued.get(asset, 0) + delta

    def current(self, key: Key) -> Any:
        kind = key[0]
        if kind == "account":
            return self.state.accounts.get(key[1])
        if kind == "trustline":
            return self.state.trustline(key[1], key[2])
        if kind == "claimable":
            return self.state.claimable.get(key[1])
        if kind == "contract":
            return self.state.contract_data.get(key[1])
        if kind == "data":
            account = self.state.accounts.get(key[1])
            return account.data.get(key[2]) if account is not None else None
        return self.state.issued.get(key[1], 0)

    def changed(self) -> list[tuple[Key, Any, Any]]:
        """(key, before, after) of every ledger entry whose state differs from its before-image."""
        out = []
        for key, before in self.before.items():
            after = self.current(key)
            if key[0] != "issued" and before != after:
                out.append((key, before, after))
        return out

    def merge_into(self, outer: Journal) -> None:
        for key, before in self.before.items():
            outer.before.setdefault(key, before)

    def rollback(self) -> None:
        """Put every recorded entry back as it was (data entries live in their account's image)."""
        state = self.state
        for key, before in self.before.items():
            kind = key[0]
            if kind == "account":
                if before is None:
                    state.accounts.pop(key[1], None)
                else:
                    state.accounts[key[1]] = before.clone()
            elif kind == "trustline":
                if before is None:
                    state.drop_trustline(key[1], key[2])
                else:
                    state.put_trustline(before.clone())
            elif kind == "claimable":
                if before is None:
                    state.claimable.pop(key[1], None)
                else:
                    state.claimable[key[1]] = before.clone()
            elif kind == "contract":
                if before is None:
                    state.contract_data.pop(key[1], None)
                else:
                    state.contract_data[key[1]] = before.clone()
            elif kind == "issued":
                state.issued[key[1]] = before
