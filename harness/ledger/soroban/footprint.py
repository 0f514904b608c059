"""Footprints: the declared keys of a Soroban transaction, their validity, and what they cost to read.

Validity is stellar-core v21.3.1 `TransactionFrame::validateSorobanResources` (`footprintKeyIsValid`:
only ACCOUNT, TRUSTLINE, CONTRACT_DATA and CONTRACT_CODE keys; a trustline key needs a valid non-native
asset its account does not issue; no key above the contract data key size limit) and
`commonValidPreSeqNum` (no key twice across both lists). Read bytes are metered at apply as
`InvokeHostFunctionOpFrame::doApply`'s `addReads` does: the XDR size of every footprint entry, before
the host runs.
"""

from __future__ import annotations

from stellar_sdk import xdr as X

from harness.ledger.assets import account_id_strkey, code_from_xdr
from harness.ledger.soroban.contracts import key_id

RO, RW = "ro", "rw"
_VALID_TYPES = (X.LedgerEntryType.ACCOUNT, X.LedgerEntryType.TRUSTLINE, X.LedgerEntryType.CONTRACT_DATA,
                X.LedgerEntryType.CONTRACT_CODE)


def footprint_map(footprint: X.LedgerFootprint) -> dict[str, str]:
    """Declared access of every footprint key."""
    declared = {key_id(k): RO for k in footprint.read_only}
    declared.update({key_id(k): RW for k in footprint.read_write})
    return declared


def trustline_asset(asset: X.TrustLineAsset) -> str | None:
    """"CODE:ISSUER" of a trustline key's asset, or None (native, pool share, or a code core refuses)."""
    if asset.alpha_num4 is not None:
        code, issuer = code_from_xdr(asset.alpha_num4.asset_code.asset_code4, 4), asset.alpha_num4.issuer
    elif asset.alpha_num12 is not None:
        code, issuer = code_from_xdr(asset.alpha_num12.asset_code.asset_code12, 12), asset.alpha_num12.issuer
    else:
        return None
    return None if code is None else f"{code}:{account_id_strkey(issuer)}"


def classic_ref(key: X.LedgerKey) -> tuple[str, ...]:
    """An ACCOUNT or TRUSTLINE ledger key as a journal key; a trustline of an invalid asset has asset ""."""
    if key.type == X.LedgerEntryType.ACCOUNT:
        assert key.account is not None
        return ("account", account_id_strkey(key.account.account_id))
    assert key.trust_line is not None
    owner = account_id_strkey(key.trust_line.account_id)
    return ("trustline", owner, trustline_asset(key.trust_line.asset) or "")


def invalid_key(key: X.LedgerKey, max_key_size: int) -> tuple[str, X.SCErrorCode] | None:
    """Why core refuses this footprint key (the diagnostic's message and error code), or None."""
    C = X.SCErrorCode
    if key.type not in _VALID_TYPES:
        return "transaction footprint contains unsupported ledger key type", C.SCEC_UNEXPECTED_TYPE
    if key.type == X.LedgerEntryType.TRUSTLINE:
        ref = classic_ref(key)
        if not ref[2] or ref[2].split(":")[1] == ref[1]:
            return "transaction footprint contains invalid trustline asset", C.SCEC_INVALID_INPUT
    if len(key.to_xdr_bytes()) > max_key_size:
        return "transaction footprint key exceeds network config limit", C.SCEC_EXCEEDED_LIMIT
    return None


def has_duplicates(footprint: X.LedgerFootprint) -> bool:
    keys = [key_id(k) for k in (*footprint.read_only, *footprint.read_write)]
    return len(set(keys)) != len(keys)
