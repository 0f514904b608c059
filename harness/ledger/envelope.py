"""Parse a submitted envelope once, straight from XDR: fast hash, signatures, source, operations, memo.

stellar-sdk's `TransactionEnvelope.from_xdr` builds high-level objects (StrKey-encoding and
decoding every account on the way) and `env.hash()` re-serialises the transaction; the ledger needs
neither. It unpacks the XDR once, hashes the raw bytes (SHA-256 over network id ‖ envelope type ‖
transaction bytes) and keeps plain values (`Op`), StrKey-encoding each distinct account once.

A fee-bump envelope (stellar-core's FeeBumpTransactionFrame) parses into its inner transaction plus
a `FeeBump`: the fee source, the outer fee and signatures and the outer hash, which is the
transaction's id (Horizon's `hash`); `inner_hash` is what the inner signatures sign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import StrKey
from stellar_sdk import xdr as X

from harness.ledger.assets import NATIVE, account_id_strkey, account_strkey, code_from_xdr
from harness.ledger.errors import MalformedEnvelopeError
from harness.ledger.soroban.transaction import SorobanTx, soroban_part

_TX, _TX_V0, _FEE_BUMP = 2, 0, 5
_ENVELOPE_TYPE_TX = (2).to_bytes(4, "big")
_ENVELOPE_TYPE_FEE_BUMP = (5).to_bytes(4, "big")


def network_id(passphrase: str) -> bytes:
    """SHA-256 of the network passphrase (the network id every transaction hash includes)."""
    return hashlib.sha256(passphrase.encode()).digest()


def _muxed(account: X.MuxedAccount) -> str:
    if account.ed25519 is not None:
        return account_strkey(account.ed25519.uint256)
    assert account.med25519 is not None
    return account_strkey(account.med25519.ed25519.uint256)


def _asset(asset: X.Asset | X.ChangeTrustAsset) -> str | None:
    """"native", "CODE:ISSUER", or None for a code stellar-core's isAssetValid refuses (or a pool share)."""
    if asset.type == X.AssetType.ASSET_TYPE_NATIVE:
        return NATIVE
    if asset.alpha_num4 is not None:
        code = code_from_xdr(asset.alpha_num4.asset_code.asset_code4, 4)
        issuer = asset.alpha_num4.issuer
    elif asset.alpha_num12 is not None:
        code = code_from_xdr(asset.alpha_num12.asset_code.asset_code12, 12)
        issuer = asset.alpha_num12.issuer
    else:
        return None
    return None if code is None else f"{code}:{account_id_strkey(issuer)}"


def _opt(value: X.Uint32 | None) -> int | None:
    return None if value is None else value.uint32


@dataclass(frozen=True, slots=True)
class Op:
    """One operation as the ledger needs it; `type` is Horizon's snake_case name.

    `asset` is None when the operation names an asset core would refuse (malformed). For
    change_trust `amount` is the limit; for set_trust_line_flags `destination` is the trustor.
    `options` holds set_options' present fields (`set_flags`, `clear_flags`, `master_weight`,
    `low_threshold`, `med_threshold`, `high_threshold`, `home_domain`, `signer` = (kind, key, weight),
    `inflation_dest`) and set_trust_line_flags' `set_flags`/`clear_flags`.
    """

    type: str
    source: str | None
    destination: str | None = None
    amount: int = 0  # stroops
    asset: str | None = None  # "native" or "CODE:ISSUER"
    claimants: tuple[tuple[str, X.ClaimPredicate], ...] = ()
    balance_id: str | None = None  # 72 hex chars
    data_name: bytes | None = None
    data_value: bytes | None = None
    options: tuple[tuple[str, object], ...] = ()

    def option(self, name: str) -> object | None:
        return next((v for k, v in self.options if k == name), None)

    def int_option(self, name: str) -> int:
        """A numeric option (flags, a weight or threshold); 0 when absent."""
        value = self.option(name)
        return value if isinstance(value, int) else 0


def _op(op: X.Operation) -> Op:
    body = op.body
    kind = body.type.name.lower()
    source = _muxed(op.source_account) if op.source_account is not None else None
    if body.create_account_op is not None:
        o = body.create_account_op
        return Op(kind, source, account_id_strkey(o.destination), o.starting_balance.int64, "native")
    if body.payment_op is not None:
        p = body.payment_op
        return Op(kind, source, _muxed(p.destination), p.amount.int64, _asset(p.asset))
    if body.create_claimable_balance_op is not None:
        c = body.create_claimable_balance_op
        claimants = tuple((account_id_strkey(cl.v0.destination), cl.v0.predicate)
                          for cl in c.claimants if cl.v0)
        return Op(kind, source, None, c.amount.int64, _asset(c.asset), claimants)
    if body.claim_claimable_balance_op is not None:
        return Op(kind, source, balance_id=body.claim_claimable_balance_op.balance_id.to_xdr_bytes().hex())
    if body.manage_data_op is not None:
        m = body.manage_data_op
        value = m.data_value.data_value if m.data_value is not None else None
        return Op(kind, source, data_name=m.data_name.string64, data_value=value)
    if body.change_trust_op is not None:
        ct = body.change_trust_op
        return Op(kind, source, amount=ct.limit.int64, asset=_asset(ct.line))
    if body.set_trust_line_flags_op is not None:
        f = body.set_trust_line_flags_op
        return Op(kind, source, destination=account_id_strkey(f.trustor), asset=_asset(f.asset),
                  options=(("set_flags", f.set_flags.uint32), ("clear_flags", f.clear_flags.uint32)))
    if body.set_options_op is not None:
        return Op(kind, source, options=_set_options(body.set_options_op))
    return Op(kind, source)


def _set_options(o: X.SetOptionsOp) -> tuple[tuple[str, object], ...]:
    fields: list[tuple[str, object]] = [
        (name, value) for name, value in (
            ("set_flags", _opt(o.set_flags)), ("clear_flags", _opt(o.clear_flags)),
            ("master_weight", _opt(o.master_weight)), ("low_threshold", _opt(o.low_threshold)),
            ("med_threshold", _opt(o.med_threshold)), ("high_threshold", _opt(o.high_threshold)))
        if value is not None]
    if o.home_domain is not None:
        fields.append(("home_domain", o.home_domain.string32))
    if o.inflation_dest is not None:
        fields.append(("inflation_dest", account_id_strkey(o.inflation_dest)))
    if o.signer is not None:
        key = o.signer.key
        raw = key.ed25519.uint256 if key.ed25519 is not None else None
        fields.append(("signer", (key.type.name, account_strkey(raw) if raw else None, o.signer.weight.uint32)))
    return tuple(fields)


@dataclass(slots=True)
class FeeBump:
    """The outer part of a fee-bump envelope: who pays, how much, and the outer signatures."""

    fee_source: str
    fee: int  # int64 stroops: the outer `fee`
    signatures: tuple[tuple[bytes, bytes], ...]
    verified: dict[tuple[int, str], bool] = field(default_factory=dict)


@dataclass(slots=True)
class ParsedTx:
    """A decoded transaction envelope plus what the ledger needs from it."""

    envelope_xdr: str
    hash: bytes  # the transaction's id: the outer hash of a fee bump
    source: str
    seq: int
    fee: int  # the (inner) transaction's fee
    bump: FeeBump | None = None
    inner_hash: bytes = b""  # what `signatures` sign (== hash unless a fee bump)
    full_hash: bytes = b""  # SHA-256 of the whole envelope (core's getFullHash: signatures included)
    inner_full_hash: bytes = b""  # getFullHash of the inner envelope of a fee bump (== full_hash otherwise)
    operations: tuple[Op, ...] = ()
    signatures: tuple[tuple[bytes, bytes], ...] = ()  # (hint, signature)
    time_bounds: tuple[int, int] | None = None
    other_preconditions: bool = False  # ledger bounds, min seq, extra signers: not supported
    memo_type: str = "none"
    memo_value: str | None = None
    verified: dict[tuple[int, str], bool] = field(default_factory=dict)
    soroban: SorobanTx | None = None  # sorobanData and the invoke operation (harness.ledger.soroban)

    def __post_init__(self) -> None:
        self.inner_hash = self.inner_hash or self.hash

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()

    @property
    def inner_hash_hex(self) -> str:
        return self.inner_hash.hex()

    @property
    def fee_source(self) -> str:
        """The account charged the fee (the fee bump's fee source, else the source)."""
        return self.bump.fee_source if self.bump else self.source

    @property
    def full_fee(self) -> int:
        """The fee bid core compares and reserves (getFullFee): the outer fee of a fee bump."""
        return self.bump.fee if self.bump else self.fee

    @property
    def op_count(self) -> int:
        """Operations as fees count them: a fee bump adds one (FeeBumpTransactionFrame::getNumOperations)."""
        return max(1, len(self.operations)) + (1 if self.bump else 0)

    def memo_hash_hex(self) -> str | None:
        return self.memo_value if self.memo_type == "hash" else None

    def claimable_balance_id(self, op_index: int) -> str:
        """Id of the balance created by operation `op_index` (as stellar-core derives it), 72 hex chars."""
        preimage = X.HashIDPreimage(
            type=X.EnvelopeType.ENVELOPE_TYPE_OP_ID,
            operation_id=X.HashIDPreimageOperationID(
                source_account=X.AccountID(X.PublicKey(X.PublicKeyType.PUBLIC_KEY_TYPE_ED25519,
                                                       X.Uint256(StrKey.decode_ed25519_public_key(self.source)))),
                seq_num=X.SequenceNumber(X.Int64(self.seq)), op_num=X.Uint32(op_index)))
        return "00000000" + hashlib.sha256(preimage.to_xdr_bytes()).hexdigest()


def decode_envelope(envelope_b64: str) -> bytes:
    """Strict base64 -> bytes; raises MalformedEnvelopeError."""
    if not isinstance(envelope_b64, str) or not envelope_b64.strip():
        raise MalformedEnvelopeError("tx is missing or empty")
    try:
        return base64.b64decode(envelope_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEnvelopeError("tx is not valid base64") from None


def fast_hash(raw: bytes, network: bytes, signature_lengths: list[int]) -> bytes:
    """SHA-256(network id ‖ envelope type ‖ raw tx bytes) of a v1 envelope, without re-serialising.

    The envelope is `type(4) ‖ tx ‖ count(4) ‖ signatures`; each decorated signature is a 4-byte hint
    plus a length-prefixed, 4-byte-padded opaque.
    """
    tail = 4 + sum(8 + (n + 3) // 4 * 4 for n in signature_lengths)
    return hashlib.sha256(network + raw[: len(raw) - tail]).digest()


def parse_envelope(envelope_b64: str, passphrase: str, network: bytes | None = None) -> ParsedTx:
    """Decode and hash one envelope; raises MalformedEnvelopeError for anything undecodable."""
    raw = decode_envelope(envelope_b64)
    try:
        xenv = X.TransactionEnvelope.from_xdr_bytes(raw)
    except Exception as exc:  # xdrlib3 raises several unrelated types for truncated/garbage input
        raise MalformedEnvelopeError(f"tx is not a transaction envelope ({type(exc).__name__})") from None
    net = network if network is not None else network_id(passphrase)
    text = envelope_b64.strip()
    kind = xenv.type.value
    if kind == _FEE_BUMP:
        assert xenv.fee_bump is not None
        return _fee_bump(xenv.fee_bump, text, raw, net)
    ptx = _transaction(xenv, raw, net, text)
    ptx.full_hash = ptx.inner_full_hash = hashlib.sha256(raw).digest()
    return ptx


def _fee_bump(envelope: X.FeeBumpTransactionEnvelope, text: str, raw: bytes, net: bytes) -> ParsedTx:
    outer = envelope.tx
    inner_env = outer.inner_tx.v1
    assert inner_env is not None
    inner_xenv = X.TransactionEnvelope(X.EnvelopeType.ENVELOPE_TYPE_TX, v1=inner_env)
    inner_raw = inner_xenv.to_xdr_bytes()
    inner = _transaction(inner_xenv, inner_raw, net, text)
    inner.inner_full_hash = hashlib.sha256(inner_raw).digest()
    inner.hash = hashlib.sha256(net + _ENVELOPE_TYPE_FEE_BUMP + outer.to_xdr_bytes()).digest()
    inner.full_hash = hashlib.sha256(raw).digest()
    inner.bump = FeeBump(_muxed(outer.fee_source), outer.fee.int64,
                         tuple((s.hint.signature_hint, s.signature.signature) for s in envelope.signatures))
    return inner


def _transaction(xenv: X.TransactionEnvelope, raw: bytes, net: bytes, text: str) -> ParsedTx:
    if xenv.type.value == _TX:
        assert xenv.v1 is not None
        tx, sigs = xenv.v1.tx, xenv.v1.signatures
        tx_hash = fast_hash(raw, net, [len(s.signature.signature) for s in sigs])
        source = _muxed(tx.source_account)
        cond = tx.cond
        bounds = cond.time_bounds if cond.v2 is None else cond.v2.time_bounds
        v2 = cond.v2
        other = v2 is not None and bool(v2.ledger_bounds or v2.min_seq_num is not None or v2.min_seq_age.duration.uint64
                                        or v2.min_seq_ledger_gap.uint32 or v2.extra_signers)
    else:
        assert xenv.v0 is not None
        tx0, sigs = xenv.v0.tx, xenv.v0.signatures
        cond = X.Preconditions(X.PreconditionType.PRECOND_TIME, time_bounds=tx0.time_bounds) \
            if tx0.time_bounds is not None else X.Preconditions(X.PreconditionType.PRECOND_NONE)
        tx = X.Transaction(X.MuxedAccount(X.CryptoKeyType.KEY_TYPE_ED25519, ed25519=tx0.source_account_ed25519),
                           tx0.fee, tx0.seq_num, cond, tx0.memo, tx0.operations, X.TransactionExt(0))
        tx_hash = hashlib.sha256(net + _ENVELOPE_TYPE_TX + tx.to_xdr_bytes()).digest()
        source, bounds, other = account_strkey(tx0.source_account_ed25519.uint256), tx0.time_bounds, False
    memo_type, memo_value = describe_memo(tx.memo)
    soroban = soroban_part(tx, len(raw)) if xenv.type.value == _TX else None
    return ParsedTx(
        envelope_xdr=text, hash=tx_hash, source=source, seq=tx.seq_num.sequence_number.int64, fee=tx.fee.uint32,
        operations=tuple(_op(op) for op in tx.operations),
        signatures=tuple((s.hint.signature_hint, s.signature.signature) for s in sigs),
        time_bounds=(bounds.min_time.time_point.uint64, bounds.max_time.time_point.uint64) if bounds is not None else None,
        other_preconditions=other, memo_type=memo_type, memo_value=memo_value, soroban=soroban,
    )


def describe_memo(memo: Any) -> tuple[str, str | None]:
    """XDR memo -> (Horizon memo_type, value): text as text, id as a decimal string, hashes as hex."""
    kind = memo.type
    if kind == X.MemoType.MEMO_TEXT:
        return "text", memo.text.decode("utf-8", errors="replace")
    if kind == X.MemoType.MEMO_ID:
        return "id", str(memo.id.uint64)
    if kind == X.MemoType.MEMO_HASH:
        return "hash", memo.hash.hash.hex()
    if kind == X.MemoType.MEMO_RETURN:
        return "return", memo.ret_hash.hash.hex()
    return "none", None
