"""Nothing lost: every acknowledged settlement is on the ledger exactly once; retries never double-apply."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import memo_hash_of, sha256_hex, successful_applied

NAME = "nothing lost: every acknowledged settlement applied exactly once"
SETTLEMENT = "settlement"


def reconcile(ctx: JudgeContext) -> dict[str, Any]:
    """Counts (acknowledged, applied, lost, duplicated, unknown_resolved, unattributed) and the offending keys.

    A settlement is identified by its idempotency key (else its tx hash). Its ledger applications are
    the successful `applied` records whose memo_hash is sha256(key) or whose hash is one of the tx
    hashes clients saw for it.
    """
    rec = ctx.records[ctx.records["endpoint"] == SETTLEMENT]
    ids = rec["idempotency_key"].where(rec["idempotency_key"] != "", rec["tx_hash"].str.lower())
    rec = rec.assign(_id=ids)[ids != ""]
    acked = set(rec.loc[rec["status"] // 100 == 2, "_id"])
    memo_to_id = {sha256_hex(k): k for k in rec["idempotency_key"] if k}
    hash_to_id = {h.lower(): i for h, i in zip(rec["tx_hash"], rec["_id"], strict=True) if h}
    applications: dict[str, set[str]] = defaultdict(set)
    unattributed = []
    for entry in successful_applied(ctx):
        tx = str(entry.get("hash", "")).lower()
        memo = memo_hash_of(entry)
        sid = hash_to_id.get(tx) or memo_to_id.get(memo)
        if sid:
            applications[sid].add(tx)
        elif memo:
            unattributed.append(tx)
    lost = sorted(k for k in acked if not applications.get(k))
    duplicated = sorted(k for k, txs in applications.items() if len(txs) > 1)
    unknown_resolved = sorted(k for k in applications if k not in acked)
    return {"acknowledged": len(acked), "applied": len(applications), "lost": len(lost),
            "duplicated": len(duplicated), "unknown_resolved": len(unknown_resolved),
            "unattributed": len(unattributed), "extra_applications": sum(len(applications[k]) - 1 for k in duplicated),
            "lost_keys": lost, "duplicated_keys": duplicated,
            "duplicated_txs": {k: sorted(applications[k]) for k in duplicated}}


def judge_nothing_lost(ctx: JudgeContext) -> Check:
    result = reconcile(ctx)
    figures = {k: result[k] for k in ("acknowledged", "applied", "lost", "duplicated", "unknown_resolved",
                                      "unattributed", "extra_applications")}
    evidence: list[object] = ([{"idempotency_key": k, "problem": "acknowledged but not on the ledger"}
                               for k in result["lost_keys"][:20]]
                              + [{"idempotency_key": k, "tx_hashes": result["duplicated_txs"][k],
                                  "problem": "applied more than once"} for k in result["duplicated_keys"][:20]])
    if not ctx.ledger_history:
        return Check("nothing-lost", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     f"no ledger history to reconcile {result['acknowledged']} acknowledged settlements against",
                     figures)
    if result["lost"] or result["duplicated"]:
        return Check("nothing-lost", "invariant", NAME, VERDICT_FAIL,
                     f"{result['lost']} acknowledged settlement(s) lost, {result['duplicated']} applied more than "
                     f"once ({result['extra_applications']} extra payments) out of {result['acknowledged']} acknowledged",
                     figures, evidence)
    if result["acknowledged"] == 0:
        return Check("nothing-lost", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no settlement was acknowledged, so there is nothing to reconcile", figures)
    return Check("nothing-lost", "invariant", NAME, VERDICT_PASS,
                 f"all {result['acknowledged']} acknowledged settlements applied exactly once; "
                 f"{result['unknown_resolved']} unknown outcomes resolved by the ledger", figures)
