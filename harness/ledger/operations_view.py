"""What Horizon shows of a transaction envelope: operation details, participants, fee-bump and muxed fields.

Everything comes from the envelope XDR (so it works for any operation type the ledger applies), decoded once
per envelope and cached. Sources: Horizon `internal/ingest/processors/operations_processor.go`
(`Details`, `Participants`, `addAssetDetails`, `addAccountAndMuxedAccountDetails`), stellar/go
`protocols/horizon/operations/main.go` (field names, `TypeNames`) and `xdr/json.go` (claim predicate JSON).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from stellar_sdk import MuxedAccount
from stellar_sdk import xdr as X

from harness.ledger.assets import account_id_strkey
from harness.ledger.config import format_amount
from harness.ledger.envelope import account_strkey, describe_memo
from harness.ledger.errors import MalformedEnvelopeError
from harness.ledger.soroban.horizon import invoke_details

# history.OperationsQ.OnlyPayments: the "payment" class of classic operations
PAYMENT_TYPES = frozenset({"create_account", "payment", "path_payment_strict_receive", "path_payment_strict_send",
                           "account_merge"})
_ENVELOPE_TYPE_TX = (2).to_bytes(4, "big")


def account_fields(prefix: str, account: X.MuxedAccount) -> dict[str, str]:
    """addAccountAndMuxedAccountDetails: `prefix` = G address; for an M address also `_muxed`, `_muxed_id`."""
    if account.med25519 is None:
        assert account.ed25519 is not None
        return {prefix: account_strkey(account.ed25519.uint256)}
    med = account.med25519
    return {prefix: account_strkey(med.ed25519.uint256),
            prefix + "_muxed": MuxedAccount.from_xdr_object(account).account_muxed or "",
            prefix + "_muxed_id": str(med.id.uint64)}


def asset_fields(asset: X.Asset | X.ChangeTrustAsset | X.TrustLineAsset, prefix: str = "") -> dict[str, str]:
    """addAssetDetails: `asset_type` and, for credit assets, `asset_code` and `asset_issuer`."""
    if asset.type == X.AssetType.ASSET_TYPE_NATIVE:
        return {prefix + "asset_type": "native"}
    if asset.type == X.AssetType.ASSET_TYPE_POOL_SHARE:
        return {prefix + "asset_type": "liquidity_pool_shares"}
    alpha = asset.alpha_num4 if asset.alpha_num4 is not None else asset.alpha_num12
    assert alpha is not None
    code_obj = alpha.asset_code
    code = code_obj.asset_code4 if isinstance(code_obj, X.AssetCode4) else code_obj.asset_code12
    kind = "credit_alphanum4" if asset.alpha_num4 is not None else "credit_alphanum12"
    return {prefix + "asset_type": kind, prefix + "asset_code": code.rstrip(b"\x00").decode("ascii", "replace"),
            prefix + "asset_issuer": account_id_strkey(alpha.issuer)}


def canonical_asset(fields: dict[str, str]) -> str:
    """Asset.StringCanonical: "native" or "CODE:ISSUER"."""
    if fields["asset_type"] == "native":
        return "native"
    return f"{fields['asset_code']}:{fields['asset_issuer']}"


def predicate_json(predicate: X.ClaimPredicate) -> dict[str, Any]:
    """xdr.ClaimPredicate.MarshalJSON: relative deadlines stay relative (`rel_before`, seconds as a string)."""
    T = X.ClaimPredicateType
    kind = predicate.type
    if kind == T.CLAIM_PREDICATE_UNCONDITIONAL:
        return {"unconditional": True}
    if kind == T.CLAIM_PREDICATE_AND:
        return {"and": [predicate_json(p) for p in predicate.and_predicates or []]}
    if kind == T.CLAIM_PREDICATE_OR:
        return {"or": [predicate_json(p) for p in predicate.or_predicates or []]}
    if kind == T.CLAIM_PREDICATE_NOT:
        assert predicate.not_predicate is not None
        return {"not": predicate_json(predicate.not_predicate)}
    if kind == T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        assert predicate.abs_before is not None
        epoch = predicate.abs_before.int64
        when = datetime.fromtimestamp(min(max(epoch, 0), 253402300799), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"abs_before": when, "abs_before_epoch": str(epoch)}
    assert predicate.rel_before is not None
    return {"rel_before": str(predicate.rel_before.int64)}


@dataclass(frozen=True, slots=True)
class OpView:
    """One operation as Horizon renders it: type, source (+ muxed), type-specific details, participants."""

    type: str
    type_i: int
    source: dict[str, str]  # {"source_account": G, maybe "_muxed" and "_muxed_id"}
    details: dict[str, Any]
    participants: tuple[str, ...]

    @property
    def source_account(self) -> str:
        return self.source["source_account"]

    @property
    def is_payment(self) -> bool:
        return self.type in PAYMENT_TYPES


@dataclass(frozen=True, slots=True)
class FeeBumpView:
    """The outer envelope of a fee-bump transaction."""

    fee_account: dict[str, str]  # {"fee_account": G, maybe "_muxed", "_muxed_id"}
    max_fee: int
    inner_hash: str
    inner_signatures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TxView:
    """A transaction envelope as Horizon renders it (inner transaction of a fee bump)."""

    source: dict[str, str]  # {"account": G, maybe "_muxed" and "_muxed_id"}
    sequence: int
    max_fee: int  # the (inner) transaction's fee bid
    memo_type: str
    memo: str | None  # Horizon's `memo`: text, id as decimal, hash/return as base64
    memo_bytes: str | None  # base64 of a text memo's raw bytes
    time_bounds: tuple[int, int] | None
    signatures: tuple[str, ...]  # the envelope's own (outer) signatures
    fee_bump: FeeBumpView | None
    operations: tuple[OpView, ...]

    @property
    def participants(self) -> tuple[str, ...]:
        """ParticipantsForTransaction without meta: source, fee account, every operation's participants."""
        seen = dict.fromkeys([self.source["account"]])
        if self.fee_bump is not None:
            seen[self.fee_bump.fee_account["fee_account"]] = None
        for op in self.operations:
            seen.update(dict.fromkeys(op.participants))
        return tuple(seen)


def _signatures(sigs: list[X.DecoratedSignature]) -> tuple[str, ...]:
    return tuple(base64.b64encode(s.signature.signature).decode() for s in sigs)


@lru_cache(maxsize=4096)
def view_envelope(envelope_xdr: str, network_id: bytes) -> TxView:
    """Decode an applied transaction's envelope (cached: pages and streams render the same ones again)."""
    try:
        env = X.TransactionEnvelope.from_xdr(envelope_xdr)
    except Exception as exc:  # xdrlib3 raises several unrelated types for garbage
        raise MalformedEnvelopeError(f"not a transaction envelope ({type(exc).__name__})") from None
    fee_bump = None
    if env.fee_bump is not None:
        outer = env.fee_bump
        inner_env = outer.tx.inner_tx.v1
        assert inner_env is not None
        inner_hash = hashlib.sha256(network_id + _ENVELOPE_TYPE_TX + inner_env.tx.to_xdr_bytes()).hexdigest()
        fee_bump = FeeBumpView(account_fields("fee_account", outer.tx.fee_source), outer.tx.fee.int64, inner_hash,
                               _signatures(inner_env.signatures))
        tx, signatures = inner_env.tx, outer.signatures
        source = tx.source_account
    elif env.v1 is not None:
        tx, signatures, source = env.v1.tx, env.v1.signatures, env.v1.tx.source_account
    else:
        assert env.v0 is not None
        v0, signatures = env.v0.tx, env.v0.signatures
        source = X.MuxedAccount(X.CryptoKeyType.KEY_TYPE_ED25519, ed25519=v0.source_account_ed25519)
        cond = X.Preconditions(X.PreconditionType.PRECOND_TIME, time_bounds=v0.time_bounds) \
            if v0.time_bounds is not None else X.Preconditions(X.PreconditionType.PRECOND_NONE)
        tx = X.Transaction(source, v0.fee, v0.seq_num, cond, v0.memo, v0.operations, X.TransactionExt(0))
    memo_type, memo = describe_memo(tx.memo)
    memo_bytes = None
    if memo_type == "text" and tx.memo.text is not None:
        memo_bytes = base64.b64encode(tx.memo.text).decode()
    elif memo_type in ("hash", "return") and memo is not None:
        memo = base64.b64encode(bytes.fromhex(memo)).decode()
    bounds = tx.cond.time_bounds if tx.cond.v2 is None else tx.cond.v2.time_bounds
    time_bounds = None if bounds is None else (bounds.min_time.time_point.uint64, bounds.max_time.time_point.uint64)
    ops = tuple(_operation(op, source) for op in tx.operations)
    return TxView(account_fields("account", source), tx.seq_num.sequence_number.int64, tx.fee.uint32, memo_type,
                  memo, memo_bytes, time_bounds, _signatures(signatures), fee_bump, ops)


def _operation(op: X.Operation, tx_source: X.MuxedAccount) -> OpView:
    source = op.source_account if op.source_account is not None else tx_source
    src = account_fields("source_account", source)
    details, others = _details(op.body, source)
    participants = tuple(dict.fromkeys([src["source_account"], *others]))
    return OpView(op.body.type.name.lower(), op.body.type.value, src, details, participants)


def _details(body: X.OperationBody, source: X.MuxedAccount) -> tuple[dict[str, Any], list[str]]:
    """(Horizon details, participants other than the source) of the operation types the ledger knows."""
    if body.create_account_op is not None:
        o = body.create_account_op
        account = account_id_strkey(o.destination)
        return ({**account_fields("funder", source), "account": account,
                 "starting_balance": format_amount(o.starting_balance.int64)}, [account])
    if body.payment_op is not None:
        p = body.payment_op
        to = account_fields("to", p.destination)
        return ({**asset_fields(p.asset), **account_fields("from", source), **to,
                 "amount": format_amount(p.amount.int64)}, [to["to"]])
    if body.create_claimable_balance_op is not None:
        c = body.create_claimable_balance_op
        claimants: list[dict[str, Any]] = [
            {"destination": account_id_strkey(cl.v0.destination),
             "predicate": predicate_json(cl.v0.predicate)}
            for cl in c.claimants if cl.v0 is not None]
        return ({"asset": canonical_asset(asset_fields(c.asset)), "amount": format_amount(c.amount.int64),
                 "claimants": claimants}, [cl["destination"] for cl in claimants])
    if body.claim_claimable_balance_op is not None:
        balance_id = body.claim_claimable_balance_op.balance_id.to_xdr_bytes().hex()
        return {"balance_id": balance_id, **account_fields("claimant", source)}, []
    if body.manage_data_op is not None:
        m = body.manage_data_op
        value = base64.b64encode(m.data_value.data_value).decode() if m.data_value is not None else None
        return {"name": m.data_name.string64.decode("utf-8", "replace"), "value": value}, []
    if body.change_trust_op is not None:
        t = body.change_trust_op
        line = asset_fields(t.line)
        if t.line.liquidity_pool is not None:  # xdr.NewPoolId: sha256 of the pool parameters
            line["liquidity_pool_id"] = hashlib.sha256(t.line.liquidity_pool.to_xdr_bytes()).hexdigest()
        trustee = {"trustee": line["asset_issuer"]} if "asset_issuer" in line else {}
        return {**line, **trustee, **account_fields("trustor", source),
                "limit": format_amount(t.limit.int64)}, []
    if body.destination is not None:  # account_merge
        into = account_fields("into", body.destination)
        return {**account_fields("account", source), **into}, [into["into"]]
    if body.bump_sequence_op is not None:
        return {"bump_to": str(body.bump_sequence_op.bump_to.sequence_number.int64)}, []
    if body.invoke_host_function_op is not None:
        return invoke_details(body.invoke_host_function_op), []
    return {}, []
