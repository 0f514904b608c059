"""Fee accounting: the ledger fees paid per settlement key against the attempts the service may make.

Stellar charges a fee for every transaction a ledger applies, successful or failed (stellar-core
`TransactionFrame::processFeeSeqNum` charges it before the operations run). An idempotent service
resubmits the *same signed bytes* after an unknown outcome, and the ledger applies one hash at most
once, so one settlement key (Idempotency-Key, carried as memo_hash = sha256(key)) costs one fee. A
transaction the ledger applied and failed (op_underfunded, op_no_destination: fee charged) is a final
outcome: the service answers it, and a client's retry with the same key gets that answer again. A
second ledger transaction for a key after a failed one is the service paying again for a settlement
the ledger already refused to carry: a finding here. A second one after a successful one is a double
payment, the nothing-lost invariant's finding, counted here and left to it.

Inconclusive when no settlement key had a transaction the ledger failed (the path was not walked).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import applied_transactions, memo_hash_of, sha256_hex

NAME = "fee accounting: one ledger fee per settlement key; a transaction the ledger failed is never paid again"
SETTLING_ENDPOINTS = ("settlement", "escrow")


def _fee(entry: dict[str, Any]) -> int:
    try:
        return int(entry.get("fee_charged") or 0)
    except (TypeError, ValueError):
        return 0


def ledger_txs_per_key(ctx: JudgeContext) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """(settlement key -> its applied transactions in ledger order, key -> client requests sent with it)."""
    rec = ctx.frame(["idempotency_key", "tx_hash"], endpoint=SETTLING_ENDPOINTS)
    rec = rec[rec["idempotency_key"] != ""]
    attempts = rec.groupby("idempotency_key").size().to_dict()
    memo_to_key = {sha256_hex(k): k for k in attempts}
    hash_to_key = {str(h).lower(): k for h, k in zip(rec["tx_hash"], rec["idempotency_key"], strict=True) if h}
    txs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in applied_transactions(ctx):
        key = memo_to_key.get(memo_hash_of(entry)) or hash_to_key.get(str(entry.get("hash", "")).lower())
        if key:
            txs[key].append(entry)
    return dict(txs), {str(k): int(v) for k, v in attempts.items()}


def account_fees(ctx: JudgeContext) -> dict[str, Any]:
    """Figures and offending keys: per key, every transaction after a failed one is a resubmission."""
    txs, attempts = ledger_txs_per_key(ctx)
    resubmitted: dict[str, list[str]] = {}
    after_success = 0
    failed_keys = 0
    for key, entries in txs.items():
        ordered = sorted(entries, key=lambda e: (e.get("ledger") or 0, e.get("index", 0)))
        failed_before = False
        success_before = False
        for entry in ordered:
            if failed_before:
                resubmitted.setdefault(key, [str(ordered[0].get("hash", ""))]).append(str(entry.get("hash", "")))
            elif success_before:
                after_success += 1
            ok = entry.get("successful") is True
            failed_before |= not ok
            success_before |= ok
        failed_keys += any(e.get("successful") is not True for e in entries)
    fee_of = {str(e.get("hash", "")): _fee(e) for entries in txs.values() for e in entries}
    return {"keys_on_ledger": len(txs), "ledger_transactions": sum(len(v) for v in txs.values()),
            "fees_charged_stroops": sum(fee_of.values()),
            "keys_failed_on_ledger": failed_keys, "client_attempts": sum(attempts.values()),
            "resubmitted_after_failure": sum(len(v) - 1 for v in resubmitted.values()),
            "extra_after_success": after_success, "resubmitted": resubmitted,
            "wasted_fees_stroops": sum(fee_of.get(h, 0) for hashes in resubmitted.values() for h in hashes[1:])}


def judge_fees(ctx: JudgeContext) -> Check:
    result = account_fees(ctx)
    figures = {k: v for k, v in result.items() if k != "resubmitted"}
    evidence: list[object] = [{"idempotency_key": k, "tx_hashes": hashes,
                               "problem": "a transaction the ledger failed was paid again as a new one"}
                              for k, hashes in sorted(result["resubmitted"].items())[:20]]
    if not ctx.ledger_history:
        return Check("fees", "invariant", NAME, VERDICT_INCONCLUSIVE, "no ledger history to count fees in", figures)
    if result["resubmitted"]:
        return Check("fees", "invariant", NAME, VERDICT_FAIL,
                     f"{len(result['resubmitted'])} settlement key(s) whose transaction the ledger failed were paid "
                     f"again as new transactions ({result['resubmitted_after_failure']} extra, "
                     f"{result['wasted_fees_stroops']} stroops of fees no retry explains)", figures, evidence)
    if not result["keys_failed_on_ledger"]:
        return Check("fees", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no settlement's transaction failed on the ledger, so a resubmitted failure could not be seen",
                     figures)
    return Check("fees", "invariant", NAME, VERDICT_PASS,
                 f"{result['keys_on_ledger']} settlement keys paid {result['fees_charged_stroops']} stroops of fees in "
                 f"{result['ledger_transactions']} ledger transactions for {result['client_attempts']} client attempts; "
                 f"none of the {result['keys_failed_on_ledger']} failed on the ledger was paid again"
                 + (f" ({result['extra_after_success']} extra after a success: nothing-lost's finding)"
                    if result["extra_after_success"] else ""), figures)
