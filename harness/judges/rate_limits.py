"""P34: per client, admitted requests respect the limit; 429s carry the headers; good clients see none.

A client is what the contract says the service must count: an issued API key (records name it by
label, `key_issued = 1`; the target learns the issued keys from `SRH_API_KEYS_FILE`), else the
anonymous client of its address: every request with an unissued key or none (`key_issued = 0`)
counts against one limit, since the load comes from one address. So a service that takes any fresh
`X-API-Key` for a new client fails here. A target that ignores the issued keys and limits by address
only sees one client: the anonymous group still holds it to the limit, but the 429s its one bucket
gives well-behaved clients (each with an issued key of its own) fail P34, since the contract makes
every issued key a client of its own. Records without the `key_issued` column (older runs) are
grouped by their key as before.

The limit an endpoint is held to comes from the profile, the config or the target's announcement
(harness/run/expectations.py); a target announcing another limit than that one fails too. The
announced values are judged for truth as well (harness/judges/rate_limit_truth.py): a client that
waited out `Retry-After` must be admitted, `X-RateLimit-Remaining` must agree with what the client
was admitted, `Retry-After` and `X-RateLimit-Reset` must stay within what the limit allows. Without
any client that waited out a 429 the check is inconclusive (Retry-After never exercised).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from harness.judges.context import (
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    WELL_BEHAVED_KINDS,
    Check,
    JudgeContext,
    RateLimit,
)
from harness.judges.rate_limit_truth import (
    announced_wait_beyond_limit,
    refused_after_waiting,
    remaining_mismatches,
)

NAME = "P34 rate limiting: admitted per client key within the limit, 429s with true headers"
MAX_EVIDENCE = 10
ANONYMOUS = "anonymous (one address)"
ABUSIVE_KINDS = ("abuser", "key_rotator", "nonce_flooder", "channel_flooder")
EXCESS_BLOCK_CELLS = 1 << 20  # max_excess: group cells evaluated at once (8 MiB per float array)


def client_identity(records: pd.DataFrame) -> pd.Series:
    """The client each request counts against: its issued key, else ANONYMOUS ("" = not judged)."""
    anonymous = records["key_issued"] == 0
    return records["client_key"].where(~anonymous, ANONYMOUS)


def per_client(identity: pd.Series, sent: pd.Series, done: pd.Series) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(client, its send times, its completion times) per client in sorted order, rows in their own order:
    one stable sort of plain arrays, not a pandas group per client (a large run has millions of rows)."""
    codes, clients = pd.factorize(identity, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(clients) + 1))
    s, d = sent.to_numpy()[order], done.to_numpy()[order]
    for i, client in enumerate(clients):
        yield str(client), s[bounds[i]:bounds[i + 1]], d[bounds[i]:bounds[i + 1]]


def max_excess(sent: np.ndarray, done: np.ndarray, limit: RateLimit) -> tuple[int, float, float]:
    """Largest provable excess over the limit: (excess, first sent_s, span_s) of the worst group.

    A request was admitted between its `sent` and `done` stamps, so requests i..j (in send order)
    whose `max(done) - sent[i]` is shorter than the window were certainly admitted within one window.
    Sliding window: at most `limit` of them; token bucket: at most `limit + limit/window * span`.
    """
    order = np.argsort(sent, kind="stable")
    s, d = sent[order], done[order]
    rate = limit.limit / limit.window_s
    worst = (0, 0.0, 0.0)
    reach = 4 * limit.limit + 2  # beyond this many a violation is already visible in a shorter group
    # Group i is requests i..i+reach-1; padding with +inf ends every group at the last request (an
    # infinite span is never within the window). Rows are scanned in blocks to bound memory.
    padded = np.concatenate([d, np.full(reach - 1, np.inf)])
    counts = np.arange(1, reach + 1)
    block = max(1, EXCESS_BLOCK_CELLS // reach)
    for lo in range(0, len(s), block):
        hi = min(len(s), lo + block)
        groups = np.lib.stride_tricks.sliding_window_view(padded, reach)[lo:hi]
        span = np.maximum.accumulate(groups, axis=1) - s[lo:hi, None]
        if limit.algorithm == "token-bucket":
            allowed = limit.limit + rate * span + 1e-9
            excess = np.where(span < limit.window_s, counts - np.floor(allowed), 0)
        else:
            excess = np.where(span < limit.window_s, counts - limit.limit, 0)
        k = np.argmax(excess, axis=1)
        best = excess[np.arange(hi - lo), k]
        i = int(np.argmax(best))
        if best[i] > worst[0]:
            worst = (int(best[i]), float(s[lo + i]), float(span[i, k[i]]))
    return worst


def announced_mismatches(ctx: JudgeContext) -> list[dict[str, object]]:
    """Endpoints whose responses announce (X-RateLimit-Limit) a limit other than the one they are judged by."""
    out: list[dict[str, object]] = []
    for endpoint, limit in sorted(ctx.rate_limits.items()):
        rec = ctx.frame(["ratelimit_limit"], endpoint=[endpoint])
        announced = set(rec.loc[rec["ratelimit_limit"] > 0, "ratelimit_limit"])
        if announced - {limit.limit}:
            out.append({"endpoint": endpoint, "announced": sorted(int(a) for a in announced), "limit": limit.limit,
                        "problem": "announced limit differs from the limit held to"})
    return out


def judge_rate_limits(ctx: JudgeContext) -> Check:
    violations: list[dict[str, object]] = []
    misstated: list[dict[str, object]] = []
    keys_checked = remaining_judged = 0
    for endpoint, limit in sorted(ctx.rate_limits.items()):
        rec = ctx.frame(["sent_s", "latency_ms", "status", "client_key", "key_issued", "ratelimit_remaining",
                         "user_kind"], endpoint=[endpoint])
        rec = pd.DataFrame({"identity": client_identity(rec), "sent_s": rec["sent_s"],
                            "done_s": rec["sent_s"] + rec["latency_ms"] / 1000.0, "status": rec["status"],
                            "ratelimit_remaining": rec["ratelimit_remaining"], "fuzz": rec["user_kind"] == "fuzzer"})
        # A fuzz case may break the X-API-Key header itself, so the target counts it under another client than
        # the one recorded: Remaining values are judged for the clients whose identity the judge knows.
        wrong, judged = remaining_mismatches(rec[~rec["fuzz"]], endpoint, limit)
        misstated += wrong
        remaining_judged += judged
        admitted = (rec["identity"] != "") & (rec["status"] != 429) & (rec["status"] != 0)
        for key, sent, done in per_client(rec["identity"][admitted], rec["sent_s"][admitted], rec["done_s"][admitted]):
            keys_checked += 1
            excess, at, span = max_excess(sent, done, limit)
            if excess > 0:
                violations.append({"endpoint": endpoint, "client_key": key, "excess": excess,
                                   "from_s": round(at, 3), "span_s": round(span, 3), "limit": limit.limit,
                                   "window_s": limit.window_s, "algorithm": limit.algorithm})
        del rec
    misannounced = announced_mismatches(ctx)
    limited = ctx.frame(["client_key", "user_kind", "endpoint", "sent_s", "ratelimit_headers_ok"], status=[429])
    no_headers = limited[limited["ratelimit_headers_ok"] == 0]
    headers_checked = int((limited["ratelimit_headers_ok"] != -1).sum())
    good_limited = limited[limited["user_kind"].isin(WELL_BEHAVED_KINDS)]
    anonymous = ctx.frame(["status"], key_issued=[0])
    figures = {"endpoints_limited": len(ctx.rate_limits), "client_keys_checked": keys_checked,
               "over_limit_keys": len(violations), "responses_429": len(limited),
               "429_without_headers": len(no_headers), "429_headers_checked": headers_checked,
               "well_behaved_429": len(good_limited), "misannounced_endpoints": len(misannounced),
               "well_behaved_429_keys": int(good_limited["client_key"].nunique()),
               "anonymous_requests": len(anonymous), "anonymous_429": int((anonymous["status"] == 429).sum())}
    abusive = ctx.frame(["user_kind", "status"], user_kind=ABUSIVE_KINDS)
    refused_again, waited = refused_after_waiting(ctx)
    long_waits, long_wait_count = announced_wait_beyond_limit(ctx)
    figures.update({"waited_retry_after": waited, "refused_after_waiting": len(refused_again),
                    "remaining_values_checked": remaining_judged, "remaining_mismatches": len(misstated),
                    "waits_beyond_limit": long_wait_count})
    for kind in ABUSIVE_KINDS:
        mine = abusive[abusive["user_kind"] == kind]
        if len(mine):
            figures[f"{kind}_requests"] = len(mine)
            figures[f"{kind}_429"] = int((mine["status"] == 429).sum())
    evidence: list[object] = list(violations[:MAX_EVIDENCE]) + [
        {"client_key": r.client_key, "user_kind": r.user_kind, "endpoint": r.endpoint, "sent_s": round(r.sent_s, 3),
         "problem": "429 for a well-behaved client"} for r in list(good_limited.itertuples())[:MAX_EVIDENCE]]
    problems = []
    if violations:
        v = violations[0]
        problems.append(f"{len(violations)} client key(s) admitted over the limit (first: {v['client_key']} on "
                        f"{v['endpoint']}: {v['excess']} over {v['limit']}/{v['window_s']:g} s from {v['from_s']} s)")
    if len(no_headers):
        problems.append(f"{len(no_headers)} of {len(limited)} 429 responses lacked Retry-After/X-RateLimit-* headers")
    if len(good_limited):
        keys = figures["well_behaved_429_keys"]
        hint = (f" ({keys} issued keys: a target that limits by address, not by the keys of SRH_API_KEYS_FILE, "
                "throttles them together)" if keys > 1 else "")
        problems.append(f"{len(good_limited)} 429s went to well-behaved clients{hint}")
    if misannounced:
        m = misannounced[0]
        problems.append(f"{len(misannounced)} endpoint(s) announce another limit than the one they are held to "
                        f"(first: {m['endpoint']} announces X-RateLimit-Limit {m['announced']}, limit {m['limit']})")
        evidence += misannounced[:MAX_EVIDENCE]
    if len(refused_again):
        first = refused_again.iloc[0]
        problems.append(f"{len(refused_again)} of {waited} requests sent after waiting out Retry-After were refused "
                        f"again (first: {first['client_key']} at {first['sent_s']:.3f} s)")
        evidence += [{"client_key": r.client_key, "endpoint": r.endpoint, "sent_s": round(r.sent_s, 3),
                      "problem": "429 after waiting Retry-After"} for r in list(refused_again.itertuples())[:MAX_EVIDENCE]]
    if misstated:
        problems.append(f"{len(misstated)} X-RateLimit-Remaining values disagree with the client's admissions "
                        f"(first: {misstated[0]['client_key']} on {misstated[0]['endpoint']}: {misstated[0]['problem']})")
        evidence += misstated[:MAX_EVIDENCE]
    if long_wait_count:
        problems.append(f"{long_wait_count} responses announce a Retry-After or X-RateLimit-Reset longer than the "
                        "limit allows")
        evidence += long_waits
    if problems:
        return Check("P34", "property", NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if not ctx.rate_limits:
        return Check("P34", "property", NAME, VERDICT_INCONCLUSIVE, "no rate limits were given to judge", figures)
    if len(limited) == 0:
        return Check("P34", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no request was rate limited (429), so the limit was never exercised", figures)
    if headers_checked == 0:
        return Check("P34", "property", NAME, VERDICT_INCONCLUSIVE,
                     f"{len(limited)} 429s seen but the client recorded no header check", figures)
    if waited == 0:
        return Check("P34", "property", NAME, VERDICT_INCONCLUSIVE,
                     "no client waited out a 429's Retry-After, so its truth was never exercised", figures)
    return Check("P34", "property", NAME, VERDICT_PASS,
                 f"{keys_checked} client keys within their limits; {len(limited)} 429s, all with headers; "
                 f"no 429 for well-behaved clients; {waited} clients admitted after waiting Retry-After; "
                 f"{remaining_judged} Remaining values agree with the admissions", figures)
