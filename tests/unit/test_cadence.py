"""Profile x environment -> timeline, recovery objective and close interval (harness/cadence.py).

The rules are checked as invariants over generated profiles and cadences, and the invariant checker
is shown to catch derivations that break each rule (kept here as broken variants, never shipped).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cadence import (
    LEDGER_BOUND_KINDS,
    breaker_hold_s,
    derive_profile,
    environment_cadence,
    fault_clusters,
)
from harness.errors import HarnessConfigurationError
from harness.judges.context import JudgingParams
from harness.profiles import PROFILES_DIR, Cadence, Profile, ProfileError, load_profile, parse_profile
from scenarios.arrivals import POOL_SECONDS, pool_sizes

EPS = 1e-6
DEV, TESTNET, MAINNET = (environment_cadence(e) for e in ("development", "testnet", "mainnet"))


def doc(faults: list[dict], phases: list[tuple[str, float]] | None = None, **judging: float) -> dict:
    return {"name": "t", "phases": [{"name": n, "shape": "steady", "duration_s": d, "rate": 5}
                                    for n, d in (phases or [("steady", 30), ("faults", 40), ("recovery", 30)])],
            "mix": {"settler": 1}, "faults": faults, "judging": dict(judging)}


def fault(at: float, length: float, toxic: str = "down", proxy: str = "horizon-primary", **extra: object) -> dict:
    return {"at_s": at, "duration_s": length, "proxy": proxy, "toxic": toxic, **extra}


def violations(written: Profile, derived: Profile) -> list[str]:
    """Every rule of harness/cadence.py that `derived` breaks (an empty list when it is sound)."""
    cad = derived.cadence
    if cad is None:
        return ["not derived"]
    out = []
    close, breaker = cad.ledger_close_s, cad.breaker_timeout_s
    prm = JudgingParams.from_mapping(derived.judging)
    if [(p.name, p.shape, p.rate, p.steady) for p in written.phases] != \
            [(p.name, p.shape, p.rate, p.steady) for p in derived.phases]:
        out.append("phases changed other than in length")
    if any(d.duration_s < w.duration_s - EPS for w, d in zip(written.phases, derived.phases, strict=True)):
        out.append("a phase got shorter")
    keep = [(f.proxy, f.toxic, f.duration_s, f.attributes, f.toxicity) for f in written.faults]
    if keep != [(f.proxy, f.toxic, f.duration_s, f.attributes, f.toxicity) for f in derived.faults]:
        out.append("faults changed other than in start time")
    if any(d.at_s < w.at_s - EPS for w, d in zip(written.faults, derived.faults, strict=True)):
        out.append("a fault moved earlier")
    wanted = pool_sizes(derived.phases, derived.mix, written.pools, busy_s=max(POOL_SECONDS, 2 * close))
    short = [k for k in LEDGER_BOUND_KINDS if k in wanted and pool_sizes(derived.phases, derived.mix,
                                                                         derived.pools)[k] < wanted[k]]
    if short:
        out.append(f"users of {short} cannot wait two closes per arrival")
    clusters = fault_clusters(derived.faults)
    if clusters and prm.rto_s < breaker + close - EPS:
        out.append(f"rto {prm.rto_s} below breaker timeout + close {breaker + close}")
    for k, cluster in enumerate(clusters):
        last = k == len(clusters) - 1
        until = derived.duration_s if last else clusters[k + 1].start_s
        need = breaker_hold_s(cluster, breaker) + close + prm.window_s
        if last:
            need = max(need, prm.rto_s + prm.window_s)
        if until - cluster.end_s < need - EPS:
            out.append(f"after {cluster.describe()} only {until - cluster.end_s:g} s of {need:g} s")
    return out


# -- the environments' cadences --------------------------------------------------------------------


def test_each_environment_has_its_config_cadence():
    assert (DEV.ledger_close_s, DEV.breaker_timeout_s) == (1.0, 10.0)
    assert (TESTNET.ledger_close_s, TESTNET.breaker_timeout_s) == (5.0, 30.0)
    assert (MAINNET.ledger_close_s, MAINNET.breaker_timeout_s) == (5.0, 60.0)
    # the service applies the same overrides, so the timeline follows them too
    faster = environment_cadence("testnet", environ={"SRH__STELLAR__LEDGER_CLOSE_MS": "2000"})
    assert faster.ledger_close_s == 2.0
    with pytest.raises(HarnessConfigurationError, match="breakerTimeout|circuitBreaker"):
        environment_cadence("testnet", environ={"SRH__SECURITY__CIRCUIT_BREAKER__TIMEOUT_MS": "0"})


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.json")))
def test_shipped_profiles_are_written_for_development(name):
    """Deriving a shipped profile for development changes nothing: the file is its development timeline."""
    written = load_profile(name)
    derived = derive_profile(written, DEV)
    assert derived.cadence is not None and derived.cadence.changes == ()
    assert (derived.phases, derived.faults) == (written.phases, written.faults)
    for cadence in (DEV, TESTNET, MAINNET):
        assert violations(written, derive_profile(written, cadence)) == []


def test_smoke_under_testnet_and_mainnet():
    smoke = load_profile("smoke")
    testnet = derive_profile(smoke, TESTNET)
    assert testnet.ledger_close_s == 5.0 and testnet.judging["rto_s"] == 35.0
    assert testnet.judging["breaker_timeout_s"] == 30.0
    assert [f.at_s for f in testnet.faults] == [44.0, 84.0, 84.0, 101.0, 101.0]
    assert [p.duration_s for p in testnet.phases] == [6.0, 38.0, 62.0, 43.0]  # the judged steady phase keeps 38 s
    assert testnet.duration_s == 149.0 and len(testnet.cadence.changes) == 5
    assert "rto_s 20 -> 35 s" in testnet.cadence.changes[0]
    # 16 arrivals/s, settlers 4/17.8 of them, each user busy up to two 5 s closes
    assert testnet.pools == {"paying_agent": 38, "settler": 38, "escrow_user": 16, "tamperer": 13}
    mainnet = derive_profile(smoke, MAINNET)
    assert mainnet.judging["rto_s"] == 65.0 and mainnet.duration_s == 209.0
    assert [f.at_s for f in mainnet.faults] == [44.0, 114.0, 114.0, 131.0, 131.0]


def test_breaker_hold_follows_the_trials():
    """A breaker opened as an outage began tries again every timeout: it half-opens ceil(d/B)*B after the start."""
    (short,) = fault_clusters(parse_profile(doc([fault(30, 9)])).faults)
    assert breaker_hold_s(short, 10.0) == pytest.approx(1.0) and breaker_hold_s(short, 30.0) == pytest.approx(21.0)
    (long_,) = fault_clusters(parse_profile(doc([fault(30, 30)])).faults)
    assert breaker_hold_s(long_, 10.0) == pytest.approx(0.0) and breaker_hold_s(long_, 60.0) == pytest.approx(30.0)
    (both,) = fault_clusters(parse_profile(doc([fault(30, 5), fault(30, 5, proxy="horizon-secondary")])).faults)
    assert breaker_hold_s(both, 30.0) == pytest.approx(25.0) and both.labels == ("horizon-primary/down",
                                                                                 "horizon-secondary/down")
    for not_an_outage in (fault(30, 9, "latency", attributes={"latency": 700}), fault(30, 9, toxicity=0.5)):
        (cluster,) = fault_clusters(parse_profile(doc([not_an_outage])).faults)
        assert breaker_hold_s(cluster, 30.0) == 0.0


def test_a_profile_breaker_timeout_is_the_one_derived_for():
    profile = parse_profile(doc([fault(30, 5)], breaker_timeout_s=12, rto_s=5, window_s=5))
    derived = derive_profile(profile, TESTNET)
    assert derived.cadence.breaker_timeout_s == 12.0 and derived.judging["rto_s"] == 17.0


def test_no_fault_no_recovery_change_and_idempotence():
    stress = derive_profile(load_profile("stress"), MAINNET)
    assert len(stress.cadence.changes) == 1 and "sized for 10 s" in stress.cadence.changes[0]
    assert stress.ledger_close_s == 5.0 and "rto_s" not in stress.judging
    assert stress.phases == load_profile("stress").phases
    smoke = derive_profile(load_profile("smoke"), TESTNET)
    again = derive_profile(smoke, TESTNET)
    assert (again.phases, again.faults, again.judging, again.pools) == (smoke.phases, smoke.faults,
                                                                        smoke.judging, smoke.pools)
    assert again.cadence.changes == ()  # nothing left to change
    back = derive_profile(smoke, DEV)  # re-derived for another environment from the derived timeline
    assert violations(smoke, back) == [] and back.ledger_close_s == 1.0


def test_derived_profile_travels_as_a_document():
    derived = derive_profile(load_profile("smoke"), MAINNET)
    again = parse_profile(json.loads(json.dumps(derived.to_dict())))
    assert again == dataclasses.replace(derived, source="")
    assert "cadence" not in load_profile("smoke").to_dict()


def test_a_cadence_written_into_a_profile_file_is_derived_again():
    """A profile claiming it was derived for testnet gets every rule applied anyway."""
    claimed = parse_profile({**doc([fault(60, 5)]), "cadence": {"env": "testnet", "ledger_close_s": 5.0,
                                                                 "breaker_timeout_s": 30.0}})
    derived = derive_profile(claimed, TESTNET)
    assert derived.judging["rto_s"] == 35.0 and violations(claimed, derived) == []
    assert derived.duration_s > claimed.duration_s


def test_a_profile_cannot_pick_its_own_close_interval():
    with pytest.raises(ProfileError) as info:
        parse_profile({**doc([]), "ledger_close_s": 1.0})
    assert info.value.field == "ledger_close_s" and "environment" in info.value.reason
    with pytest.raises(ProfileError):
        load_profile("smoke").ledger_close_s  # noqa: B018 - not derived yet: no cadence to tell
    with pytest.raises(ProfileError) as info:
        parse_profile({**doc([]), "cadence": {"env": "staging", "ledger_close_s": 1, "breaker_timeout_s": 1}})
    assert info.value.field == "cadence.env"


def test_a_derivation_longer_than_the_limit_is_refused():
    many = [fault(10 + 20 * i, 5) for i in range(200)]
    profile = parse_profile(doc(many, phases=[("a", 4100)]))
    with pytest.raises(ProfileError, match="derived for mainnet"):
        derive_profile(profile, MAINNET)


# -- the rules as invariants, and the checker against broken derivations ----------------------------

TOXICS = ("down", "timeout", "reset_peer", "latency", "slicer")


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    phases = [(f"p{i}", draw(st.integers(5, 60))) for i in range(draw(st.integers(1, 4)))]
    total = sum(d for _, d in phases)
    faults = []
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, total - 1))
        length = draw(st.integers(1, max(1, min(40, total - at))))
        faults.append(fault(at, length, draw(st.sampled_from(TOXICS)),
                            draw(st.sampled_from(["horizon-primary", "horizon-secondary"])),
                            toxicity=draw(st.sampled_from([1.0, 0.5]))))
    judging = {"window_s": draw(st.sampled_from([5, 10])), "rto_s": draw(st.sampled_from([5, 20, 40]))}
    return parse_profile(doc(faults, phases, **judging))


cadences = st.builds(lambda c, b: Cadence("testnet", c, b), st.sampled_from([0.5, 1.0, 5.0]),
                     st.sampled_from([1.0, 10.0, 30.0, 60.0]))


@settings(max_examples=150, deadline=None)
@given(profile=profiles(), cadence=cadences)
def test_every_derivation_keeps_the_rules(profile, cadence):
    derived = derive_profile(profile, cadence)
    assert violations(profile, derived) == []
    assert derived.ledger_close_s == cadence.ledger_close_s
    inserted = derived.duration_s - profile.duration_s
    assert inserted == pytest.approx(sum(float(c.split(" s inserted")[0]) for c in derived.cadence.changes
                                         if " s inserted" in c))


def _ignores_breaker(profile: Profile, cadence: Cadence) -> Profile:
    derived = derive_profile(profile, dataclasses.replace(cadence, breaker_timeout_s=0.001))
    return dataclasses.replace(derived, cadence=dataclasses.replace(derived.cadence,
                                                                    breaker_timeout_s=cadence.breaker_timeout_s))


def _keeps_the_rto(profile: Profile, cadence: Cadence) -> Profile:
    derived = derive_profile(profile, cadence)
    return dataclasses.replace(derived, judging={**derived.judging, "rto_s": profile.judging.get("rto_s", 30)})


def _keeps_the_close(profile: Profile, cadence: Cadence) -> Profile:
    derived = derive_profile(profile, dataclasses.replace(cadence, ledger_close_s=1.0))
    return dataclasses.replace(derived, cadence=dataclasses.replace(derived.cadence,
                                                                    ledger_close_s=cadence.ledger_close_s))


def _keeps_the_pools(profile: Profile, cadence: Cadence) -> Profile:
    return dataclasses.replace(derive_profile(profile, cadence), pools=profile.pools)


def _moves_faults_not_phases(profile: Profile, cadence: Cadence) -> Profile:
    derived = derive_profile(profile, cadence)
    return dataclasses.replace(derived, phases=profile.phases)


@pytest.mark.parametrize("broken", [_ignores_breaker, _keeps_the_rto, _keeps_the_close, _keeps_the_pools,
                                    _moves_faults_not_phases])
def test_the_checker_catches_a_broken_derivation(broken):
    smoke = load_profile("smoke")
    for cadence in (TESTNET, MAINNET):
        assert violations(smoke, broken(smoke, cadence)), f"{broken.__name__} passed under {cadence.env}"
