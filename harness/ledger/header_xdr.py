"""`header_xdr` of Horizon's ledger resource: a real `LedgerHeader` XDR built from the closed ledger's fields.

Horizon renders the header stellar-core closed (`internal/resourceadapter/ledger.go`, `HeaderXDR`). The
offline ledger has no SCP, bucket list or skip list, so those hashes are zero; the transaction-set hashes
follow stellar-core's definitions: `txSetResultHash` = SHA-256 of the `TransactionResultSet` XDR (result
pairs in application order) and `txSetHash` = the legacy `TxSetFrame` contents hash (SHA-256 of the
previous ledger hash followed by the envelopes sorted by transaction hash). The ledger's own `hash` is the
offline network's (see ledger.py), not SHA-256 of this XDR.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from stellar_sdk import xdr as X

from harness.ledger.records import AppliedTx, LedgerHeader

_ZERO = X.Hash(bytes(32))


def header_xdr(header: LedgerHeader, applied: Sequence[AppliedTx]) -> str:
    """Base64 `LedgerHeader` of `header`, whose transactions were `applied` (in application order)."""
    prev = bytes.fromhex(header.prev_hash)
    envelopes = b"".join(base64.b64decode(t.envelope_xdr) for t in sorted(applied, key=lambda t: t.hash))
    results = len(applied).to_bytes(4, "big") + b"".join(
        bytes.fromhex(t.hash) + base64.b64decode(t.result_xdr) for t in applied)
    value = X.StellarValue(X.Hash(hashlib.sha256(prev + envelopes).digest()), X.TimePoint(X.Uint64(header.close_time)),
                           [], X.StellarValueExt(X.StellarValueType.STELLAR_VALUE_BASIC))
    return X.LedgerHeader(
        ledger_version=X.Uint32(header.protocol_version), previous_ledger_hash=X.Hash(prev), scp_value=value,
        tx_set_result_hash=X.Hash(hashlib.sha256(results).digest()), bucket_list_hash=_ZERO,
        ledger_seq=X.Uint32(header.sequence), total_coins=X.Int64(header.total_coins),
        fee_pool=X.Int64(header.fee_pool), inflation_seq=X.Uint32(0), id_pool=X.Uint64(0),
        base_fee=X.Uint32(header.base_fee), base_reserve=X.Uint32(header.base_reserve),
        max_tx_set_size=X.Uint32(header.max_tx_set_size), skip_list=[_ZERO] * 4, ext=X.LedgerHeaderExt(0),
    ).to_xdr()
