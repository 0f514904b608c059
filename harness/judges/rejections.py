"""P32 (malformed input is rejected cleanly) and P33 (tampered proofs are rejected and logged CRITICAL).

P32's malformed requests are the fuzzers' (the seeded corpus) and the slow clients' (a head or body
that never finishes arriving): each must get a 4xx with a JSON body, never a 5xx or no answer, and
nothing may reach the ledger.
"""

from __future__ import annotations

import pandas as pd

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.judges.evidence import error_records, kind_records, traced_applied

P32_NAME = "P32 input validation: malformed requests get 4xx JSON, never 5xx, no ledger effect"
P33_NAME = "P33 crypto verification: tampered proofs rejected, none settled, each logged CRITICAL"
MALFORMED_KINDS = ("fuzzer", "slow_client")
TAMPER_KINDS = ("tamperer", "tamperer_v2")
# expected: reject (or "") = cryptographic tampering (logged CRITICAL); mismatch = honestly signed for the
# wrong amount, payee or token; replay = a payment presented again (user kind `replayer`).
REFUSED = ("reject", "", "mismatch", "replay")


def judge_input_validation(ctx: JudgeContext) -> Check:
    fuzz = pd.concat([kind_records(ctx, kind, expected=("reject", "")) for kind in MALFORMED_KINDS])
    status = fuzz["status"]
    five = fuzz[status >= 500]
    hung = fuzz[status == 0]
    accepted = fuzz[(status >= 200) & (status < 400)]
    not_json = fuzz[(status >= 400) & (status < 500) & (fuzz["body_json"] == 0)]
    applied = traced_applied(ctx, fuzz)
    figures = {"malformed_requests": len(fuzz), "rejected_4xx": int(((status >= 400) & (status < 500)).sum()),
               "server_errors_5xx": len(five), "no_response": len(hung), "accepted": len(accepted),
               "non_json_bodies": len(not_json), "json_checked": int((fuzz["body_json"] != -1).sum()),
               "ledger_effects": len(applied), "slow_requests": int((fuzz["user_kind"] == "slow_client").sum()),
               "endpoints": int(fuzz["path"].str.split("/").str[1].nunique())}
    evidence: list[object] = [
        {"path": r.path, "status": int(r.status), "sent_s": round(r.sent_s, 3), "error": r.error[:120]}
        for r in list(five.itertuples())[:10] + list(hung.itertuples())[:5] + list(accepted.itertuples())[:5]
    ] + [{"tx_hash": h.get("hash"), "problem": "applied on the ledger"} for h in applied[:10]]
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
    if problems:
        return Check("P32", "property", P32_NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if len(fuzz) < ctx.params.min_malformed:
        return Check("P32", "property", P32_NAME, VERDICT_INCONCLUSIVE,
                     f"only {len(fuzz)} malformed requests (need {ctx.params.min_malformed})", figures)
    if figures["json_checked"] == 0:
        return Check("P32", "property", P32_NAME, VERDICT_INCONCLUSIVE,
                     f"all {len(fuzz)} malformed requests got 4xx, but no client recorded whether the body was JSON",
                     figures)
    return Check("P32", "property", P32_NAME, VERDICT_PASS,
                 f"all {len(fuzz)} malformed requests got 4xx with a JSON body; zero 5xx; no ledger effect", figures)


def judge_tampered_proofs(ctx: JudgeContext) -> Check:
    sent = ctx.frame(["status", "expected", "user_kind", "path", "sent_s", "tx_hash", "idempotency_key"],
                     user_kind=[*TAMPER_KINDS, "replayer"], expected=REFUSED)
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
                                    accepted.groupby(["user_kind", "expected"]).size().items()}}
    evidence: list[object] = [
        {"path": r.path, "status": int(r.status), "sent_s": round(r.sent_s, 3)} for r in list(not_4xx.itertuples())[:10]
    ] + [{"tx_hash": h.get("hash"), "problem": "tampered proof settled"} for h in settled[:10]]
    problems = []
    if len(not_4xx):
        problems.append(f"{len(not_4xx)} of {len(tampered)} tampered proofs were not rejected with 4xx "
                        f"({len(accepted)} accepted)")
    if settled:
        problems.append(f"{len(settled)} tampered proofs settled on the ledger")
    if len(tampered) and critical != crypto:
        problems.append(f"CRITICAL records {critical} != cryptographically tampered proofs {crypto}")
    if problems:
        return Check("P33", "property", P33_NAME, VERDICT_FAIL, "; ".join(problems), figures, evidence)
    if len(tampered) < ctx.params.min_cases:
        return Check("P33", "property", P33_NAME, VERDICT_INCONCLUSIVE,
                     f"only {len(tampered)} tampered proofs (need {ctx.params.min_cases})", figures)
    return Check("P33", "property", P33_NAME, VERDICT_PASS,
                 f"all {len(tampered)} tampered, mismatched or replayed proofs rejected, none settled; "
                 f"{critical} CRITICAL records for {crypto} tampered", figures)
