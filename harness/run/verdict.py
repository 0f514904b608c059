"""From checks to the run's verdict and exit code (harness/outputs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.judges.context import Check
from harness.outputs import (
    EXIT_CHECK_FAILED,
    EXIT_HARNESS_ERROR,
    EXIT_INCONCLUSIVE,
    EXIT_MONEY_LOST,
    EXIT_PASS,
)

MONEY_CHECK_IDS = ("nothing-lost",)


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # one of harness.outputs.VERDICTS
    exit_code: int
    reason: str


def decide(checks: Sequence[Check], harness_error: str = "") -> Verdict:
    """Money lost (2) beats a failed check (1) beats inconclusive (3); a harness error is 4.

    No checks at all is inconclusive: a run that judged nothing proves nothing.
    """
    if harness_error:
        return Verdict("error", EXIT_HARNESS_ERROR, harness_error)
    money = [c for c in checks if c.id in MONEY_CHECK_IDS and c.verdict == "fail"]
    if money:
        return Verdict("money-lost", EXIT_MONEY_LOST, "; ".join(f"{c.id}: {c.reason}" for c in money))
    failed = [c for c in checks if c.verdict == "fail"]
    if failed:
        return Verdict("fail", EXIT_CHECK_FAILED, "failed: " + ", ".join(c.id for c in failed))
    if not checks:
        return Verdict("inconclusive", EXIT_INCONCLUSIVE, "no checks were judged")
    thin = [c for c in checks if c.verdict == "inconclusive"]
    if thin:
        return Verdict("inconclusive", EXIT_INCONCLUSIVE, "inconclusive: " + ", ".join(c.id for c in thin))
    return Verdict("pass", EXIT_PASS, f"all {len(checks)} checks hold")
