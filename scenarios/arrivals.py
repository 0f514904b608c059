"""Open-model arrivals: when each request *should* be sent, whatever the service's speed.

Each traffic kind gets its own seeded, non-homogeneous Poisson process (thinning against the
profile's rate function times the kind's share of the mix). Locust users only execute this
schedule: a free user takes the next arrival, sleeps until its intended time and sends it. When
every user of a kind is busy the arrival waits in the queue and is sent late; its latency is still
measured from the intended time (coordinated omission corrected). An arrival more than
`max_lag_s` late is dropped and counted instead of sent, so an overloaded service cannot make the
load generator spiral.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.profiles import Phase
from scenarios.shapes import phase_peak, rate_at

MAX_ARRIVALS = 2_000_000
POOL_SECONDS = 4.0  # users per kind = the kind's peak arrivals/s x this, plus two
MAX_POOL = 300


def poisson_arrivals(
    rate_fn: Callable[[float], float], duration_s: float, peak_rate: float, rng: random.Random
) -> list[float]:
    """Arrival times in [0, duration_s) of a Poisson process with intensity `rate_fn` (thinning)."""
    if duration_s <= 0 or peak_rate <= 0:
        return []
    out: list[float] = []
    t = 0.0
    while len(out) < MAX_ARRIVALS:
        t += rng.expovariate(peak_rate)
        if t >= duration_s:
            break
        if rng.random() * peak_rate < rate_fn(t):
            out.append(t)
    return out


def kind_shares(mix: Mapping[str, float]) -> dict[str, float]:
    """The mix's weights normalised to shares summing to 1 (zero weights dropped)."""
    total = sum(mix.values())
    return {kind: w / total for kind, w in mix.items() if w > 0}


def build_schedules(phases: Sequence[Phase], mix: Mapping[str, float], seed: int) -> dict[str, list[float]]:
    """One deterministic arrival list per traffic kind; the same seed always gives the same lists."""
    duration = sum(p.duration_s for p in phases)
    peak = max((phase_peak(p) for p in phases), default=0.0)
    schedules = {}
    for kind, share in sorted(kind_shares(mix).items()):
        rng = random.Random(f"{seed}:arrivals:{kind}")

        def rate(t: float, s: float = share) -> float:
            return rate_at(phases, t) * s

        schedules[kind] = poisson_arrivals(rate, duration, peak * share, rng)
    return schedules


def pool_sizes(phases: Sequence[Phase], mix: Mapping[str, float], overrides: Mapping[str, int],
               busy_s: float = POOL_SECONDS) -> dict[str, int]:
    """Users per traffic kind: enough to absorb the kind's peak rate while each user is busy `busy_s`."""
    peak = max((phase_peak(p) for p in phases), default=0.0)
    out = {}
    for kind, share in kind_shares(mix).items():
        computed = min(MAX_POOL, math.ceil(peak * share * busy_s) + 2)
        out[kind] = max(1, int(overrides.get(kind, computed)))
    return out


@dataclass(slots=True)
class Counters:
    """What happened to a kind's arrivals so far."""

    scheduled: int = 0
    sent: int = 0
    late: int = 0
    dropped: int = 0


class ArrivalQueue:
    """The pending arrivals of one traffic kind, shared by that kind's users in one process."""

    def __init__(self, times: Sequence[float], max_lag_s: float = 10.0, late_after_s: float = 0.05) -> None:
        self._pending = deque(times)
        self.max_lag_s = max_lag_s
        self.late_after_s = late_after_s
        self.counters = Counters(scheduled=len(times))

    def __len__(self) -> int:
        return len(self._pending)

    def take(self, now_s: float) -> float | None:
        """Next arrival to send (its intended time), dropping any that are hopelessly late.

        Returns None when the schedule is exhausted.
        """
        while self._pending:
            intended = self._pending.popleft()
            lag = now_s - intended
            if lag > self.max_lag_s:
                self.counters.dropped += 1
                continue
            return intended
        return None

    def mark_sent(self, intended_s: float, sent_s: float) -> None:
        """Count a send; it is late when it left more than `late_after_s` after its intended time."""
        self.counters.sent += 1
        if sent_s - intended_s > self.late_after_s:
            self.counters.late += 1

    def drop_remaining(self) -> int:
        """At shutdown: count every arrival never sent as dropped; returns how many."""
        n = len(self._pending)
        self.counters.dropped += n
        self._pending.clear()
        return n
