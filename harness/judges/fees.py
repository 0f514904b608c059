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
from harness.judges.sql import MAX_KEYS, in_list

NAME = "fee accounting: one ledger fee per settlement key; a transaction the ledger failed is never paid again"
SETTLING_ENDPOINTS = ("settlement", "escrow")


def account_fees(ctx: JudgeContext) -> dict[str, Any]:
    """Figures and offending keys: per settlement key, its applied transactions in ledger order (matched by
    memo_hash = sha256(key), else by a tx hash its clients saw); every one after a failed one is a resubmission.
    `resubmitted` lists the first MAX_KEYS such keys (sorted) with their hashes, the first one first."""
    with ctx.sql() as sql:
        sql.execute(f"""
            CREATE OR REPLACE TEMP TABLE key_txs AS
            WITH rec AS (SELECT idempotency_key AS k, lower(tx_hash) AS h FROM records
                         WHERE endpoint IN {in_list(SETTLING_ENDPOINTS)} AND idempotency_key <> ''),
                 by_memo AS (SELECT sha256(k) AS m, k FROM (SELECT DISTINCT k FROM rec)),
                 by_hash AS (SELECT h, max(k) AS k FROM rec WHERE h <> '' GROUP BY h)
            SELECT * FROM (SELECT COALESCE(by_memo.k, by_hash.k) AS k, a.hash, a.successful, a.fee_charged,
                                  a.ledger, a."index", a.pos
                           FROM applied a LEFT JOIN by_memo ON a.memo_hash <> '' AND by_memo.m = a.memo_hash
                                          LEFT JOIN by_hash ON by_hash.h = a.hash)
            WHERE k IS NOT NULL""")
        # Only a key with several transactions can have one after another: the window runs over those alone.
        sql.execute("""
            CREATE OR REPLACE TEMP TABLE later_txs AS
            SELECT *, COALESCE(bool_or(successful <> 1) OVER before, false) AS failed_before,
                      COALESCE(bool_or(successful = 1) OVER before, false) AS success_before,
                      first_value(hash) OVER (PARTITION BY k ORDER BY ledger, "index", pos) AS first_hash
            FROM key_txs WHERE k IN (SELECT k FROM key_txs GROUP BY k HAVING count(*) > 1)
            WINDOW before AS (PARTITION BY k ORDER BY ledger, "index", pos
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)""")
        figures = dict(zip(
            ("keys_on_ledger", "ledger_transactions", "fees_charged_stroops", "keys_failed_on_ledger",
             "client_attempts", "resubmitted_after_failure", "extra_after_success", "resubmitted_keys",
             "wasted_fees_stroops"),
            (int(v) for v in sql.rows(f"""
                WITH fee_of AS (SELECT hash, max(fee_charged) AS fee FROM key_txs GROUP BY hash)
                SELECT count(DISTINCT k), count(*), (SELECT COALESCE(sum(fee), 0) FROM fee_of),
                       count(DISTINCT k) FILTER (WHERE successful <> 1),
                       (SELECT count(*) FROM records WHERE endpoint IN {in_list(SETTLING_ENDPOINTS)}
                                                      AND idempotency_key <> ''),
                       (SELECT count(*) FROM later_txs WHERE failed_before),
                       (SELECT count(*) FROM later_txs WHERE success_before AND NOT failed_before),
                       (SELECT count(DISTINCT k) FROM later_txs WHERE failed_before),
                       (SELECT COALESCE(sum(fee), 0) FROM fee_of
                        WHERE hash IN (SELECT hash FROM later_txs WHERE failed_before))
                FROM key_txs""")[0]), strict=True))
        resubmitted: dict[str, list[str]] = defaultdict(list)
        for key, first, tx in sql.rows(f"""
                WITH keys AS (SELECT DISTINCT k FROM later_txs WHERE failed_before ORDER BY k LIMIT {MAX_KEYS})
                SELECT k, first_hash, hash FROM later_txs WHERE failed_before AND k IN (SELECT k FROM keys)
                ORDER BY k, ledger, "index", pos"""):
            resubmitted[key] = resubmitted[key] or [first]
            resubmitted[key].append(tx)
    return {**figures, "resubmitted": dict(resubmitted)}


def judge_fees(ctx: JudgeContext) -> Check:
    result = account_fees(ctx)
    figures = {k: v for k, v in result.items() if k != "resubmitted"}
    evidence: list[object] = [{"idempotency_key": k, "tx_hashes": hashes,
                               "problem": "a transaction the ledger failed was paid again as a new one"}
                              for k, hashes in sorted(result["resubmitted"].items())[:20]]
    if not ctx.has_ledger_history:
        return Check("fees", "invariant", NAME, VERDICT_INCONCLUSIVE, "no ledger history to count fees in", figures)
    if result["resubmitted_keys"]:
        return Check("fees", "invariant", NAME, VERDICT_FAIL,
                     f"{result['resubmitted_keys']} settlement key(s) whose transaction the ledger failed were paid "
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
