"""Nothing lost: every acknowledged settlement or escrow is on the ledger exactly once, retries never
double-apply; every served x402 payment (v1 and v2) is exactly one applied transfer and no x402
transfer applied without a served resource (harness/judges/x402_ledger.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import first_sorted, memo_hash_of, sha256_hex, successful_applied
from harness.judges.x402_ledger import X402_ENDPOINTS, reconcile_x402

NAME = "nothing lost: every acknowledged settlement, escrow and x402 payment applied exactly once"
SETTLING_ENDPOINTS = ("settlement", "escrow")


def reconcile(ctx: JudgeContext) -> dict[str, Any]:
    """Counts (acknowledged, applied, lost, duplicated, unknown_resolved, unattributed) and the offending keys
    (lost ones: the first MAX_KEYS in sorted order).

    A settlement or escrow is identified by its idempotency key (else its tx hash). Its ledger
    applications are the successful `applied` records whose memo_hash is sha256(key) or whose hash is
    one of the tx hashes clients saw for it.
    """
    rec = ctx.frame(["status", "idempotency_key", "tx_hash"], endpoint=SETTLING_ENDPOINTS)
    keyless = rec["idempotency_key"] == ""
    ids = rec["idempotency_key"].copy()
    ids[keyless] = rec.loc[keyless, "tx_hash"].str.lower()
    # Python sets and maps hold only what the ledger applied (client records can be millions); a column
    # is lower-cased or hashed only when the ledger has something to match it against.
    ledger = successful_applied(ctx)
    ledger_txs = {str(e.get("hash", "")).lower() for e in ledger}
    ledger_memos = {memo_hash_of(e) for e in ledger} - {""}
    keys = rec.loc[~keyless, "idempotency_key"].iloc[:None if ledger_memos else 0]
    digests = keys.map(sha256_hex)
    hit = digests.isin(ledger_memos)
    memo_to_id = dict(zip(digests[hit], keys[hit], strict=True))
    hashed = rec.loc[rec["tx_hash"] != "", "tx_hash"].iloc[:None if ledger_txs else 0].str.lower()
    on_ledger = hashed[hashed.isin(ledger_txs)]
    hash_to_id = dict(zip(on_ledger, ids[on_ledger.index], strict=True))
    applications: dict[str, set[str]] = defaultdict(set)
    unattributed = []
    x402_hashes: set[str] = set()  # reconciled by reconcile_x402 (a v1 memo holds a nonce)
    if ledger_txs:
        x402 = ctx.frame(["tx_hash"], endpoint=X402_ENDPOINTS)["tx_hash"].str.lower()
        x402_hashes = set(x402[x402.isin(ledger_txs)])
    for entry in ledger:
        tx = str(entry.get("hash", "")).lower()
        if tx in x402_hashes:
            continue
        memo = memo_hash_of(entry)
        sid = hash_to_id.get(tx) or memo_to_id.get(memo)
        if sid:
            applications[sid].add(tx)
        elif memo:
            unattributed.append(tx)
    acked = pd.Series(ids[(rec["status"] // 100 == 2) & (ids != "")].unique())
    was_applied = acked.isin(list(applications))
    lost = first_sorted(acked[~was_applied])
    acked_applied = set(acked[was_applied])
    duplicated = sorted(k for k, txs in applications.items() if len(txs) > 1)
    unknown_resolved = sorted(k for k in applications if k not in acked_applied)
    return {"acknowledged": len(acked), "applied": len(applications), "lost": int((~was_applied).sum()),
            "duplicated": len(duplicated), "unknown_resolved": len(unknown_resolved),
            "unattributed": len(unattributed), "extra_applications": sum(len(applications[k]) - 1 for k in duplicated),
            "lost_keys": lost, "duplicated_keys": duplicated,
            "duplicated_txs": {k: sorted(applications[k]) for k in duplicated}}


def judge_nothing_lost(ctx: JudgeContext) -> Check:
    result, x402 = reconcile(ctx), reconcile_x402(ctx)
    figures = {k: result[k] for k in ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved",
                                      "unattributed", "extra_applications")}
    figures.update({f"x402_{k}": x402[k] for k in ("served", "applied", "lost", "unserved", "unknown_resolved")})
    evidence: list[object] = ([{"idempotency_key": k, "problem": "acknowledged but not on the ledger"}
                               for k in result["lost_keys"][:20]]
                              + [{"idempotency_key": k, "tx_hashes": result["duplicated_txs"][k],
                                  "problem": "applied more than once"} for k in result["duplicated_keys"][:20]]
                              + [{"tx_hash": h, "problem": "x402 payment served but not on the ledger"}
                                 for h in x402["lost_hashes"][:20]]
                              + [{"tx_hash": h, "problem": "x402 transfer applied without a served resource"}
                                 for h in x402["unserved_hashes"][:20]])
    acknowledged = result["acknowledged"] + x402["served"]
    if not ctx.ledger_history:
        return Check("nothing-lost", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     f"no ledger history to reconcile {acknowledged} acknowledged payments against", figures)
    problems = []
    if result["lost"] or result["duplicated"]:
        problems.append(f"{result['lost']} acknowledged settlement(s) lost, {result['duplicated']} applied more "
                        f"than once ({result['extra_applications']} extra payments) out of {result['acknowledged']} "
                        "acknowledged")
    if x402["lost"] or x402["unserved"]:
        problems.append(f"{x402['lost']} served x402 payment(s) not on the ledger, {x402['unserved']} x402 "
                        f"transfer(s) applied without a served resource, out of {x402['served']} served")
    if problems:
        return Check("nothing-lost", "invariant", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if acknowledged == 0:
        return Check("nothing-lost", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no settlement, escrow or x402 payment was acknowledged, so there is nothing to reconcile",
                     figures)
    return Check("nothing-lost", "invariant", NAME, VERDICT_PASS,
                 f"all {result['acknowledged']} acknowledged settlements/escrows applied exactly once, "
                 f"{result['unknown_resolved']} unknown outcomes resolved by the ledger; all {x402['served']} served "
                 f"x402 payments applied once, no unserved transfer", figures)
