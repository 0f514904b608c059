"""Judges: turn one run's evidence (`JudgeContext`) into verdicts (`Check`s).

`judge(ctx)` runs every enabled check: one target per metric, one recovery check per fault window,
properties P30-P36, the nothing-lost, fees, percentiles, channels, state-bounds and health-contract
invariants and, when the profile names a ramp phase (`judging.capacity_phase`), the capacity knee. Rules: docs/judges.md.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from harness.judges.alerting import judge_alerting
from harness.judges.breaker import judge_breaker
from harness.judges.capacity import judge_capacity
from harness.judges.channels import judge_channels
from harness.judges.context import (
    Check,
    FaultWindow,
    JudgeContext,
    JudgingError,
    JudgingParams,
    Phase,
    RateLimit,
)
from harness.judges.failure_logging import judge_failure_logging
from harness.judges.fallback import judge_fallback
from harness.judges.fees import judge_fees
from harness.judges.health import judge_health
from harness.judges.nothing_lost import judge_nothing_lost, reconcile
from harness.judges.observability import observability_table, settle, unavailable
from harness.judges.percentiles import judge_percentiles
from harness.judges.rate_limits import judge_rate_limits
from harness.judges.recovery import judge_recoveries
from harness.judges.rejections import judge_input_validation, judge_tampered_proofs
from harness.judges.secret_scan import judge_secret_scan, scan_run_dir
from harness.judges.state_bounds import judge_state_bounds
from harness.judges.targets import judge_targets

PROPERTY_JUDGES: dict[str, Callable[[JudgeContext], Check]] = {
    "P30": judge_alerting,
    "P31": judge_failure_logging,
    "P32": judge_input_validation,
    "P33": judge_tampered_proofs,
    "P34": judge_rate_limits,
    "P35": judge_breaker,
    "P36": judge_fallback,
    "nothing-lost": judge_nothing_lost,
    "fees": judge_fees,
    "percentiles": judge_percentiles,
    "channels": judge_channels,
    "state-bounds": judge_state_bounds,
    "health": judge_health,
}


def judge(ctx: JudgeContext) -> list[Check]:
    """Every enabled check, in scorecard order: targets, recoveries, P30-P36, nothing-lost, fees, percentiles, channels,
    state-bounds, health, capacity.

    Each check is settled against the evidence contract: it states the evidence it used, and one whose
    evidence is incomplete is inconclusive "not observable" (harness/judges/observability.py).
    """
    checks = judge_targets(ctx)
    gc.collect()
    checks += judge_recoveries(ctx)
    for cid, fn in PROPERTY_JUDGES.items():
        if ctx.params.is_enabled(cid):
            gc.collect()  # frames left in reference cycles by one judge hold hundreds of MiB in a large run
            checks.append(fn(ctx))
    if ctx.params.capacity_phase is not None and ctx.params.is_enabled("capacity"):
        checks.append(judge_capacity(ctx))
    missing = unavailable(ctx)
    return [settle(c, ctx, missing) for c in checks]


__all__ = [
    "Check", "FaultWindow", "JudgeContext", "JudgingError", "JudgingParams", "Phase", "RateLimit",
    "PROPERTY_JUDGES", "judge", "judge_capacity", "judge_secret_scan", "observability_table", "reconcile",
    "scan_run_dir",
]
