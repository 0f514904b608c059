"""Every environment judged at its own cadence: a profile fitted to `config/<env>.json`.

A profile file is written for the development cadence (a ledger close every second, breakers that
try again after 10 s). Testnet and mainnet close every 5 s and keep an opened breaker open 30 s and
60 s, so the same schedule would judge them wrongly: settlement finality measured at the wrong
cadence, and recoveries judged before an opened breaker may even try again. `derive_profile` fits a
profile to an environment's `Cadence` (close interval C, breaker timeout B, judging window W):

1. The offline ledger closes every C: a profile has no close interval of its own.
2. The recovery-time objective is at least B + C: after an outage that opened both breakers nothing
   settles until a breaker half-opens (B after it opened) and a ledger closes. A lower `rto_s` is
   raised (and the change recorded), never silently judged.
3. The quiet time after each fault cluster (faults overlapping in time) until the next cluster, or
   the profile's end, is at least `hold + C + W`: `hold` is how long a breaker the cluster opened
   may stay open after it ends. An outage (down, timeout, reset_peer at full toxicity) of length d
   opens the breakers as it begins and they try again every B, so they half-open
   ceil(d / B) * B after its start: hold = ceil(d / B) * B - d. Other faults leave them closed
   (hold 0). After the last cluster the quiet time is also at least rto + W, so a recovery slower
   than the objective is a conclusive failure rather than too little data.
   A shorter gap is stretched: the missing seconds are inserted just before the next cluster (or at
   the profile's end); the phase holding that moment grows, and everything after it moves later.
4. The load generator's users that wait for a ledger close (paying agents and tamperers wait until
   their payment is in a ledger, settlers and escrow users for their answer) get pools sized for two
   closes per arrival when that is more than the default few seconds: with too few users, arrivals
   queue and go out as users free up, i.e. right after a close, and then wait a whole close, which
   would inflate settlement finality by the harness's own doing. A profile's `pools` still win.

Rates, mix, fault kinds and fault lengths never change; deriving again changes nothing more. The
shipped profiles are written so that the development derivation changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessConfigurationError
from harness.judges.context import OUTAGE_TOXICS, JudgingParams
from harness.profiles import MAX_DURATION_S, Cadence, FaultSpec, Phase, Profile, ProfileError
from scenarios.arrivals import POOL_SECONDS, pool_sizes

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
_EPS = 1e-9
_DEFAULTS = JudgingParams()
# Traffic kinds whose users wait for a ledger close before they take the next arrival.
LEDGER_BOUND_KINDS = ("paying_agent", "settler", "escrow_user", "tamperer")


def environment_cadence(env: str, config_dir: Path = CONFIG_DIR,
                        environ: Mapping[str, str] | None = None) -> Cadence:
    """The close interval and breaker timeout of `config/<env>.json` (environment overrides applied,
    as the service under test applies them)."""
    from reference_impl.config_manager import ConfigManager
    from reference_impl.errors import ConfigurationError

    try:
        config = ConfigManager(env, config_dir, environ).load()
    except ConfigurationError as exc:
        raise HarnessConfigurationError(f"environment {env}: {exc}") from None
    return Cadence(env, config.stellar.ledger_close, config.security.circuit_breaker.timeout)


@dataclass(frozen=True, slots=True)
class FaultCluster:
    """Faults that overlap or touch in time; `outage` when one of them makes its proxy unusable."""

    start_s: float
    end_s: float
    outage: bool
    labels: tuple[str, ...]

    def describe(self) -> str:
        return f"{' + '.join(self.labels)} ({self.start_s:g}-{self.end_s:g} s)"


def fault_clusters(faults: tuple[FaultSpec, ...]) -> list[FaultCluster]:
    out: list[FaultCluster] = []
    for f in sorted(faults, key=lambda f: (f.at_s, f.end_s)):
        outage = f.toxic in OUTAGE_TOXICS and f.toxicity >= 1.0
        if out and f.at_s <= out[-1].end_s + _EPS:
            c = out[-1]
            out[-1] = FaultCluster(c.start_s, max(c.end_s, f.end_s), c.outage or outage, (*c.labels, f.label))
        else:
            out.append(FaultCluster(f.at_s, f.end_s, outage, (f.label,)))
    return out


def breaker_hold_s(cluster: FaultCluster, breaker_timeout_s: float) -> float:
    """How long after `cluster` ends a breaker it opened (as it began) may stay open."""
    if not cluster.outage:
        return 0.0
    length = cluster.end_s - cluster.start_s
    return max(0.0, math.ceil(length / breaker_timeout_s - _EPS) * breaker_timeout_s - length)


def derive_profile(profile: Profile, cadence: Cadence) -> Profile:
    """`profile` fitted to `cadence` (module docstring); `cadence.changes` lists what changed and why.
    A `cadence` the profile already carries is replaced: every rule is checked again."""
    close = cadence.ledger_close_s
    judging = dict(profile.judging)
    breaker = float(judging.get("breaker_timeout_s", cadence.breaker_timeout_s))
    window = float(judging.get("window_s", _DEFAULTS.window_s))
    rto = float(judging.get("rto_s", _DEFAULTS.rto_s))
    clusters = fault_clusters(profile.faults)
    judging["breaker_timeout_s"] = breaker  # P35 judges the timeout the timeline was derived for
    changes: list[str] = []
    if clusters and rto < breaker + close - _EPS:
        changes.append(f"rto_s {rto:g} -> {breaker + close:g} s: after an outage of both Horizons nothing settles "
                       f"until a breaker half-opens ({breaker:g} s after it opened) and a ledger closes ({close:g} s)")
        rto = breaker + close
        judging["rto_s"] = rto
    inserts: list[tuple[float, float]] = []
    for k, cluster in enumerate(clusters):
        last = k == len(clusters) - 1
        until = profile.duration_s if last else clusters[k + 1].start_s
        hold = breaker_hold_s(cluster, breaker)
        need = max(hold + close + window, rto + window if last else 0.0)
        extra = round(need - (until - cluster.end_s), 3)
        if extra > _EPS:
            inserts.append((until, extra))
            changes.append(_gap_change(cluster, extra, until, last, hold, close, window, rto))
    phases, faults = _stretch(profile, inserts)
    pools = _ledger_bound_pools(profile, phases, close, changes)
    derived = replace(profile, phases=phases, faults=faults, judging=judging, pools=pools,
                      cadence=Cadence(cadence.env, close, breaker, tuple(changes)))
    if derived.duration_s > MAX_DURATION_S:
        raise ProfileError("phases", f"derived for {cadence.env}, the profile lasts {derived.duration_s:g}s, "
                                     f"more than {MAX_DURATION_S:g}s")
    return derived


def _ledger_bound_pools(profile: Profile, phases: tuple[Phase, ...], close: float, changes: list[str]) -> dict[str, int]:
    busy = 2.0 * close
    if busy <= POOL_SECONDS:
        return profile.pools
    sized = pool_sizes(phases, profile.mix, profile.pools, busy_s=busy)
    kinds = [k for k in LEDGER_BOUND_KINDS if k in sized and k not in profile.pools]
    if kinds:
        changes.append(f"users of {', '.join(kinds)} sized for {busy:g} s per arrival (two closes) instead of "
                       f"{POOL_SECONDS:g} s, so arrivals are not held back until a close frees a user")
    return {**profile.pools, **{k: sized[k] for k in kinds}}


def _gap_change(cluster: FaultCluster, extra: float, until: float, last: bool, hold: float, close: float,
                window: float, rto: float) -> str:
    where = "at the end of the profile" if last else f"before the faults at {until:g} s"
    why = (f"the breakers may stay open {hold:g} s after it, " if hold else "") + \
        f"then a close ({close:g} s) and a judging window ({window:g} s) show recovery"
    if last:
        why += f"; after the last fault the recovery objective needs rto_s + window = {rto + window:g} s"
    return f"{extra:g} s inserted {where}: after {cluster.describe()} {why}"


def _stretch(profile: Profile, inserts: list[tuple[float, float]]) -> tuple[tuple[Phase, ...], tuple[FaultSpec, ...]]:
    """Phases and faults with `inserts` ((time, seconds) on the written axis) added to the timeline."""
    if not inserts:
        return profile.phases, profile.faults

    def shift(t: float) -> float:
        return t + sum(extra for at, extra in inserts if at <= t + _EPS)

    phases = tuple(replace(phase, duration_s=round(shift(end) - shift(start), 3))
                   for phase, start, end in profile.phase_bounds())
    faults = tuple(replace(f, at_s=round(shift(f.at_s), 3)) for f in profile.faults)
    return phases, faults
