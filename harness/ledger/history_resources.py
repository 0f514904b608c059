"""Horizon JSON bodies of history records: transactions, operations and effects, with their `_links`.

Sources: Horizon `internal/resourceadapter/transaction.go` (`PopulateTransaction`: fee-bump fields,
memo_bytes, preconditions, links), `operations.go` (`PopulateBaseOperation`), `effects.go`
(`PopulateBaseEffect`), and stellar/go `protocols/horizon/{main.go,operations,effects}` for field names.
"""

from __future__ import annotations

from typing import Any

from harness.ledger.effects import Effect
from harness.ledger.operations_view import OpView, TxView
from harness.ledger.paging import toid
from harness.ledger.records import AppliedTx
from harness.ledger.resources import link, paged_link
from harness.ledger.soroban.horizon import asset_balance_changes
from harness.ledger.state import iso_time


def transaction_paging_token(tx: AppliedTx) -> str:
    """TOID of the transaction: its ledger and 1-based position in that ledger."""
    return str(toid(tx.ledger, tx.application_order))


def transaction_meta_fields(tx: AppliedTx) -> dict[str, str]:
    """`fee_meta_xdr` / `result_meta_xdr` (Horizon: fee_meta_xdr always, result_meta_xdr omitted when empty)."""
    fields = {"fee_meta_xdr": tx.fee_meta_xdr}
    if tx.result_meta_xdr:
        fields["result_meta_xdr"] = tx.result_meta_xdr
    return fields


def transaction_body(tx: AppliedTx, view: TxView, base: str, requested_hash: str | None = None) -> dict[str, Any]:
    """protocols/horizon.Transaction; a fee bump looked up by its inner hash shows the inner signatures."""
    tx_id = requested_hash or tx.hash
    token = transaction_paging_token(tx)
    bump = view.fee_bump
    source = view.source
    body: dict[str, Any] = {
        "_links": {"self": link(base, f"/transactions/{tx_id}"),
                   "account": link(base, f"/accounts/{source['account']}"),
                   "ledger": link(base, f"/ledgers/{tx.ledger}"),
                   "operations": paged_link(base, f"/transactions/{tx_id}/operations"),
                   "effects": paged_link(base, f"/transactions/{tx_id}/effects"),
                   "precedes": link(base, f"/transactions?order=asc&cursor={token}"),
                   "succeeds": link(base, f"/transactions?order=desc&cursor={token}"),
                   "transaction": link(base, f"/transactions/{tx_id}")},
        "id": tx_id,
        "paging_token": token,
        "successful": tx.successful,
        "hash": tx_id,
        "ledger": tx.ledger,
        "created_at": iso_time(tx.close_time),
        "source_account": source["account"],
        **{k: v for k, v in source.items() if k != "account"},
        "source_account_sequence": str(view.sequence),
        **(bump.fee_account if bump else {k.replace("account", "fee_account", 1): v for k, v in source.items()}),
        "fee_charged": str(tx.result.fee_charged),
        "max_fee": str(bump.max_fee if bump else view.max_fee),
        "operation_count": len(view.operations),
        "envelope_xdr": tx.envelope_xdr,
        "result_xdr": tx.result_xdr,
        **transaction_meta_fields(tx),
        "memo_type": view.memo_type,
        "signatures": list(bump.inner_signatures if bump and tx_id != tx.hash else view.signatures),
    }
    if view.memo_type != "none":  # Transaction.MarshalJSON: memo iff memo_type != none, memo_bytes for text
        body["memo"] = view.memo or ""
    if view.memo_bytes is not None:
        body["memo_bytes"] = view.memo_bytes
    if view.time_bounds is not None:
        low, high = view.time_bounds
        body["preconditions"] = {"timebounds": {"min_time": str(low), **({"max_time": str(high)} if high else {})}}
    if bump is not None:
        body["fee_bump_transaction"] = {"hash": tx.hash, "signatures": list(view.signatures)}
        body["inner_transaction"] = {"hash": bump.inner_hash, "signatures": list(bump.inner_signatures),
                                     "max_fee": str(view.max_fee)}
    return body


def operation_body(op_id: int, op: OpView, tx: AppliedTx, sponsor: str | None, base: str,
                   joined: dict[str, Any] | None = None, network_id: bytes = b"") -> dict[str, Any]:
    """operations.Base + the type's details; `joined` is the transaction resource of `join=transactions`;
    an invoke_host_function's `asset_balance_changes` come from its meta (SAC ids derive from `network_id`)."""
    token = str(op_id)
    me = f"/operations/{op_id}"
    body: dict[str, Any] = {
        "_links": {"self": link(base, me), "transaction": link(base, f"/transactions/{tx.hash}"),
                   "effects": link(base, f"{me}/effects"),
                   # PopulateBaseOperation links succeeds/precedes to /effects, as Horizon does
                   "succeeds": link(base, f"/effects?order=desc&cursor={token}"),
                   "precedes": link(base, f"/effects?order=asc&cursor={token}")},
        "id": token,
        "paging_token": token,
        "transaction_successful": tx.successful,
        **op.source,
        "type": op.type,
        "type_i": op.type_i,
        "created_at": iso_time(tx.close_time),
        "transaction_hash": tx.hash,
    }
    if joined is not None:
        body["transaction"] = joined
    if sponsor is not None:
        body["sponsor"] = sponsor
    body.update(op.details)
    if op.type == "invoke_host_function":
        body["asset_balance_changes"] = asset_balance_changes(tx.result_meta_xdr, network_id) if tx.result_meta_xdr else []
    return body


def effect_body(op_id: int, order: int, effect: Effect, close_time: int, base: str) -> dict[str, Any]:
    """effects.Base + details; id is `%019d-%010d` of (operation id, order), the token `op-order`."""
    token = f"{op_id}-{order}"
    return {
        "_links": {"operation": link(base, f"/operations/{op_id}"),
                   "succeeds": link(base, f"/effects?order=desc&cursor={token}"),
                   "precedes": link(base, f"/effects?order=asc&cursor={token}")},
        "id": f"{op_id:019d}-{order:010d}",
        "paging_token": token,
        **effect.account_fields(),
        "type": effect.type,
        "type_i": effect.type_i,
        "created_at": iso_time(close_time),
        **effect.details,
    }
