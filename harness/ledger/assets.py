"""Assets as the ledger keeps them: `"native"` or `"CODE:ISSUER"` strings, and their XDR forms.

An asset code is valid as stellar-core's `isAssetValid` (src/transactions/TransactionUtils.cpp) has
it: alphanum4 holds 1..4 characters of [A-Za-z0-9], alphanum12 holds 5..12, padded with zero bytes
only at the end. A credit asset is `credit_alphanum4` when its code has at most 4 characters.
"""

from __future__ import annotations

import string
from functools import lru_cache

from stellar_sdk import StrKey
from stellar_sdk import xdr as X

NATIVE = "native"
_ALNUM = frozenset((string.ascii_letters + string.digits).encode())


def code_from_xdr(raw: bytes, width: int) -> str | None:
    """The code of a 4- or 12-byte XDR asset code, or None when core would call it invalid."""
    code = raw.rstrip(b"\x00")
    if b"\x00" in code or not all(c in _ALNUM for c in code):
        return None
    low = 1 if width == 4 else 5
    return code.decode("ascii") if low <= len(code) <= width else None


def split(asset: str) -> tuple[str, str]:
    """`"CODE:ISSUER"` -> (code, issuer); never called for native."""
    code, _, issuer = asset.partition(":")
    return code, issuer


def issuer_of(asset: str) -> str | None:
    return None if asset == NATIVE else split(asset)[1]


def asset_type(asset: str) -> str:
    """Horizon's `asset_type`: native, credit_alphanum4 or credit_alphanum12."""
    if asset == NATIVE:
        return "native"
    return "credit_alphanum4" if len(split(asset)[0]) <= 4 else "credit_alphanum12"


def is_valid_credit(asset: str) -> bool:
    """A `CODE:ISSUER` string whose code core accepts and whose issuer is a valid G... key."""
    code, issuer = split(asset)
    width = 4 if len(code) <= 4 else 12
    return (code_from_xdr(code.encode("ascii", errors="replace"), width) == code
            and StrKey.is_valid_ed25519_public_key(issuer))


@lru_cache(maxsize=131072)
def account_strkey(raw: bytes) -> str:
    """32-byte ed25519 key -> `G...` (cached: accounts repeat)."""
    return StrKey.encode_ed25519_public_key(raw)


def account_id_strkey(account: X.AccountID) -> str:
    """XDR AccountID -> `G...`: its PublicKey union has one arm, ed25519, which decoding always sets."""
    # stellar-sdk types every XDR union arm Optional, also a union's only one
    return account_strkey(account.account_id.ed25519.uint256)  # type: ignore[union-attr]


@lru_cache(maxsize=131072)
def account_id_xdr(account_id: str) -> X.AccountID:
    """Cached: StrKey decoding (base32 + CRC16) costs more than packing a ledger entry."""
    return X.AccountID(X.PublicKey(X.PublicKeyType.PUBLIC_KEY_TYPE_ED25519,
                                   X.Uint256(StrKey.decode_ed25519_public_key(account_id))))


@lru_cache(maxsize=4096)
def to_xdr(asset: str) -> X.Asset:
    """`"native"` / `"CODE:ISSUER"` -> XDR `Asset`."""
    if asset == NATIVE:
        return X.Asset(X.AssetType.ASSET_TYPE_NATIVE)
    code, issuer = split(asset)
    raw = code.encode("ascii")
    if len(code) <= 4:
        return X.Asset(X.AssetType.ASSET_TYPE_CREDIT_ALPHANUM4,
                       alpha_num4=X.AlphaNum4(X.AssetCode4(raw.ljust(4, b"\x00")), account_id_xdr(issuer)))
    return X.Asset(X.AssetType.ASSET_TYPE_CREDIT_ALPHANUM12,
                   alpha_num12=X.AlphaNum12(X.AssetCode12(raw.ljust(12, b"\x00")), account_id_xdr(issuer)))


def to_trustline_xdr(asset: str) -> X.TrustLineAsset:
    """A credit asset as the `TrustLineAsset` of a trustline entry or key."""
    xa = to_xdr(asset)
    return X.TrustLineAsset(xa.type, alpha_num4=xa.alpha_num4, alpha_num12=xa.alpha_num12)
