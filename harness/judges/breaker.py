"""P35: the primary Horizon breaker follows the fault schedule and no call passes it while open.

"No call passes it" is read from request arrivals on the primary's path (`JudgeContext.access_log`,
listener 0): the fault proxy's own arrival log, or the offline network's per-listener access log.

Every Horizon breaker (primary and secondary) must open only for a reason the judge can see: a fault on
its proxy active at the open (from `breaker_tolerance_s` before it began to `OPEN_GRACE_S` after it ended,
for calls of the fault still failing), or a failed answer (5xx) on its path shortly before. An open with
neither, e.g. a breaker that counts the ledger's business answers (400 tx_failed) as failures, is a
finding. Timing errors of a fraction of the breaker timeout are below what a run can resolve (docs/judges.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judges.context import (
    PRIMARY_PROXY,
    SECONDARY_PROXY,
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
BREAKER_LISTENERS = {PRIMARY_PROXY: 0, SECONDARY_PROXY: 1}
OPEN_GRACE_S = 5.0  # after a fault ends, calls sent during it may still fail (the service's call timeout)
FAILURE_LOOKBACK_S = 10.0  # a 5xx on the breaker's path this soon before an open explains it


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


def unexplained_opens(ctx: JudgeContext) -> list[dict[str, object]]:
    """Opens of a Horizon breaker with no fault on its proxy active and no failed answer on its path."""
    tol = ctx.params.breaker_tolerance_s
    out: list[dict[str, object]] = []
    for breaker, listener in BREAKER_LISTENERS.items():
        windows = [(f.at_s - tol, f.end_s + tol + OPEN_GRACE_S) for f in ctx.faults if f.proxy == breaker]
        failed = [a["t"] for a in ctx.access_log if a["listener"] == listener and _status(a) >= 500]
        for tr in transitions(ctx, breaker):
            if tr.to_state != OPEN or any(lo <= tr.t <= hi for lo, hi in windows):
                continue
            if any(tr.t - FAILURE_LOOKBACK_S <= t <= tr.t + tol for t in failed):
                continue
            out.append({"t": round(tr.t, 3), "breaker": breaker, "from": tr.from_state,
                        "problem": "opened with no fault on its proxy and no failed answer on its path"})
    return out


def _status(arrival: dict[str, object]) -> int:
    value = str(arrival.get("status") or "")
    return int(value) if value.isdigit() else 0


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
    spurious = unexplained_opens(ctx)
    if spurious:
        first = spurious[0]
        problems.append(f"{len(spurious)} breaker open(s) with no fault active and no failure seen "
                        f"(first: {first['breaker']} at {first['t']} s)")
    if leaks:
        problems.append(f"{len(leaks)} request(s) reached the primary Horizon while its breaker was open "
                        f"(first at {leaks[0]['t']:.2f} s: {leaks[0].get('method', '')} {leaks[0].get('path', '')})")
    figures = {"primary_outages": len(outages), "transitions": len(trs), "open_intervals": len(intervals),
               "open_time_s": round(sum(hi - lo for lo, hi in intervals), 3),
               "primary_requests_while_open": len(leaks), "arrival_records": len(ctx.access_log),
               "requests_during_outages": traffic, "unexplained_opens": len(spurious)}
    evidence: list[object] = [{"t": round(tr.t, 3), "from": tr.from_state, "to": tr.to_state} for tr in trs[:30]]
    evidence += spurious[:10]
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
