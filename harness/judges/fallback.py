"""P36: settlements fail over to the secondary Horizon; with both down they get a fast 503, never hang."""

from __future__ import annotations

import pandas as pd

from harness.judges.context import (
    PRIMARY_PROXY,
    SECONDARY_PROXY,
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    Check,
    JudgeContext,
)

NAME = "P36 integration fallback: >= 99% success on primary outage, fast 503 when both are down"
ABUSIVE_KINDS = ("fuzzer", "tamperer", "abuser")
LEDGER_FAILED_STATUS = 422

Interval = tuple[float, float]


def merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    return [(max(lo1, lo2), min(hi1, hi2)) for lo1, hi1 in a for lo2, hi2 in b if max(lo1, lo2) < min(hi1, hi2)]


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for lo, hi in a:
        pieces = [(lo, hi)]
        for blo, bhi in b:
            pieces = [p for lo2, hi2 in pieces for p in ((lo2, min(hi2, blo)), (max(lo2, bhi), hi2)) if p[0] < p[1]]
        out += pieces
    return out


def outage_intervals(ctx: JudgeContext, proxy: str) -> list[Interval]:
    return merge([(f.at_s, f.end_s) for f in ctx.faults if f.proxy == proxy and f.is_outage])


def settlements_in(ctx: JudgeContext, intervals: list[Interval]) -> pd.DataFrame:
    """Settlements clients expected to succeed, sent inside `intervals` (after `clock_skew_s` of each)."""
    rec = ctx.frame(["sent_s", "status", "latency_ms", "expected", "user_kind"], endpoint=["settlement"])
    base = rec[rec["expected"].isin(["ok", ""])
               & ~rec["user_kind"].isin(ABUSIVE_KINDS) & (rec["status"] != 429)]
    mask = pd.Series(False, index=base.index)
    for lo, hi in intervals:
        mask |= (base["sent_s"] >= lo + ctx.params.clock_skew_s) & (base["sent_s"] < hi)
    return base[mask]


def served(settlements: pd.DataFrame) -> pd.Series:
    """The ledger decided the outcome: 2xx, or 422 transaction_failed (the failover path worked)."""
    return (settlements["status"] // 100 == 2) | (settlements["status"] == LEDGER_FAILED_STATUS)


def judge_fallback(ctx: JudgeContext) -> Check:
    prm = ctx.params
    primary, secondary = outage_intervals(ctx, PRIMARY_PROXY), outage_intervals(ctx, SECONDARY_PROXY)
    only_primary, both = subtract(primary, secondary), intersect(primary, secondary)
    fo = settlements_in(ctx, only_primary)
    bd = settlements_in(ctx, both)
    fo_ok = int(served(fo).sum())
    rate = fo_ok / len(fo) if len(fo) else float("nan")
    bad_both = bd[~(bd["status"].isin([503]) | (bd["status"] // 100 == 2)) | (bd["latency_ms"] > prm.fast_503_max_ms)]
    hung = int((bd["status"] == 0).sum())
    figures = {"primary_only_s": round(sum(h - lo for lo, h in only_primary), 3),
               "both_down_s": round(sum(h - lo for lo, h in both), 3),
               "failover_settlements": len(fo), "failover_success": fo_ok,
               "failover_success_rate": "n/a" if rate != rate else round(rate, 4),
               "both_down_settlements": len(bd), "both_down_not_fast_503": len(bad_both), "hung": hung,
               "both_down_max_ms": round(float(bd["latency_ms"].max()), 1) if len(bd) else "n/a"}
    evidence: list[object] = [
        {"sent_s": round(r.sent_s, 3), "status": int(r.status), "latency_ms": round(r.latency_ms, 1),
         "window": "primary down"} for r in list(fo[~served(fo)].itertuples())[:10]
    ] + [{"sent_s": round(r.sent_s, 3), "status": int(r.status), "latency_ms": round(r.latency_ms, 1),
          "window": "both down"} for r in list(bad_both.itertuples())[:10]]
    problems = []
    if len(fo) and rate < prm.fallback_success_min:
        problems.append(f"settlement success {rate:.2%} < {prm.fallback_success_min:.0%} while only the primary "
                        f"was down ({fo_ok}/{len(fo)})")
    if len(bad_both):
        problems.append(f"{len(bad_both)} of {len(bd)} settlements with both Horizons down were not a 503 within "
                        f"{prm.fast_503_max_ms:g} ms ({hung} hung)")
    if problems:
        return Check("P36", "property", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    thin = [f"{what}: {len(df)} settlements (need {prm.min_cases})"
            for what, df, present in (("primary down", fo, only_primary), ("both down", bd, both))
            if present and len(df) < prm.min_cases]
    if not only_primary and not both:
        return Check("P36", "property", NAME, VERDICT_INCONCLUSIVE, "no Horizon outage in the schedule", figures)
    if thin:
        return Check("P36", "property", NAME, VERDICT_INCONCLUSIVE, "too few requests: " + "; ".join(thin), figures)
    parts = []
    if len(fo):
        parts.append(f"{rate:.2%} of {len(fo)} settlements succeeded with the primary down")
    if len(bd):
        parts.append(f"all {len(bd)} settlements with both down got 503 within {prm.fast_503_max_ms:g} ms")
    return Check("P36", "property", NAME, VERDICT_PASS, "; ".join(parts), figures, evidence)
