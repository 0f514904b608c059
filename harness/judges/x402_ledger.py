"""x402 payments against the ledger: every served payment (a 2xx with a receipt) is exactly one applied
transfer, and no x402 transfer applied without a served resource unless the service reported its
outcome as unknown (504 with the hash).

Receipts: v1 (`x402`) records carry the hash of the client's signed payment, which the service
submits in the background; v2 (`x402-v2`) records carry the `PAYMENT-RESPONSE` hash of the
facilitator's settlement. The payees are the accounts the served payments' transfers credited
(a classic `payment`'s `destination`; a token `transfer`'s `to`, which the ledger's history also
calls `destination`: harness/ledger/soroban/invoke.py `describe_invoke`); any other successful transaction
crediting a payee through the same kind of operation is an x402 transfer too.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.judges.context import JudgeContext
from harness.judges.evidence import first_sorted, successful_applied

X402_ENDPOINTS = ("x402", "x402-v2")


def credited(entry: dict[str, Any]) -> set[str]:
    """Accounts a transaction's payments or token transfers credit."""
    out = set()
    for op in entry.get("operations") or ():
        if isinstance(op, dict) and (op.get("type") == "payment"
                                     or (op.get("type") == "invoke_host_function" and op.get("function") == "transfer")):
            dest = op.get("destination")
            if dest:
                out.add(str(dest))
    return out


def reconcile_x402(ctx: JudgeContext) -> dict[str, Any]:
    """Counts: served, applied, lost (served, never applied), unserved (applied, never served nor
    reported unknown), unknown_resolved (reported unknown, applied) and the offending hashes."""
    rec = ctx.frame(["status", "tx_hash"], endpoint=X402_ENDPOINTS)
    hashed = rec["tx_hash"] != ""
    applied = {str(h.get("hash", "")).lower(): h for h in successful_applied(ctx)}
    # Python sets hold only what the ledger applied (served payments can be millions).
    served = pd.Series(rec.loc[hashed & (rec["status"] // 100 == 2), "tx_hash"].str.lower().unique())
    on_ledger = served.isin(list(applied))
    served_applied = set(served[on_ledger])
    unknown = rec.loc[hashed & (rec["status"] == 504), "tx_hash"].str.lower()
    unknown_applied = set(unknown[unknown.isin(list(applied))])
    payees = set().union(*(credited(applied[h]) for h in served_applied))
    lost = first_sorted(served[~on_ledger])
    unserved = sorted(h for h, entry in applied.items()
                      if h not in served_applied and h not in unknown_applied and credited(entry) & payees)
    return {"served": len(served), "applied": len(served_applied), "lost": int((~on_ledger).sum()),
            "unserved": len(unserved), "unknown_resolved": len(unknown_applied),
            "lost_hashes": lost, "unserved_hashes": unserved}
