"""The evidence contract on the judges' side: what each check needs, and "not observable" when it is missing.

Every check declares the pieces of evidence it needs (`NEEDS`, docs/evidence-contract.md). The run says
which pieces it could not obtain and why (`JudgeContext.unavailable`), and where the others came from
(`JudgeContext.sources`); a few are read from the evidence itself (`derived_unavailable`). `settle`
then stamps each check with the evidence it used, and turns a check whose evidence is incomplete into
an inconclusive one with the reason "not observable: <what is missing>": it never passes, and it never
fails on evidence whose absence alone can look like a failure (no breaker transition in a feed that
does not exist). What the judge concluded from the rest is kept in `figures.partial_verdict` /
`figures.partial_reason` for the investigator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from harness.judges.context import VERDICT_INCONCLUSIVE, Check, JudgeContext
from harness.judges.sql import JudgeSql, in_list
from harness.outputs import ENDPOINT_METRICS
from harness.records_store import RecordStore

CLIENT_RECORDS = "client-records"
LEDGER_HISTORY = "ledger-history"
PROXY_ARRIVALS = "proxy-arrivals"
FEED_BREAKER = "feed:breaker.transition"
FEED_ALERTS = "feed:alert"
FEED_ERRORS = "feed:error.record"
SERVER_TIMING = "server-timing"
FAULT_PATH = "fault-path"
RATE_LIMITS = "rate-limits"
RUN_FOLDER = "run-folder"
HEALTH = "health"
STATE_SIZES = "state-sizes"
METRICS = "metrics"

# Every piece of evidence, with what it is (the report's and the contract's wording).
EVIDENCE: dict[str, str] = {
    CLIENT_RECORDS: "client-side request records (requests.parquet; requests.csv in older runs), always present",
    LEDGER_HISTORY: "the ledger's history of the run's transactions (offline network, or Horizon's public API)",
    PROXY_ARRIVALS: "per-proxy request arrivals on the Horizon path (fault proxy arrival log or the "
                    "offline network's per-listener access log)",
    FEED_BREAKER: "breaker transitions in the target's /admin/events feed",
    FEED_ALERTS: "metric alerts in the target's /admin/events feed",
    FEED_ERRORS: "error records in the target's /admin/events feed",
    SERVER_TIMING: "Server-Timing: <metric>;dur=<ms> on target responses (the value the target recorded)",
    FAULT_PATH: "the target's Horizon traffic crosses the fault proxies",
    RATE_LIMITS: "each endpoint's rate limit (profile, config, or announced by the target)",
    RUN_FOLDER: "the run folder's artifacts (secret scan)",
    HEALTH: "GET /health answering 200",
    STATE_SIZES: "the sizes and bounds of the target's per-client stores, announced in GET /health \"state\" "
                 "(sampled about once a second)",
    METRICS: "GET /metrics: the target's own percentiles, read once at the end of the run (metrics.prom)",
}

# check id (or prefix ending in ".") -> the evidence it needs, in the order the contract lists it.
NEEDS: dict[str, tuple[str, ...]] = {
    "target.": (CLIENT_RECORDS,),
    "recovery.": (CLIENT_RECORDS, FAULT_PATH),
    "P30": (CLIENT_RECORDS, FEED_ALERTS, SERVER_TIMING),
    "P31": (CLIENT_RECORDS, FEED_ERRORS, LEDGER_HISTORY, RUN_FOLDER),
    "P32": (CLIENT_RECORDS, LEDGER_HISTORY),
    "P33": (CLIENT_RECORDS, FEED_ERRORS, LEDGER_HISTORY),
    "P34": (CLIENT_RECORDS, RATE_LIMITS),
    "P35": (CLIENT_RECORDS, FEED_BREAKER, PROXY_ARRIVALS, FAULT_PATH),
    "P36": (CLIENT_RECORDS, FAULT_PATH),
    "nothing-lost": (CLIENT_RECORDS, LEDGER_HISTORY),
    "fees": (CLIENT_RECORDS, LEDGER_HISTORY),
    "percentiles": (CLIENT_RECORDS, SERVER_TIMING, METRICS),
    "channels": (CLIENT_RECORDS,),
    "state-bounds": (CLIENT_RECORDS, STATE_SIZES),
    "health": (HEALTH,),
    "capacity": (CLIENT_RECORDS,),
    "secret-scan": (RUN_FOLDER,),
}
TARGET_ENDPOINTS = tuple(ENDPOINT_METRICS)  # the endpoints whose responses carry a target metric


def needs(check_id: str) -> tuple[str, ...]:
    """The evidence a check needs (an unknown id needs only the client records)."""
    if check_id in NEEDS:
        return NEEDS[check_id]
    prefix = next((p for p in NEEDS if p.endswith(".") and check_id.startswith(p)), None)
    return NEEDS[prefix] if prefix else (CLIENT_RECORDS,)


def server_timing_counts(records: pd.DataFrame | RecordStore) -> tuple[int, int]:
    """(successful target-metric responses, how many of them carried Server-Timing)."""
    with JudgeSql(records, None) as sql:
        ok, timed = sql.rows(f"SELECT count(*), count(*) FILTER (WHERE server_ms >= 0) FROM records "
                             f"WHERE endpoint IN {in_list(TARGET_ENDPOINTS)} AND status // 100 = 2")[0]
    return int(ok), int(timed)


def derived_unavailable(ctx: JudgeContext) -> dict[str, str]:
    """Evidence the context's own content shows missing: Server-Timing, rate limits, the run folder, store sizes."""
    out: dict[str, str] = {}
    ok, timed = server_timing_counts(ctx.source)
    if ok and not timed:
        out[SERVER_TIMING] = f"none of {ok} successful target-metric responses carried Server-Timing"
    if not ctx.rate_limits:
        out[RATE_LIMITS] = ("no endpoint limit in the profile or config, and none announced by the target "
                            "(X-RateLimit-Limit with RateLimit-Policy w=)")
    if ctx.run_dir is None:
        out[RUN_FOLDER] = "no run folder was given"
    if not any(isinstance(e.data.get("stores"), dict) for e in ctx.events_of("state")):
        out[STATE_SIZES] = "the target announced no store sizes (GET /health \"state\")"
    return out


def unavailable(ctx: JudgeContext) -> dict[str, str]:
    """All missing evidence of the context: what the run reported plus what the evidence shows."""
    return {**derived_unavailable(ctx), **ctx.unavailable}


def settle(check: Check, ctx: JudgeContext, missing: Mapping[str, str] | None = None) -> Check:
    """The check stamped with the evidence it used; inconclusive "not observable" when a piece is missing."""
    gone = unavailable(ctx) if missing is None else missing
    wanted = needs(check.id)
    lacking = {e: gone[e] for e in wanted if e in gone}
    used = {e: ctx.sources.get(e, EVIDENCE.get(e, e)) for e in wanted if e not in lacking}
    if not lacking:
        return replace(check, evidence_used=used, not_observable={})
    reason = "not observable: " + "; ".join(f"{e} ({why})" for e, why in lacking.items())
    figures = {**check.figures, "partial_verdict": check.verdict, "partial_reason": check.reason}
    return replace(check, verdict=VERDICT_INCONCLUSIVE, reason=reason, figures=figures,
                   evidence_used=used, not_observable=lacking)


def observability_table(ctx: JudgeContext) -> dict[str, dict[str, str]]:
    """summary.json "observability": every piece of evidence, available (with its source) or missing (why)."""
    gone = unavailable(ctx)
    return {e: ({"available": "no", "why": gone[e]} if e in gone
                else {"available": "yes", "source": ctx.sources.get(e, EVIDENCE[e])}) for e in EVIDENCE}
