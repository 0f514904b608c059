"""P35: the primary Horizon breaker follows the fault schedule and no call passes it while open.

"No call passes it" is read from request arrivals on the primary's path (`JudgeContext.access_log`,
listener 0): the fault proxy's own arrival log, or the offline network's per-listener access log.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judges.context import (
    PRIMARY_PROXY,
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    Check,
    FaultWindow,
    JudgeContext,
)

NAME = "P35 circuit breaker: opens on primary outage, blocks traffic while open, half-opens, closes"
LISTENER_PRIMARY = 0
# The x402 v2 facilitator's Soroban RPC calls share the proxies; the breaker judged here is the service's
# Horizon breaker, so only Horizon requests on the primary count.
SOROBAN_RPC_PREFIX = "/soroban/"
OPEN, HALF_OPEN, CLOSED = "OPEN", "HALF_OPEN", "CLOSED"


@dataclass(frozen=True, slots=True)
class Transition:
    t: float
    from_state: str
    to_state: str


def normalise_state(value: object) -> str:
    """'open', 'half-open', 'HALF_OPEN' ... -> OPEN, HALF_OPEN, CLOSED."""
    return str(value).strip().upper().replace("-", "_").replace(" ", "_")


def transitions(ctx: JudgeContext, breaker: str = PRIMARY_PROXY) -> list[Transition]:
    return [Transition(e.t, normalise_state(e.data.get("from", "")), normalise_state(e.data.get("to", "")))
            for e in ctx.events_of("breaker.transition") if e.data.get("breaker") == breaker]


def open_intervals(trs: list[Transition], end_s: float) -> list[tuple[float, float]]:
    """[opened, left open) intervals on the run's time axis."""
    out = []
    for i, tr in enumerate(trs):
        if tr.to_state == OPEN:
            out.append((tr.t, trs[i + 1].t if i + 1 < len(trs) else end_s))
    return out


def _judge_fault(ctx: JudgeContext, fault: FaultWindow, trs: list[Transition]) -> tuple[list[str], list[str]]:
    """(problems, reasons the fault's evidence is incomplete) for one primary outage."""
    prm = ctx.params
    tol = prm.breaker_tolerance_s
    problems: list[str] = []
    gaps: list[str] = []
    before = next((tr for tr in reversed(trs) if tr.t <= fault.at_s), None)
    opens = [tr.t for tr in trs if tr.to_state == OPEN and fault.at_s <= tr.t <= fault.end_s + tol]
    if before is not None and before.to_state == OPEN and before.t not in opens:
        opens.insert(0, before.t)  # already open when the fault began: its timeout runs from that open
    if not opens:
        problems.append(f"breaker {PRIMARY_PROXY} never opened during {fault.label} "
                        f"({fault.at_s:g}-{fault.end_s:g} s)")
        return problems, gaps
    t_open = opens[0]
    after = [tr for tr in trs if tr.t > t_open]
    leave = next((tr for tr in after if tr.from_state == OPEN), None)
    if leave is not None and leave.to_state == HALF_OPEN and leave.t - t_open < prm.breaker_timeout_s - tol:
        problems.append(f"half-opened {leave.t - t_open:.1f} s after opening (timeout {prm.breaker_timeout_s:g} s)")
    elif leave is None and ctx.duration_s - t_open >= prm.breaker_timeout_s + tol:
        problems.append(f"never left OPEN although the run went on {ctx.duration_s - t_open:.1f} s after opening")
    elif leave is None:
        gaps.append(f"run ended before the {prm.breaker_timeout_s:g} s timeout elapsed")
    early_close = [tr.t for tr in after if tr.to_state == CLOSED and tr.t < fault.end_s - tol]
    if early_close:
        problems.append(f"closed at {early_close[0]:.1f} s while the primary was still down")
    if not any(tr.to_state == CLOSED and tr.t >= fault.end_s - tol for tr in after):
        if ctx.duration_s >= fault.end_s + prm.breaker_timeout_s + prm.rto_s:
            problems.append(f"never closed again after {fault.label} ended at {fault.end_s:g} s")
        else:
            gaps.append(f"run ended before the breaker could close after {fault.label}")
    return problems, gaps


def judge_breaker(ctx: JudgeContext) -> Check:
    prm = ctx.params
    outages = [f for f in ctx.faults if f.proxy == PRIMARY_PROXY and f.is_outage]
    trs = transitions(ctx)
    intervals = open_intervals(trs, ctx.duration_s)
    leaks = [a for a in ctx.access_log if a["listener"] == LISTENER_PRIMARY
             and not str(a.get("path", "")).startswith(SOROBAN_RPC_PREFIX)
             and any(lo + prm.access_slack_s < a["t"] < hi for lo, hi in intervals)]
    problems: list[str] = []
    gaps: list[str] = []
    traffic = 0
    sent = ctx.frame(["sent_s"], during=[(f.at_s, f.end_s) for f in outages])["sent_s"]
    for fault in outages:
        n = int(((sent >= fault.at_s) & (sent < fault.end_s)).sum())
        traffic += n
        if n == 0:
            gaps.append(f"no client traffic during {fault.label}")
            continue
        p, g = _judge_fault(ctx, fault, trs)
        problems += [f"{fault.label}: {x}" for x in p]
        gaps += g
    if leaks:
        problems.append(f"{len(leaks)} request(s) reached the primary Horizon while its breaker was open "
                        f"(first at {leaks[0]['t']:.2f} s: {leaks[0].get('method', '')} {leaks[0].get('path', '')})")
    figures = {"primary_outages": len(outages), "transitions": len(trs), "open_intervals": len(intervals),
               "open_time_s": round(sum(hi - lo for lo, hi in intervals), 3),
               "primary_requests_while_open": len(leaks), "arrival_records": len(ctx.access_log),
               "requests_during_outages": traffic}
    evidence: list[object] = [{"t": round(tr.t, 3), "from": tr.from_state, "to": tr.to_state} for tr in trs[:30]]
    evidence += [{"t": round(a["t"], 3), "listener": a["listener"], "path": a.get("path", ""),
                  "problem": "request on primary while open"} for a in leaks[:10]]
    if problems:
        return Check("P35", "property", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if not outages:
        return Check("P35", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"no outage of {PRIMARY_PROXY} in the schedule", figures, evidence)
    if not ctx.access_log:
        return Check("P35", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no request arrivals on the Horizon path, so 'no traffic while open' cannot be shown",
                     figures, evidence)
    if gaps:
        return Check("P35", "property", NAME, VERDICT_INCONCLUSIVE, "; ".join(gaps), figures, evidence)
    return Check("P35", "property", NAME, VERDICT_PASS,
                 f"{len(outages)} primary outage(s): breaker opened, no primary request while open "
                 f"({len(ctx.access_log)} arrival records), half-opened after the timeout, closed after recovery",
                 figures, evidence)
