"""The /health contract (docs/service.md "GET /health"): its answers held against what the run knows.

Evidence: every /health answer the harness polled (`health` events: status, ready, breakers,
`asked_at`), the fault schedule, and the breaker transitions of the admin feed. An answer reads
*healthy and ready* when its status is "ok" and `ready` is true. Findings:
- an answer contradicting its own breakers: "ok" while a breaker is not closed, or ready while every
  breaker is open;
- healthy or ready while the feed shows every breaker open (asked `clock_skew_s` after the last one
  opened, before the first one left open);
- healthy and ready while both Horizons are down, asked `breaker_tolerance_s` or more into the outage (a
  service notices an outage through its failing calls, so it gets that long; the reference's breakers
  open within tens of milliseconds under smoke's load).
Inconclusive when no answer was asked while every breaker was open or both Horizons were down.
"""

from __future__ import annotations

from typing import Any

from harness.judges.breaker import CLOSED, OPEN, normalise_state
from harness.judges.context import (
    PRIMARY_PROXY,
    SECONDARY_PROXY,
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    Check,
    JudgeContext,
)
from harness.judges.fallback import Interval, intersect, outage_intervals

NAME = "health contract: /health never reads healthy and ready while both Horizons are down or every breaker is open"
MAX_EVIDENCE = 10


def all_open_intervals(ctx: JudgeContext) -> list[Interval]:
    """Where the feed's breaker transitions show every breaker open (breakers named in the feed)."""
    state: dict[str, str] = {}
    out: list[Interval] = []
    since: float | None = None
    for e in sorted(ctx.events_of("breaker.transition"), key=lambda e: e.t):
        state[str(e.data.get("breaker", ""))] = normalise_state(e.data.get("to", ""))
        every = len(state) >= 2 and all(s == OPEN for s in state.values())
        if every and since is None:
            since = e.t
        elif not every and since is not None:
            out.append((since, e.t))
            since = None
    if since is not None:
        out.append((since, ctx.duration_s))
    return out


def _answers(ctx: JudgeContext) -> list[dict[str, Any]]:
    out = []
    for e in ctx.events_of("health"):
        breakers = {str(k): normalise_state(v) for k, v in (e.data.get("breakers") or {}).items()}
        at = float(e.data.get("asked_at", e.t))
        out.append({"asked_s": round(at, 3), "answered_s": round(e.t, 3), "status": str(e.data.get("status")),
                    "ready": e.data.get("ready"), "breakers": breakers})
    return out


def _inside(t: float, intervals: list[Interval], after_start_s: float, before_end_s: float = 0.0) -> bool:
    return any(lo + after_start_s <= t < hi - before_end_s for lo, hi in intervals)


def judge_health(ctx: JudgeContext) -> Check:
    prm = ctx.params
    answers = _answers(ctx)
    both_down = intersect(outage_intervals(ctx, PRIMARY_PROXY), outage_intervals(ctx, SECONDARY_PROXY))
    every_open = all_open_intervals(ctx)
    grace = prm.breaker_tolerance_s
    findings: list[dict[str, Any]] = []
    judged_down = judged_open = 0
    for a in answers:
        healthy, ready = a["status"] == "ok", a["ready"] is True
        states = set(a["breakers"].values())
        if healthy and states - {CLOSED}:
            findings.append({**a, "problem": "ok while a breaker it reports is not closed"})
        elif ready and states and states == {OPEN}:
            findings.append({**a, "problem": "ready while every breaker it reports is open"})
        elif _inside(a["asked_s"], every_open, prm.clock_skew_s, prm.clock_skew_s) and (healthy or ready):
            findings.append({**a, "problem": "healthy or ready while the feed shows every breaker open"})
        elif _inside(a["asked_s"], both_down, grace) and healthy and ready:
            findings.append({**a, "problem": "healthy and ready while both Horizons are down"})
        judged_open += _inside(a["asked_s"], every_open, prm.clock_skew_s, prm.clock_skew_s)
        judged_down += _inside(a["asked_s"], both_down, grace)
    figures = {"answers": len(answers), "both_down_s": round(sum(h - lo for lo, h in both_down), 3),
               "answers_while_both_down": judged_down, "all_open_s": round(sum(h - lo for lo, h in every_open), 3),
               "answers_while_all_open": judged_open, "findings": len(findings),
               "not_ready_answers": sum(a["ready"] is False for a in answers),
               "degraded_answers": sum(a["status"] != "ok" for a in answers)}
    if findings:
        first = findings[0]
        return Check("health", "invariant", NAME, VERDICT_FAIL,
                     f"{len(findings)} of {len(answers)} /health answers contradict the run (first at "
                     f"{first['asked_s']} s: status {first['status']!r}, ready {first['ready']!r}: {first['problem']})",
                     figures, findings[:MAX_EVIDENCE])
    if not answers:
        return Check("health", "invariant", NAME, VERDICT_INCONCLUSIVE, "no /health answer was recorded", figures)
    if judged_down + judged_open == 0:
        return Check("health", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no /health answer was asked while both Horizons were down or every breaker was open", figures)
    return Check("health", "invariant", NAME, VERDICT_PASS,
                 f"{len(answers)} /health answers agree with their breakers; none healthy and ready in "
                 f"{judged_down} answers while both Horizons were down and {judged_open} while every breaker was open",
                 figures)
