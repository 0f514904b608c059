"""state-bounds: what the service holds for its clients stays within the bounds it announces, in total
and per client, and no well-behaved client loses its state to someone else (issue 15.1).

Evidence: the stores the service announces in `/health` as `state` ({store: {size, capacity,
per_client?, ttl_s?}}, polled about once a second into `state` events stamped with the answer's
time, `asked_at` the request's) and the client records.
- every sample: `size <= capacity`;
- stores with `per_client`: `size <= sum over clients of min(per_client, c)`, where `c` counts the
  client's requests that could have created an entry still held at the sample, less those that
  certainly consumed one (RULES: a 402 to `GET /resources/*` carries a new x402 nonce, kept `ttl_s`,
  and a 200 to a paid request consumed one; an accepted update of a channel not seen before may
  open it, kept for good, so channels count distinct paths; a request that got no answer may have
  created an entry). A client is an issued key, else the one anonymous client of the load's
  address (`rate_limits.client_identity`): a service that takes every fresh `X-API-Key` for a new
  client holds far more than that for the key-rotating abusers, and fails;
- well-behaved clients never see their state refused or lost: no `unknown_nonce` on a paid request,
  no `store_full`, no `quota_exceeded`.
Inconclusive ("not observable") when the service announces no stores, or none was exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.judges.context import (
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    WELL_BEHAVED_KINDS,
    Check,
    JudgeContext,
)
from harness.judges.rate_limits import client_identity

NAME = "state bounds: stores within their bounds, per client and overall; no client loses state to another"


@dataclass(frozen=True, slots=True)
class StoreRule:
    """Which answers may each have created an entry of a store (one per request, or per distinct path),
    and which certainly consumed one of the same client's entries."""

    creators: tuple[str, ...]
    created_by: int
    per_path: bool = False
    consumers: tuple[str, ...] = ()
    consumed_by: int = 0


RULES = {"x402_nonces": StoreRule(("x402-challenge", "x402"), 402, consumers=("x402",), consumed_by=200),
         "channels": StoreRule(("channel",), 200, per_path=True)}
LOST_STATE = ("invalid_exact_stellar_payload_unknown_nonce", "store_full", "quota_exceeded")
MAX_EVIDENCE = 10


def per_client_bound(created: pd.DataFrame, consumed: pd.DataFrame, span: tuple[float, float], per_client: int,
                     ttl_s: float | None, slack: float, per_path: bool = False) -> int:
    """Sum over clients of min(per_client, entries their requests may have created and still hold at
    some moment of `span` = (asked, answered)): one per request (or per distinct path when
    `per_path`), less the entries certainly consumed. A consumption counts only when it was answered
    before `span` and began well inside the window, so the entry it consumed was certainly created in
    the window (a paid request starts after its challenge; its record's `sent_s` is the challenge's
    start when the client kept it)."""
    asked, answered = span
    live = created[created["sent_s"] <= answered + slack]
    if ttl_s is not None:
        live = live[live["done_s"] >= asked - ttl_s - slack]
    grouped = live.groupby("identity")
    counts = grouped["path"].nunique() if per_path else grouped.size()
    if ttl_s is not None and len(consumed):
        used = consumed[(consumed["sent_s"] >= answered - ttl_s + 2 * slack) & (consumed["done_s"] <= asked - slack)]
        counts = counts.sub(used.groupby("identity").size(), fill_value=0)
    return int(counts.clip(lower=0, upper=per_client).sum())


def _samples(ctx: JudgeContext) -> list[tuple[tuple[float, float], dict[str, Any]]]:
    """((asked, answered), stores) per `state` event; without `asked_at` the answer's time is both."""
    out = []
    for event in ctx.events_of("state"):
        stores = event.data.get("stores")
        if isinstance(stores, dict):
            asked = event.data.get("asked_at")
            out.append(((float(asked) if isinstance(asked, int | float) else event.t, event.t), stores))
    return out


def judge_state_bounds(ctx: JudgeContext) -> Check:
    samples = _samples(ctx)
    if not samples:
        return Check("state-bounds", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "not observable: the service announced no store sizes (/health \"state\")", {"samples": 0})
    slack = ctx.params.clock_skew_s
    figures: dict[str, Any] = {"samples": len(samples)}
    evidence: list[object] = []
    problems: list[str] = []
    exercised = 0
    for store in sorted({name for _, stores in samples for name in stores}):
        rows = [(span, stores[store]) for span, stores in samples if isinstance(stores.get(store), dict)]
        sizes = [float(row.get("size", 0)) for _, row in rows]
        capacity = min(float(row.get("capacity", float("inf"))) for _, row in rows)
        figures[f"{store}.max_size"] = max(sizes)
        figures[f"{store}.capacity"] = capacity
        over = [(span[1], size) for (span, _), size in zip(rows, sizes, strict=True) if size > capacity]
        if over:
            problems.append(f"{store}: {len(over)} samples above its capacity {capacity:g} (max {max(sizes):g})")
            evidence += [{"store": store, "t": round(t, 3), "size": size, "capacity": capacity} for t, size in over[:3]]
        rule = RULES.get(store)
        if rule is not None and "per_client" in rows[0][1]:
            rec = ctx.frame(["sent_s", "latency_ms", "status", "endpoint", "path", "client_key", "key_issued"],
                            endpoint=(*rule.creators, *rule.consumers))
            known = rec.assign(identity=client_identity(rec), done_s=rec["sent_s"] + rec["latency_ms"] / 1000.0)
            known = known[known["identity"] != ""]
            # an unanswered request (status 0) may have created an entry too
            created = known[known["endpoint"].isin(rule.creators) & known["status"].isin((rule.created_by, 0))]
            consumed = known[known["endpoint"].isin(rule.consumers) & (known["status"] == rule.consumed_by)]
            exercised += int(len(created) > 0)
            worst = _worst_excess(store, rows, created, consumed, slack, rule.per_path)
            figures[f"{store}.per_client"] = float(rows[0][1]["per_client"])
            figures[f"{store}.max_over_per_client_bound"] = worst["excess"] if worst else 0
            if worst and worst["excess"] > 0:
                problems.append(f"{store}: {worst['size']:g} held at {worst['t']} s, more than the per-client quota "
                                f"allows ({worst['bound']} for the clients that asked)")
                evidence.append(worst)
    lost = ctx.frame(["user_kind", "path", "error", "sent_s"], user_kind=WELL_BEHAVED_KINDS, error=LOST_STATE)
    figures["well_behaved_state_refused"] = len(lost)
    if len(lost):
        first = lost.iloc[0]
        problems.append(f"{len(lost)} well-behaved requests lost or were refused state (first: {first['error']} "
                        f"for {first['user_kind']} at {first['sent_s']:.1f} s)")
        evidence += [{"user_kind": r.user_kind, "path": r.path, "error": r.error, "sent_s": round(r.sent_s, 3)}
                     for r in list(lost.itertuples())[:MAX_EVIDENCE]]
    if problems:
        return Check("state-bounds", "invariant", NAME, VERDICT_FAIL, "; ".join(problems), figures,
                     evidence[:3 * MAX_EVIDENCE])
    if not exercised:
        return Check("state-bounds", "invariant", NAME, VERDICT_INCONCLUSIVE,
                     "no request created per-client state (x402 challenges, channels)", figures)
    return Check("state-bounds", "invariant", NAME, VERDICT_PASS,
                 f"{len(samples)} samples: every store within its capacity and per-client quotas; "
                 "no well-behaved client lost state", figures)


def _worst_excess(store: str, rows: list[tuple[tuple[float, float], dict[str, Any]]], created: pd.DataFrame,
                  consumed: pd.DataFrame, slack: float, per_path: bool) -> dict[str, Any] | None:
    worst: dict[str, Any] | None = None
    for span, row in rows:
        ttl = float(row["ttl_s"]) if row.get("ttl_s") is not None else None
        bound = per_client_bound(created, consumed, span, int(row["per_client"]), ttl, slack, per_path)
        excess = float(row.get("size", 0)) - bound
        if worst is None or excess > worst["excess"]:
            worst = {"store": store, "t": round(span[1], 3), "size": float(row.get("size", 0)), "bound": bound,
                     "excess": excess}
    return worst
