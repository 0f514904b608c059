"""x402 payments against the ledger: every served payment (a 2xx with a receipt) is exactly one applied
transfer, and no x402 transfer applied without a served resource unless the service reported its
outcome as unknown (504 with the hash).

Receipts: v1 (`x402`) records carry the hash of the client's signed payment, which the service
submits in the background; v2 (`x402-v2`) records carry the `PAYMENT-RESPONSE` hash of the
facilitator's settlement. The payees are the accounts the served payments' transfers credited
(a classic `payment`'s `destination`; a token `transfer`'s `to`, which the ledger's history also
calls `destination`: harness/ledger_table.py `credited`); any other successful transaction
crediting a payee through the same kind of operation is an x402 transfer too.
"""

from __future__ import annotations

from typing import Any

from harness.judges.context import JudgeContext
from harness.judges.sql import in_list

X402_ENDPOINTS = ("x402", "x402-v2")


def reconcile_x402(ctx: JudgeContext) -> dict[str, Any]:
    """Counts: served, applied, lost (served, never applied), unserved (applied, never served nor
    reported unknown), unknown_resolved (reported unknown, applied) and the offending hashes (the first
    MAX_KEYS of each in sorted order). One DuckDB join over the records and the applied ledger."""
    return ctx.once("reconcile_x402", lambda: _reconcile_x402(ctx))


def _reconcile_x402(ctx: JudgeContext) -> dict[str, Any]:
    with ctx.sql() as sql:
        sql.execute(f"""
            CREATE OR REPLACE TEMP TABLE x402_served AS
            WITH rec AS (SELECT status, lower(tx_hash) AS h FROM records
                         WHERE endpoint IN {in_list(X402_ENDPOINTS)} AND tx_hash <> ''),
                 ok AS (SELECT DISTINCT hash FROM applied WHERE successful = 1)
            SELECT DISTINCT h, status // 100 = 2 AS served, h IN (SELECT hash FROM ok) AS on_ledger
            FROM rec WHERE status // 100 = 2 OR status = 504""")
        sql.execute("""
            CREATE OR REPLACE TEMP TABLE x402_unserved AS
            WITH known AS (SELECT h FROM x402_served WHERE on_ledger),
                 payees AS (SELECT DISTINCT unnest(credited) AS a FROM applied
                            WHERE successful = 1 AND hash IN (SELECT h FROM x402_served WHERE served AND on_ledger)),
                 credits AS (SELECT hash, unnest(credited) AS a FROM applied WHERE successful = 1)
            SELECT DISTINCT hash FROM credits WHERE a IN (SELECT a FROM payees) AND hash NOT IN (SELECT h FROM known)""")
        served, applied, unknown, unserved = sql.rows("""
            SELECT (SELECT count(*) FROM x402_served WHERE served),
                   (SELECT count(*) FROM x402_served WHERE served AND on_ledger),
                   (SELECT count(*) FROM x402_served WHERE NOT served AND on_ledger),
                   (SELECT count(*) FROM x402_unserved)""")[0]
        lost_hashes = sql.sorted_values("SELECT h FROM x402_served WHERE served AND NOT on_ledger")
        unserved_hashes = sql.sorted_values("SELECT hash FROM x402_unserved")
    return {"served": served, "applied": applied, "lost": served - applied, "unserved": unserved,
            "unknown_resolved": unknown, "lost_hashes": lost_hashes, "unserved_hashes": unserved_hashes}
