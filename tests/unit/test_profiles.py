"""Profile loading and validation: shipped profiles load; every bad field is named in the error."""

from __future__ import annotations

import copy
import json

import pytest

from harness.profiles import PROFILES_DIR, ProfileError, load_profile, parse_profile

VALID = {
    "name": "t",
    "env": "development",
    "seed": 3,
    "phases": [
        {"name": "ramp", "shape": "ramp", "duration_s": 10, "rate_start": 1, "rate": 10},
        {"name": "steady", "shape": "steady", "duration_s": 40, "rate": 10},
        {"name": "spike", "shape": "spike", "duration_s": 30, "rate": 10, "peak_rate": 40},
    ],
    "mix": {"settler": 1, "paying_agent": 2},
    "faults": [{"at_s": 20, "duration_s": 10, "proxy": "horizon-primary", "toxic": "down"}],
}


def test_shipped_profiles_load_and_respect_their_budgets():
    names = sorted(p.stem for p in PROFILES_DIR.glob("*.json"))
    assert {"smoke", "nightly", "e2e-short"} <= set(names)
    smoke, nightly = load_profile("smoke"), load_profile("nightly")
    assert smoke.duration_s <= 150  # leaves room for startup and teardown inside 3 minutes
    assert nightly.duration_s >= 20 * 60
    shapes = {p.shape for p in nightly.phases}
    assert {"spike", "soak"} <= shapes
    pairs = {(f.proxy, f.toxic) for f in nightly.faults}
    for proxy in ("horizon-primary", "horizon-secondary"):
        for toxic in ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down"):
            assert (proxy, toxic) in pairs, f"nightly lacks {toxic} on {proxy}"


def test_valid_profile_parses_with_defaults():
    profile = parse_profile(VALID)
    assert profile.duration_s == 80
    assert [p.steady for p in profile.phases] == [False, True, False]
    assert profile.faults[0].end_s == 30
    assert profile.faults[0].label == "horizon-primary/down"
    assert profile.cadence is None and profile.asset is None  # derived per environment at run time


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("name",), "", "name"),
        (("env",), "prod", "env"),
        (("seed",), -1, "seed"),
        (("phases",), [], "phases"),
        (("phases", 1, "rate"), "fast", "phases[1].rate"),
        (("phases", 1, "shape"), "zigzag", "phases[1].shape"),
        (("phases", 0, "duration_s"), 0, "phases[0].duration_s"),
        (("phases", 2, "peak_rate"), 5, "phases[2].peak_rate"),
        (("phases", 1, "name"), "ramp", "phases[1].name"),
        (("mix",), {"settler": 0}, "mix"),
        (("mix", "Whale-Kind"), 1, "mix.Whale-Kind"),
        (("rate_limits",), {"settlement": {"limit": 0, "window_s": 60}}, "rate_limits.settlement.limit"),
        (("rate_limits",), {"settlement": {"limit": 5, "window_s": 60, "algorithm": "leaky"}},
         "rate_limits.settlement.algorithm"),
        (("rate_limits",), {"settlement": {"limit": 5}}, "rate_limits.settlement.window_s"),
        (("faults", 0, "proxy"), "horizon-tertiary", "faults[0].proxy"),
        (("faults", 0, "toxic"), "fire", "faults[0].toxic"),
        (("faults", 0, "duration_s"), 100, "faults[0].duration_s"),
        (("faults", 0, "toxicity"), 1.5, "faults[0].toxicity"),
        (("faults", 0, "stream"), "sideways", "faults[0].stream"),
        (("faults", 0, "attributes"), {"latency": -5}, "faults[0].attributes.latency"),
        (("judging",), {"window_z": 3}, "judging"),
        (("surprise",), 1, "surprise"),
    ],
)
def test_invalid_field_is_named(path, value, field):
    doc = copy.deepcopy(VALID)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ProfileError) as info:
        parse_profile(doc)
    assert info.value.field == field


def test_unknown_profile_lists_known_ones(tmp_path):
    with pytest.raises(ProfileError, match="smoke"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(str(bad))


def test_profile_round_trips_through_to_dict(tmp_path):
    profile = parse_profile(VALID)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile.to_dict()))
    assert load_profile(str(path)).to_dict() == profile.to_dict()


def test_harness_run_refuses_a_bad_profile_with_exit_4_before_starting_anything(tmp_path, capsys):
    from harness.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**VALID, "phases": [{"name": "x", "shape": "steady", "duration_s": 5, "rate": -1}]}))
    assert main(["run", str(bad), "--out", str(tmp_path / "out")]) == 4
    assert "phases[0].rate" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_stress_and_audit_profiles_fit_their_budgets_and_judge_what_they_exercise():
    stress, audit = load_profile("stress"), load_profile("audit")
    assert stress.duration_s <= 240 and audit.duration_s <= 180
    ramp = next(p for p in stress.phases if p.name == stress.judging["capacity_phase"])
    assert ramp.shape == "ramp" and not ramp.steady and ramp.rate > ramp.rate_start
    assert any(p.steady for p in stress.phases)  # the warm-up judges the targets
    assert not audit.faults
    enabled = set(audit.judging["enabled"])
    assert {"P31", "P32", "P33", "P34", "nothing-lost"} <= enabled
    assert not enabled & {"P30", "P35", "P36"}  # no fault drives them in audit
    assert {"fuzzer", "tamperer", "abuser", "settler"} <= {k for k, w in audit.mix.items() if w > 0}


@pytest.mark.parametrize(
    ("capacity_phase", "match"),
    [
        ("nope", "no phase named 'nope'"),
        ("steady", "must be a ramp"),
        ("spike", "must be a ramp"),
        ("", "phase name or null"),
        (7, "phase name or null"),
    ],
)
def test_capacity_phase_must_name_a_rising_ramp(capacity_phase, match):
    doc = copy.deepcopy(VALID)
    doc["judging"] = {"capacity_phase": capacity_phase}
    with pytest.raises(ProfileError, match=match) as info:
        parse_profile(doc)
    assert info.value.field.startswith("judging")


def test_capacity_phase_refuses_a_steady_or_falling_ramp():
    doc = copy.deepcopy(VALID)
    doc["judging"] = {"capacity_phase": "ramp"}
    assert parse_profile(doc).judging["capacity_phase"] == "ramp"
    doc["phases"][0]["steady"] = True
    with pytest.raises(ProfileError, match="steady false") as info:
        parse_profile(doc)
    assert info.value.field == "judging.capacity_phase"
    doc["phases"][0].update(steady=False, rate_start=20)
    with pytest.raises(ProfileError, match="rate above rate_start"):
        parse_profile(doc)
    doc["phases"][0]["rate_start"] = 1
    doc["judging"]["capacity_max_error_rate"] = 1.5
    with pytest.raises(ProfileError, match="capacity_max_error_rate"):
        parse_profile(doc)
