"""P34's truth part: the values a limiter announces must agree with what the clients saw admitted.

- Honoured `Retry-After`: a client that waited a 429's `Retry-After` before sending again
  (`expected="after_retry_after"`, scenarios/users/patient.py) must be admitted.
- `X-RateLimit-Remaining` after an admission is at most what the admissions the client certainly had
  leave: admissions l that finished before request j was sent, and j itself, all fall in
  [sent_i, done_j] for the earliest such i, so a token bucket has at most `limit + rate * span - k`
  tokens left and a sliding window (span shorter than the window) at most `limit - k` slots.
- A promise kept: when an admitted answer announced `Remaining >= 1` and the client's next request,
  sent after every earlier request of that client had finished, was refused with 429, the promise was false
  (no other request of the client could have taken the slot).
- A 429's `Retry-After` and any `X-RateLimit-Reset` within what the limit allows: a token is back within
  `window / limit` (token bucket), a slot within one window; the whole quota within one window
  (one second of slack for rounding).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.judges.context import JudgeContext, RateLimit

WAITED = "after_retry_after"
ROUNDING_SLACK_S = 1.0
MAX_EVIDENCE = 10


def refused_after_waiting(ctx: JudgeContext) -> tuple[pd.DataFrame, int]:
    """Requests sent after waiting out a 429's Retry-After that were refused again; how many waited."""
    waited = ctx.frame(["client_key", "endpoint", "sent_s", "status"], expected=[WAITED])
    waited = waited[waited["status"] != 0]
    return waited[waited["status"] == 429], len(waited)


def _overstated(group: pd.DataFrame, limit: RateLimit, reach: int) -> list[dict[str, object]]:
    admitted = group[group["status"] != 429].sort_values("done_s", kind="stable")
    done, sent = admitted["done_s"].to_numpy(), admitted["sent_s"].to_numpy()
    rate = limit.limit / limit.window_s
    out: list[dict[str, object]] = []
    for row in admitted[admitted["ratelimit_remaining"] >= 0].itertuples():
        prior = sent[max(0, int(np.searchsorted(done, row.sent_s, side="right")) - reach):
                     int(np.searchsorted(done, row.sent_s, side="right"))]
        firsts = np.sort(np.append(prior, row.sent_s))[::-1]  # k-th latest start: k admissions since it
        span = row.done_s - firsts
        k = np.arange(1, firsts.size + 1)
        bound = (np.floor(limit.limit + rate * span + 1e-9) if limit.algorithm == "token-bucket"
                 else np.full(firsts.size, float(limit.limit))) - k
        bound = np.where(span < limit.window_s, bound, np.inf)
        least = float(bound.min())
        if row.ratelimit_remaining > max(least, 0.0):
            out.append({"client_key": row.identity, "sent_s": round(row.sent_s, 3),
                        "remaining": int(row.ratelimit_remaining), "at_most": int(max(least, 0.0)),
                        "problem": "X-RateLimit-Remaining above what this client's admissions leave"})
    return out


def _broken_promises(group: pd.DataFrame) -> list[dict[str, object]]:
    ordered = group.sort_values("sent_s", kind="stable")
    busy_until = ordered["done_s"].cummax().to_numpy()
    status, remaining = ordered["status"].to_numpy(), ordered["ratelimit_remaining"].to_numpy()
    sent = ordered["sent_s"].to_numpy()
    out: list[dict[str, object]] = []
    for i in range(len(ordered) - 1):
        if status[i] != 429 and remaining[i] >= 1 and status[i + 1] == 429 and busy_until[i] <= sent[i + 1]:
            out.append({"client_key": ordered["identity"].iloc[i], "sent_s": round(float(sent[i + 1]), 3),
                        "promised_remaining": int(remaining[i]),
                        "problem": "429 right after an answer announcing remaining requests"})
    return out


def remaining_mismatches(rec: pd.DataFrame, endpoint: str, limit: RateLimit) -> tuple[list[dict[str, object]], int]:
    """One endpoint's announced Remaining values no client's admissions can explain; how many values were
    judged. `rec`: that endpoint's records (identity, sent_s, done_s, status, ratelimit_remaining)."""
    mine = rec[(rec["identity"] != "") & (rec["status"] != 0)]
    out: list[dict[str, object]] = []
    for _, group in mine.groupby("identity", sort=True):
        found = _overstated(group, limit, 4 * limit.limit + 2) + _broken_promises(group)
        out += [{"endpoint": endpoint, **item} for item in found]
    return out, int((mine["ratelimit_remaining"] >= 0).sum())


def announced_wait_beyond_limit(ctx: JudgeContext) -> tuple[list[dict[str, object]], int]:
    """Retry-After longer than a token or slot takes to come back, or Reset longer than a window: (evidence, count)."""
    out: list[dict[str, object]] = []
    count = 0
    for endpoint, limit in sorted(ctx.rate_limits.items()):
        mine = ctx.frame(["sent_s", "status", "retry_after_s", "ratelimit_reset_s"], endpoint=[endpoint])
        token_s = limit.window_s / limit.limit if limit.algorithm == "token-bucket" else limit.window_s
        max_retry = math.ceil(token_s) + ROUNDING_SLACK_S
        max_reset = math.ceil(limit.window_s) + ROUNDING_SLACK_S
        # a 429's Retry-After only: a 503's Retry-After (no Horizon reachable) is not the limiter's
        bad = mine[((mine["status"] == 429) & (mine["retry_after_s"] > max_retry)) | (mine["ratelimit_reset_s"] > max_reset)]
        count += len(bad)
        out += [{"endpoint": endpoint, "sent_s": round(r.sent_s, 3), "retry_after_s": r.retry_after_s,
                 "reset_s": r.ratelimit_reset_s, "max_retry_after_s": max_retry, "max_reset_s": max_reset,
                 "problem": "announced wait beyond what the limit allows"} for r in bad.head(MAX_EVIDENCE).itertuples()]
    return out, count
