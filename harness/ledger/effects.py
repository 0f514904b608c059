"""Effects of applied operations, as Horizon's effects processor derives them.

Horizon reads effects off transaction meta; the offline ledger keeps no meta, so `EffectState` remembers
what the meta would have said (which claimable balances exist with what amount and sponsor, which
trustlines and data entries exist) from the operations it has seen, in application order. Sources:
Horizon `internal/ingest/processors/effects_processor.go` (`ingestEffects` and the `add*Effects` methods,
effect order within an operation), `internal/db2/history/main.go` (`EffectType` numbers),
`internal/resourceadapter/effects.go` (type names) and stellar/go `protocols/horizon/effects/main.go`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.ledger.operations_view import OpView, canonical_asset

EFFECT_TYPES: dict[str, int] = {
    "account_created": 0, "account_credited": 2, "account_debited": 3, "signer_created": 10,
    "trustline_created": 20, "trustline_removed": 21, "trustline_updated": 22,
    "data_created": 40, "data_removed": 41, "data_updated": 42,
    "claimable_balance_created": 50, "claimable_balance_claimant_created": 51, "claimable_balance_claimed": 52,
    "claimable_balance_sponsorship_created": 69, "claimable_balance_sponsorship_removed": 71,
}
DEFAULT_SIGNER_WEIGHT = 1  # keypair.DefaultSignerWeight


@dataclass(frozen=True, slots=True)
class Effect:
    """One effect: the account it is about (G, and (M address, id) when the operation named an M address),
    its type and details (details dicts may be shared between effects: never mutate them)."""

    account: str
    type: str
    details: dict[str, Any]
    muxed: tuple[str, str] | None = None

    @property
    def type_i(self) -> int:
        return EFFECT_TYPES[self.type]

    def account_fields(self) -> dict[str, str]:
        """effects.Base: `account`, and `account_muxed`/`account_muxed_id` for an M address."""
        if self.muxed is None:
            return {"account": self.account}
        return {"account": self.account, "account_muxed": self.muxed[0], "account_muxed_id": self.muxed[1]}


def _who(fields: dict[str, str], prefix: str) -> tuple[str, tuple[str, str] | None]:
    """(G, (M, id) or None) of an operation's `prefix` account fields ("from", "to", "source_account", ...)."""
    muxed = fields.get(prefix + "_muxed")
    return fields[prefix], None if muxed is None else (muxed, fields[prefix + "_muxed_id"])


_Who = tuple[str, tuple[str, str] | None]


def _asset_only(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k in ("asset_type", "asset_code", "asset_issuer",
                                                      "liquidity_pool_id")}


@dataclass(slots=True)
class _Balance:
    amount: str
    asset: str  # canonical
    sponsor: str


@dataclass(slots=True)
class EffectState:
    """Entries that effects depend on, rebuilt from the applied operations in order."""

    balances: dict[str, _Balance] = field(default_factory=dict)
    trustlines: set[tuple[str, str]] = field(default_factory=set)
    data: set[tuple[str, str]] = field(default_factory=set)

    def effects(self, op: OpView, created_balance_id: str | None) -> list[Effect]:
        """Effects of one successful operation, in Horizon's order; updates the remembered entries."""
        d = op.details
        source = _who(op.source, "source_account")
        if op.type == "create_account":
            new = d["account"]
            return [Effect(new, "account_created", {"starting_balance": d["starting_balance"]}),
                    Effect(source[0], "account_debited", {"asset_type": "native", "amount": d["starting_balance"]},
                           source[1]),
                    Effect(new, "signer_created", {"weight": DEFAULT_SIGNER_WEIGHT, "public_key": new, "key": ""})]
        if op.type == "payment":
            moved = {**_asset_only(d), "amount": d["amount"]}
            to = _who(d, "to")
            return [Effect(to[0], "account_credited", moved, to[1]),
                    Effect(source[0], "account_debited", moved, source[1])]
        if op.type == "create_claimable_balance":
            return self._create_balance(op, source, created_balance_id)
        if op.type == "claim_claimable_balance":
            return self._claim(d["balance_id"], source)
        if op.type == "manage_data":
            return [self._data(source, d["name"], d["value"])]
        if op.type == "change_trust":
            return self._trust(source, d)
        return []

    def _create_balance(self, op: OpView, source: _Who, balance_id: str | None) -> list[Effect]:
        d = op.details
        if balance_id is None:
            raise ValueError("a successful create_claimable_balance has a balance id")
        self.balances[balance_id] = _Balance(d["amount"], d["asset"], op.source_account)
        head = {"asset": d["asset"], "balance_id": balance_id, "amount": d["amount"]}
        out = [Effect(source[0], "claimable_balance_created", head, source[1])]
        out += [Effect(c["destination"], "claimable_balance_claimant_created", {**head, "predicate": c["predicate"]})
                for c in d["claimants"]]
        out.append(Effect(source[0], "account_debited", {**_asset_of(d["asset"]), "amount": d["amount"]}, source[1]))
        out.append(Effect(source[0], "claimable_balance_sponsorship_created",
                          {"balance_id": balance_id, "sponsor": op.source_account}, source[1]))
        return out

    def _claim(self, balance_id: str, source: _Who) -> list[Effect]:
        balance = self.balances.pop(balance_id, None)
        if balance is None:
            raise ValueError(f"claim of a claimable balance the read side never saw created: {balance_id}")
        account, muxed = source
        return [Effect(account, "claimable_balance_claimed",
                       {"asset": balance.asset, "balance_id": balance_id, "amount": balance.amount}, muxed),
                Effect(account, "account_credited", {**_asset_of(balance.asset), "amount": balance.amount}, muxed),
                Effect(account, "claimable_balance_sponsorship_removed",
                       {"balance_id": balance_id, "former_sponsor": balance.sponsor}, muxed)]

    def _data(self, source: _Who, name: str, value: str | None) -> Effect:
        key = (source[0], name)
        if value is None:
            self.data.discard(key)
            return Effect(source[0], "data_removed", {"name": name}, source[1])
        kind = "data_updated" if key in self.data else "data_created"
        self.data.add(key)
        return Effect(source[0], kind, {"name": name, "value": value}, source[1])

    def _trust(self, source: _Who, d: dict[str, Any]) -> list[Effect]:
        asset = _asset_only(d)
        key = (source[0], d.get("liquidity_pool_id") or canonical_asset(asset))
        if d["limit"] == "0.0000000":
            if key not in self.trustlines:
                return []
            self.trustlines.discard(key)
            kind = "trustline_removed"
        else:
            kind = "trustline_updated" if key in self.trustlines else "trustline_created"
            self.trustlines.add(key)
        return [Effect(source[0], kind, {**asset, "limit": d["limit"]}, source[1])]


def _asset_of(canonical: str) -> dict[str, str]:
    """Canonical "native" / "CODE:ISSUER" -> addAssetDetails fields."""
    if canonical == "native":
        return {"asset_type": "native"}
    code, issuer = canonical.split(":", 1)
    kind = "credit_alphanum4" if len(code) <= 4 else "credit_alphanum12"
    return {"asset_type": kind, "asset_code": code, "asset_issuer": issuer}
