"""P31: every failed transaction a client saw has exactly one HIGH record; no secret in any artifact."""

from __future__ import annotations

from collections import Counter

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import error_records, event_field, failed_applied_hashes
from harness.judges.secret_scan import judge_secret_scan
from harness.judges.sql import in_list

NAME = "P31 transaction-failure logging: one HIGH record per failed transaction, no secrets"
SETTLING_ENDPOINTS = ("settlement", "escrow")


def judge_failure_logging(ctx: JudgeContext) -> Check:
    ledger_failed = failed_applied_hashes(ctx)
    seen_failed = [h for (h,) in ctx.query(  # refused to a client, and failed on the ledger
        f"SELECT DISTINCT lower(tx_hash) AS h FROM records WHERE endpoint IN {in_list(SETTLING_ENDPOINTS)} "
        "AND status >= 400 AND tx_hash <> '' AND lower(tx_hash) IN (SELECT hash FROM applied WHERE successful = 0) "
        "ORDER BY h")]
    high = [e for e in error_records(ctx, "high") if event_field(e, "tx_hash", "tx_id", "transaction_hash")]
    high_counts = Counter(event_field(e, "tx_hash", "tx_id", "transaction_hash").lower() for e in high)
    missing = [h for h in seen_failed if high_counts[h] == 0]
    doubled = [h for h in seen_failed if high_counts[h] > 1]
    phantom = sorted(h for h in high_counts if h not in ledger_failed)
    scan = judge_secret_scan(ctx)
    figures = {"failed_seen_by_clients": len(seen_failed), "high_records": len(high),
               "missing_records": len(missing), "duplicate_records": len(doubled),
               "records_without_failed_tx": len(phantom), "ledger_failed": len(ledger_failed),
               "files_scanned": scan.figures.get("files", 0), "secret_findings": scan.figures.get("findings", 0),
               "corpus_decoys": scan.figures.get("corpus_decoys", 0)}
    evidence: list[object] = ([{"tx_hash": h, "problem": "no HIGH record"} for h in missing[:10]]
                              + [{"tx_hash": h, "problem": f"{high_counts[h]} HIGH records"} for h in doubled[:10]]
                              + [{"tx_hash": h, "problem": "HIGH record for a tx the ledger did not fail"}
                                 for h in phantom[:10]] + list(scan.evidence[:10]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(seen_failed)} failed transactions have no HIGH record")
    if doubled:
        problems.append(f"{len(doubled)} failed transactions have more than one HIGH record")
    if phantom:
        problems.append(f"{len(phantom)} HIGH transaction records name a tx the ledger did not fail")
    if scan.verdict == VERDICT_FAIL:
        problems.append(scan.reason)
    if problems:
        return Check("P31", "property", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if not seen_failed:
        return Check("P31", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no client saw a transaction the ledger failed, so failure logging was not exercised",
                     figures, evidence)
    if scan.verdict != VERDICT_PASS:
        return Check("P31", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"records match one to one, but the secret scan could not run: {scan.reason}", figures, evidence)
    return Check("P31", "property", NAME, VERDICT_PASS,
                 f"{len(seen_failed)} failed transactions, each with exactly one HIGH record; "
                 f"secret scan of {figures['files_scanned']} files found nothing", figures, evidence)
