"""Nothing lost: every acknowledged settlement or escrow is on the ledger exactly once, retries never
double-apply; every served x402 payment (v1 and v2) is exactly one applied transfer and no x402
transfer applied without a served resource (harness/judges/x402_ledger.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.sql import in_list
from harness.judges.x402_ledger import X402_ENDPOINTS, reconcile_x402

NAME = "nothing lost: every acknowledged settlement, escrow and x402 payment applied exactly once"
SETTLING_ENDPOINTS = ("settlement", "escrow")


def reconcile(ctx: JudgeContext) -> dict[str, Any]:
    """Counts (acknowledged, applied, lost, duplicated, unknown_resolved, unattributed) and the offending keys
    (the first MAX_KEYS of each in sorted order; the counts stay exact).

    A settlement or escrow is identified by its idempotency key (else its tx hash). Its ledger
    applications are the successful applied transactions whose hash is one of the tx hashes clients saw
    for it, else whose memo_hash is sha256(key); x402 payments are reconciled by reconcile_x402 (a v1 memo
    holds a nonce). One DuckDB join over the records and the applied ledger (harness/judges/sql.py).
    """
    return ctx.once("reconcile", lambda: _reconcile(ctx))


def _reconcile(ctx: JudgeContext) -> dict[str, Any]:
    with ctx.sql() as sql:
        sql.execute(f"""
            CREATE OR REPLACE TEMP TABLE settling AS
            SELECT status, idempotency_key AS k, lower(tx_hash) AS h,
                   CASE WHEN idempotency_key <> '' THEN idempotency_key ELSE lower(tx_hash) END AS id
            FROM records WHERE endpoint IN {in_list(SETTLING_ENDPOINTS)}""")
        sql.execute(f"""
            CREATE OR REPLACE TEMP TABLE attributed AS
            WITH x402 AS (SELECT DISTINCT lower(tx_hash) AS h FROM records
                          WHERE endpoint IN {in_list(X402_ENDPOINTS)} AND tx_hash <> ''),
                 led AS (SELECT hash, memo_hash FROM applied ANTI JOIN x402 ON applied.hash = x402.h
                         WHERE successful = 1),
                 by_hash AS (SELECT h, max(id) AS id FROM settling WHERE h <> '' GROUP BY h),
                 by_memo AS (SELECT sha256(k) AS m, k AS id FROM (SELECT DISTINCT k FROM settling WHERE k <> ''))
            SELECT led.hash AS tx, led.memo_hash AS memo, COALESCE(by_hash.id, by_memo.id) AS id
            FROM led LEFT JOIN by_hash ON by_hash.h = led.hash
                     LEFT JOIN by_memo ON led.memo_hash <> '' AND by_memo.m = led.memo_hash""")
        sql.execute("""
            CREATE OR REPLACE TEMP TABLE applications AS
            SELECT id, count(DISTINCT tx) AS n FROM attributed WHERE id IS NOT NULL GROUP BY id""")
        sql.execute("""
            CREATE OR REPLACE TEMP TABLE acked AS
            SELECT DISTINCT id FROM settling WHERE status // 100 = 2 AND id <> ''""")
        acknowledged, applied, lost, duplicated, extra, unknown, unattributed = sql.rows("""
            SELECT (SELECT count(*) FROM acked), (SELECT count(*) FROM applications),
                   (SELECT count(*) FROM acked ANTI JOIN applications USING (id)),
                   (SELECT count(*) FROM applications WHERE n > 1),
                   (SELECT COALESCE(sum(n - 1), 0) FROM applications WHERE n > 1),
                   (SELECT count(*) FROM applications ANTI JOIN acked USING (id)),
                   (SELECT count(*) FROM attributed WHERE id IS NULL AND memo <> '')""")[0]
        lost_keys = sql.sorted_values("SELECT id FROM acked ANTI JOIN applications USING (id)")
        duplicated_keys = sql.sorted_values("SELECT id FROM applications WHERE n > 1")
        txs: dict[str, list[str]] = defaultdict(list)
        for key, tx in sql.rows("SELECT DISTINCT id, tx FROM attributed WHERE id IN (SELECT unnest(?::VARCHAR[])) "
                                "ORDER BY id, tx", [duplicated_keys]):
            txs[key].append(tx)
    return {"acknowledged": acknowledged, "applied": applied, "lost": lost, "duplicated": duplicated,
            "unknown_resolved": unknown, "unattributed": unattributed, "extra_applications": int(extra),
            "lost_keys": lost_keys, "duplicated_keys": duplicated_keys, "duplicated_txs": dict(txs)}


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
    if not ctx.has_ledger_history:
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
