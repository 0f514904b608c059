"""P32 (malformed input is rejected cleanly) and P33 (tampered proofs are rejected and logged CRITICAL).

P33 also reads the replays (user kind `replayer`): a served payment presented again, after its answer
and later once settled, must be refused; of two copies sent at once at most one may be served (no x402
receipt's transaction is served to two requests), the other refused, never a 5xx other than 503 (no
Horizon to check the payer: nothing done); inconclusive when no replay was sent.

P32's malformed requests are the fuzzers' (the seeded corpus) and the slow clients' (a head or body
that never finishes arriving): each must get a 4xx with a JSON body, never a 5xx or no answer, and
nothing may reach the ledger. A corpus case that changed one field of a valid request is recorded
with `expected="reject:<field>"`; its 4xx must name that field (the body's `field`, recorded as
`error_field`): a rejection for another reason means the check of that field was never reached, so
it is a finding, not a pass (a 429 is left out: the limiter answered before any validation; so are a
404 and a 405: the target has no such route).
"""

from __future__ import annotations

import re

import pandas as pd

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import error_records, kind_records, traced_applied
from harness.judges.sql import in_list

P32_NAME = "P32 input validation: malformed requests get 4xx JSON, never 5xx, no ledger effect"
P33_NAME = "P33 crypto verification: tampered proofs and replays rejected, none settled, each tamper logged CRITICAL"
MALFORMED_KINDS = ("fuzzer", "slow_client")
TAMPER_KINDS = ("tamperer", "tamperer_v2")
P32_COLUMNS = ("expected", "status", "body_json", "user_kind", "path", "sent_s", "error", "error_field", "tx_hash",
               "idempotency_key")
# expected: reject (or "") = cryptographic tampering (logged CRITICAL); mismatch = honestly signed for the
# wrong amount, payee or token; replay = a payment presented again (user kind `replayer`); replay_race =
# one of two copies of a payment sent at once (at most one may be served).
REFUSED = ("reject", "", "mismatch", "replay")
RACE = "replay_race"
X402_ENDPOINTS = ("x402", "x402-v2")
FIELD_PREFIX = "reject:"
UNJUDGED_STATUSES = (404, 405, 429)  # no such route or method; rate limited before validation


def _path_parts(path: str) -> list[str]:
    return [p for p in re.split(r"[.\[\]]+", path.lower()) if p]


def names_field(expected: str, got: str) -> bool:
    """The error's field path names the changed field: the changed field's path components appear, adjacent
    and in order, in the error's (a service may prefix its own object, `escrow.amount`, or point inside the
    field, `participants[0]`). Header names compare case-insensitively."""
    want, have = _path_parts(expected), _path_parts(got)
    return bool(want) and any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def _wrong_field(fuzz: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Single-defect cases refused (4xx other than 429, 404, 405) without naming their field; and how many
    were judged. A 404 or 405 says the target has no such route (a target need not serve every route of
    the reference contract), a 429 that the limiter answered before any validation."""
    targeted = fuzz[fuzz["expected"].str.startswith(FIELD_PREFIX) & (fuzz["status"] // 100 == 4)
                    & ~fuzz["status"].isin(UNJUDGED_STATUSES)]
    named = [names_field(e[len(FIELD_PREFIX):], f) for e, f in zip(targeted["expected"], targeted["error_field"],
                                                                     strict=True)]
    return targeted[[not n for n in named]], len(targeted)


def judge_input_validation(ctx: JudgeContext) -> Check:
    fuzz = pd.concat([kind_records(ctx, kind, columns=P32_COLUMNS) for kind in MALFORMED_KINDS])
    fuzz = fuzz[fuzz["expected"].isin(["reject", ""]) | fuzz["expected"].str.startswith(FIELD_PREFIX)]
    status = fuzz["status"]
    five = fuzz[status >= 500]
    hung = fuzz[status == 0]
    accepted = fuzz[(status >= 200) & (status < 400)]
    not_json = fuzz[(status >= 400) & (status < 500) & (fuzz["body_json"] == 0)]
    applied = traced_applied(ctx, fuzz)
    wrong_field, field_judged = _wrong_field(fuzz)
    figures = {"single_field_cases": field_judged, "refused_for_another_field": len(wrong_field),
               "malformed_requests": len(fuzz), "rejected_4xx": int(((status >= 400) & (status < 500)).sum()),
               "server_errors_5xx": len(five), "no_response": len(hung), "accepted": len(accepted),
               "non_json_bodies": len(not_json), "json_checked": int((fuzz["body_json"] != -1).sum()),
               "ledger_effects": len(applied), "slow_requests": int((fuzz["user_kind"] == "slow_client").sum()),
               "endpoints": int(fuzz["path"].str.split("/").str[1].nunique())}
    evidence: list[object] = [
        {"path": r.path, "status": int(r.status), "sent_s": round(r.sent_s, 3), "error": r.error[:120]}
        for r in list(five.itertuples())[:10] + list(hung.itertuples())[:5] + list(accepted.itertuples())[:5]
    ] + [{"tx_hash": h, "problem": "applied on the ledger"} for h in applied[:10]] + [
        {"path": r.path, "status": int(r.status), "changed": r.expected[len(FIELD_PREFIX):], "error": r.error,
         "field": r.error_field, "problem": "refused for another field or reason"}
        for r in list(wrong_field.itertuples())[:10]]
    problems = []
    if len(five):
        problems.append(f"{len(five)} of {len(fuzz)} malformed requests got 5xx (first: {five.iloc[0]['path']} "
                        f"-> {int(five.iloc[0]['status'])})")
    if len(hung):
        problems.append(f"{len(hung)} malformed requests got no response")
    if len(accepted):
        problems.append(f"{len(accepted)} malformed requests were accepted (2xx/3xx)")
    if len(not_json):
        problems.append(f"{len(not_json)} rejections without a JSON body")
    if applied:
        problems.append(f"{len(applied)} ledger transactions trace back to malformed requests")
    if len(wrong_field):
        first = wrong_field.iloc[0]
        problems.append(f"{len(wrong_field)} of {field_judged} single-field malformed requests were refused for "
                        f"another field or reason (first: changed {first['expected'][len(FIELD_PREFIX):]!r}, "
                        f"refused {first['error']!r} naming {first['error_field']!r})")
    if problems:
        return Check("P32", "property", P32_NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if len(fuzz) < ctx.params.min_malformed:
        return Check("P32", "property", P32_NAME, VERDICT_INCONCLUSIVE,
                     f"only {len(fuzz)} malformed requests (need {ctx.params.min_malformed})", figures)
    if figures["json_checked"] == 0:
        return Check("P32", "property", P32_NAME, VERDICT_INCONCLUSIVE,
                     f"all {len(fuzz)} malformed requests got 4xx, but no client recorded whether the body was JSON",
                     figures)
    if field_judged == 0:
        return Check("P32", "property", P32_NAME, VERDICT_INCONCLUSIVE,
                     f"all {len(fuzz)} malformed requests got 4xx, but none changed a named field, so no rejection "
                     "could be checked for its reason", figures)
    return Check("P32", "property", P32_NAME, VERDICT_PASS,
                 f"all {len(fuzz)} malformed requests got 4xx with a JSON body; each of {field_judged} single-field "
                 "cases was refused naming its field; zero 5xx; no ledger effect", figures)


def served_more_than_once(ctx: JudgeContext) -> dict[str, int]:
    """Payments (transaction hashes of x402 receipts) served to more than one request: a replay got through."""
    return {str(h): int(n) for h, n in ctx.query(
        f"SELECT lower(tx_hash) AS h, count(*) FROM records WHERE endpoint IN {in_list(X402_ENDPOINTS)} "
        "AND status // 100 = 2 AND tx_hash <> '' GROUP BY h HAVING count(*) > 1 ORDER BY h")}


def _replay_figures(ctx: JudgeContext, mine: pd.DataFrame) -> dict[str, int]:
    """`mine`: the replayers' records not refused by the rate limiter (status, expected, tx_hash)."""
    race = mine[mine["expected"] == RACE]
    raced = pd.DataFrame({"h": sorted(set(race.loc[race["status"] // 100 == 2, "tx_hash"].str.lower()) - {""})},
                         dtype=str)
    ((applied,),) = ctx.query("SELECT count(*) FROM raced WHERE h IN (SELECT hash FROM applied WHERE successful = 1)",
                              raced=raced)
    return {"replays_sent": int((mine["expected"] == "replay").sum()), "race_copies_sent": len(race),
            "race_payments_served": len(raced), "race_payments_applied": int(applied)}


def judge_tampered_proofs(ctx: JudgeContext) -> Check:
    sent = ctx.frame(["status", "expected", "user_kind", "endpoint", "path", "sent_s", "tx_hash", "idempotency_key"],
                     user_kind=[*TAMPER_KINDS, "replayer"], expected=REFUSED)
    replays = ctx.frame(["status", "expected", "tx_hash"], user_kind=["replayer"])
    replays = replays[replays["status"] != 429]
    tampered = sent[sent["status"] != 429]  # refused by the rate limiter before any verification
    status = tampered["status"]
    accepted = tampered[(status >= 200) & (status < 300)]
    not_4xx = tampered[(status < 400) | (status >= 500)]
    settled = traced_applied(ctx, tampered)
    critical = len(error_records(ctx, "critical"))
    crypto = int(tampered["expected"].isin(["reject", ""]).sum())
    figures = {"tampered": len(tampered), "crypto": crypto, "mismatched": int((tampered["expected"] == "mismatch").sum()),
               "replayed": int((tampered["expected"] == "replay").sum()), "rate_limited": len(sent) - len(tampered),
               "rejected_4xx": int(((status >= 400) & (status < 500)).sum()),
               "accepted": len(accepted), "settled": len(settled), "critical_records": critical,
               "accepted_by_kind": {f"{k}/{e}": int(n) for (k, e), n in
                                    accepted.groupby(["user_kind", "expected"]).size().items()},
               **_replay_figures(ctx, replays)}
    doubly = served_more_than_once(ctx)
    race = replays[replays["expected"] == RACE]
    # a 503 says no Horizon was reachable to check the payer (nothing done), not a failed replay check
    race_broken = race[((race["status"] >= 500) & (race["status"] != 503)) | (race["status"] == 0)]
    figures.update(payments_served_twice=len(doubly), race_copies_5xx_or_unanswered=len(race_broken))
    evidence: list[object] = [
        {"path": r.path, "status": int(r.status), "sent_s": round(r.sent_s, 3)} for r in list(not_4xx.itertuples())[:10]
    ]
    evidence += [{"tx_hash": h, "problem": "tampered proof settled"} for h in settled[:10]]
    problems = []
    if len(not_4xx):
        problems.append(f"{len(not_4xx)} of {len(tampered)} tampered proofs were not rejected with 4xx "
                        f"({len(accepted)} accepted)")
    if settled:
        problems.append(f"{len(settled)} tampered proofs settled on the ledger")
    if doubly:
        first, times = next(iter(doubly.items()))
        problems.append(f"{len(doubly)} x402 payments were served to more than one request (first: {first[:16]}… "
                        f"{times} times): a replay got through")
        evidence += [{"tx_hash": h, "served": n, "problem": "one payment served more than once"}
                     for h, n in list(doubly.items())[:10]]
    if len(race_broken):
        problems.append(f"{len(race_broken)} of {len(race)} concurrent copies of a payment got a 5xx other than 503 "
                        "or no answer (one must be served, the other refused as a replay)")
    if len(tampered) and critical != crypto:
        problems.append(f"CRITICAL records {critical} != cryptographically tampered proofs {crypto}")
    if problems:
        return Check("P33", "property", P33_NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if len(tampered) < ctx.params.min_cases:
        return Check("P33", "property", P33_NAME, VERDICT_INCONCLUSIVE,
                     f"only {len(tampered)} tampered proofs (need {ctx.params.min_cases})", figures)
    if figures["replays_sent"] == 0 or (figures["race_copies_sent"] == 0 and (tampered["endpoint"] == "x402").any()):
        missing = "no served payment was presented again" if figures["replays_sent"] == 0 else \
            "no x402 payment was sent as two concurrent copies"
        return Check("P33", "property", P33_NAME, VERDICT_INCONCLUSIVE,
                     f"{len(tampered)} tampered proofs rejected, but {missing} (replays not exercised)", figures)
    return Check("P33", "property", P33_NAME, VERDICT_PASS,
                 f"all {len(tampered)} tampered, mismatched or replayed proofs rejected, none settled; "
                 f"{critical} CRITICAL records for {crypto} tampered; no payment served twice "
                 f"({figures['race_copies_sent']} concurrent copies)", figures)
