"""Operation, transaction and effect resources decoded from envelope XDR, including the kinds the ledger
does not apply yet (change_trust, fee bumps, muxed accounts), so they render right the day it does.

Field names and shapes: stellar/go `protocols/horizon/main.go` (Transaction, FeeBumpTransaction,
InnerTransaction), `protocols/horizon/operations/main.go` (ChangeTrust, Payment muxed fields),
`protocols/horizon/effects/main.go`; values: Horizon `internal/ingest/processors/operations_processor.go`
(Details), `effects_processor.go` (addChangeTrustEffects, addManageDataEffects), `internal/resourceadapter/
transaction.go` (PopulateTransaction: a fee bump seen through its inner hash shows the inner signatures).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import Account, Asset, Keypair, MuxedAccount, TransactionBuilder

from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.ledger.effects import EffectState
from harness.ledger.history_resources import (
    effect_body,
    operation_body,
    transaction_body,
    transaction_meta_fields,
)
from harness.ledger.operations_view import view_envelope
from harness.ledger.paging import toid
from harness.ledger.results import OpResult, TxResult

NETWORK = hashlib.sha256(OFFLINE_PASSPHRASE.encode()).digest()
SOURCE, ISSUER, OTHER = (Keypair.from_raw_ed25519_seed(bytes([i]) * 32) for i in (1, 2, 3))
USD = Asset("USD", ISSUER.public_key)
BASE = "http://h"


@dataclass(frozen=True)
class StandIn:
    """What the resources read from an AppliedTx (records.AppliedTx has more; this keeps the test to them)."""

    envelope_xdr: str
    hash: str
    ledger: int = 7
    application_order: int = 2
    close_time: int = 1_800_000_000
    result: TxResult = field(default_factory=lambda: TxResult("tx_success", 200, (OpResult("payment", "op_success"),)))
    result_xdr: str = "AAAA"
    fee_meta_xdr: str = "AAAAAg=="
    result_meta_xdr: str = ""

    @property
    def successful(self) -> bool:
        return self.result.successful


def envelope(add: Any, source: Any = None, fee: int = 100) -> Any:
    builder = TransactionBuilder(Account(source or SOURCE.public_key, 41), OFFLINE_PASSPHRASE, fee)
    add(builder)
    env = builder.set_timeout(0).build()
    env.sign(SOURCE)
    return env


def test_change_trust_operation_details_and_trustline_effects_from_history() -> None:
    ops = [envelope(lambda b, limit=limit: b.append_change_trust_op(USD, limit)) for limit in ("100", "250", "0")]
    views = [view_envelope(e.to_xdr(), NETWORK).operations[0] for e in ops]
    assert views[0].type == "change_trust" and views[0].type_i == 6
    assert views[0].details == {"asset_type": "credit_alphanum4", "asset_code": "USD",
                                "asset_issuer": ISSUER.public_key, "trustee": ISSUER.public_key,
                                "trustor": SOURCE.public_key, "limit": "100.0000000"}
    state = EffectState()
    effects = [state.effects(v, None) for v in views]
    assert [[(e.type, e.type_i, e.details["limit"]) for e in found] for found in effects] == [
        [("trustline_created", 20, "100.0000000")], [("trustline_updated", 22, "250.0000000")],
        [("trustline_removed", 21, "0.0000000")]]
    assert effects[0][0].details["asset_code"] == "USD" and effects[0][0].account_fields() == {"account": SOURCE.public_key}
    # after removal, trusting again creates the trustline anew
    assert [e.type for e in state.effects(views[0], None)] == ["trustline_created"]


def test_fee_bump_transaction_resource_seen_through_either_hash() -> None:
    inner = envelope(lambda b: b.append_payment_op(OTHER.public_key, Asset.native(), "3"))
    bump = TransactionBuilder.build_fee_bump_transaction(OTHER.public_key, 300, inner, OFFLINE_PASSPHRASE)
    bump.sign(OTHER)
    view = view_envelope(bump.to_xdr(), NETWORK)
    assert view.fee_bump is not None and view.fee_bump.inner_hash == inner.hash_hex()
    applied = StandIn(bump.to_xdr(), bump.hash_hex())
    outer = transaction_body(applied, view, BASE)  # type: ignore[arg-type]
    assert (outer["hash"], outer["source_account"], outer["fee_account"]) == \
        (bump.hash_hex(), SOURCE.public_key, OTHER.public_key)
    assert outer["max_fee"] == "600" and outer["source_account_sequence"] == "42"
    assert outer["fee_bump_transaction"] == {"hash": bump.hash_hex(), "signatures": outer["signatures"]}
    assert outer["inner_transaction"]["hash"] == inner.hash_hex()
    assert outer["inner_transaction"]["max_fee"] == "100"
    assert outer["paging_token"] == str(toid(7, 2))
    via_inner = transaction_body(applied, view, BASE, requested_hash=inner.hash_hex())  # type: ignore[arg-type]
    assert via_inner["id"] == inner.hash_hex() and via_inner["signatures"] == via_inner["inner_transaction"]["signatures"]
    assert via_inner["signatures"] != outer["signatures"]
    assert via_inner["_links"]["self"]["href"] == f"{BASE}/transactions/{inner.hash_hex()}"


def test_muxed_payment_fields_in_operation_and_effects() -> None:
    muxed_source = MuxedAccount(SOURCE.public_key, 7)
    muxed_dest = MuxedAccount(OTHER.public_key, 2**64 - 1)  # JavaScript cannot hold it: Horizon sends a string
    env = envelope(lambda b: b.append_payment_op(muxed_dest, USD, "1.5"), source=muxed_source)
    op = view_envelope(env.to_xdr(), NETWORK).operations[0]
    body = operation_body(toid(7, 2, 1), op, StandIn(env.to_xdr(), env.hash_hex()), None, BASE)  # type: ignore[arg-type]
    assert body["source_account"] == SOURCE.public_key and body["source_account_muxed_id"] == "7"
    assert (body["from"], body["from_muxed"], body["to"], body["to_muxed_id"]) == \
        (SOURCE.public_key, muxed_source.account_muxed, OTHER.public_key, str(2**64 - 1))
    assert (body["asset_type"], body["asset_code"], body["amount"]) == ("credit_alphanum4", "USD", "1.5000000")
    credited, debited = EffectState().effects(op, None)
    assert credited.account_fields() == {"account": OTHER.public_key, "account_muxed": muxed_dest.account_muxed,
                                         "account_muxed_id": str(2**64 - 1)}
    assert debited.account_fields()["account_muxed_id"] == "7"
    rendered = effect_body(toid(7, 2, 1), 2, debited, 1_800_000_000, BASE)
    assert rendered["id"] == f"{toid(7, 2, 1):019d}-0000000002" and rendered["paging_token"] == f"{toid(7, 2, 1)}-2"
    assert rendered["_links"]["operation"]["href"] == f"{BASE}/operations/{toid(7, 2, 1)}"


def test_text_memo_bytes_and_meta_fields_render_as_horizon_does() -> None:
    env = envelope(lambda b: b.append_bump_sequence_op(99).add_text_memo("pay"))
    view = view_envelope(env.to_xdr(), NETWORK)
    body = transaction_body(StandIn(env.to_xdr(), env.hash_hex()), view, BASE)  # type: ignore[arg-type]
    assert (body["memo_type"], body["memo"], body["memo_bytes"]) == ("text", "pay", "cGF5")
    assert view.operations[0].details == {"bump_to": "99"}
    assert body["fee_meta_xdr"] == "AAAAAg==" and "result_meta_xdr" not in body  # omitted when empty
    full = StandIn(env.to_xdr(), env.hash_hex(), result_meta_xdr="AAAAAw==")
    assert transaction_meta_fields(full) == {"fee_meta_xdr": "AAAAAg==", "result_meta_xdr": "AAAAAw=="}  # type: ignore[arg-type]
