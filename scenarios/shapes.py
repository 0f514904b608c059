"""Load shapes: the profile's phases as an arrival-rate function of run time.

ramp: linear from `rate_start` to `rate`; steady and soak: constant `rate`; spike: `rate` in the
first and last thirds, `peak_rate` in the middle third. Locust itself is never imported here: the
Locust-side `LoadTestShape` lives in `scenarios/locustfile.py` and asks this module for rates.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.profiles import Phase


def phase_rate(phase: Phase, offset_s: float) -> float:
    """Arrival rate (requests/s) `offset_s` seconds into `phase`."""
    if phase.shape == "ramp":
        frac = min(1.0, max(0.0, offset_s / phase.duration_s))
        return phase.rate_start + (phase.rate - phase.rate_start) * frac
    if phase.shape == "spike":
        third = phase.duration_s / 3.0
        return phase.peak_rate if third <= offset_s < 2.0 * third else phase.rate
    return phase.rate


def phase_peak(phase: Phase) -> float:
    """The highest rate a phase reaches."""
    return max(phase.rate, phase.rate_start, phase.peak_rate)


def rate_at(phases: Sequence[Phase], t: float) -> float:
    """Total arrival rate at run time `t`; 0 before the start and after the last phase."""
    if t < 0:
        return 0.0
    start = 0.0
    for phase in phases:
        if t < start + phase.duration_s:
            return phase_rate(phase, t - start)
        start += phase.duration_s
    return 0.0


def phase_at(phases: Sequence[Phase], t: float) -> str:
    """Name of the phase running at time `t` ('' outside the profile)."""
    start = 0.0
    for phase in phases:
        if start <= t < start + phase.duration_s:
            return phase.name
        start += phase.duration_s
    return ""


def expected_arrivals(phases: Sequence[Phase]) -> float:
    """Expected number of arrivals over the whole profile (integral of the rate)."""
    total = 0.0
    for phase in phases:
        if phase.shape == "ramp":
            total += (phase.rate_start + phase.rate) / 2.0 * phase.duration_s
        elif phase.shape == "spike":
            third = phase.duration_s / 3.0
            total += phase.rate * 2.0 * third + phase.peak_rate * third
        else:
            total += phase.rate * phase.duration_s
    return total
