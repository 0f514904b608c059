"""Channel conflicts: of two different signed states sent at once with the same sequence, at most one is
accepted, and the other is refused as a conflict (409), never with a 5xx.

The channel updaters (scenarios/users/channel_updater.py) record both states of a race with
`expected="conflict"` and one `idempotency_key` per race (`conflict-<channel>-<sequence>`). A race with two
2xx answers is a finding (the channel accepted two histories); one in which neither was accepted while both
were answered is one too (a valid continuation refused). Races with a 429 or no answer are not judged.
Inconclusive below `min_cases` judged races.
"""

from __future__ import annotations

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext

NAME = "channel conflicts: of two states with one sequence, exactly one is accepted and the other refused (409)"


def judge_channels(ctx: JudgeContext) -> Check:
    rec = ctx.frame(["idempotency_key", "status"], endpoint=["channel"], expected=["conflict"])
    races = rec[rec["idempotency_key"] != ""]
    double: list[str] = []
    none: list[str] = []
    server_errors: list[str] = []
    judged = 0
    for tag, group in races.groupby("idempotency_key"):
        statuses = [int(s) for s in group["status"]]
        if any(s >= 500 for s in statuses):
            server_errors.append(str(tag))
        if len(statuses) != 2 or any(s in (0, 429) or s >= 500 for s in statuses):
            continue
        judged += 1
        accepted = sum(s // 100 == 2 for s in statuses)
        if accepted > 1:
            double.append(str(tag))
        elif accepted == 0:
            none.append(str(tag))
    figures = {"races": int(races["idempotency_key"].nunique()), "judged": judged, "both_accepted": len(double),
               "none_accepted": len(none), "server_errors": len(server_errors)}
    evidence: list[dict[str, str]] = ([{"race": t, "problem": "both conflicting states accepted"} for t in double[:10]]
                              + [{"race": t, "problem": "neither state accepted"} for t in none[:10]]
                              + [{"race": t, "problem": "5xx answer"} for t in server_errors[:10]])
    problems = []
    if double:
        problems.append(f"{len(double)} of {judged} conflicting update pairs had both states accepted")
    if none:
        problems.append(f"{len(none)} of {judged} pairs had neither state accepted")
    if server_errors:
        problems.append(f"{len(server_errors)} pairs got a 5xx")
    if problems:
        return Check("channels", "invariant", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if judged < ctx.params.min_cases:
        return Check("channels", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     f"{judged} conflicting update pairs answered (need {ctx.params.min_cases})", figures)
    return Check("channels", "invariant", NAME, VERDICT_PASS,
                 f"all {judged} conflicting update pairs: one state accepted, the other refused", figures)
