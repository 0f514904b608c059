"""Run profiles: declarative load phases, user mix, fault schedule and judging windows.

A profile is one JSON file in `scenarios/profiles/<name>.json` (or any path). Times are seconds since
the run's load start; rates are request arrivals per second summed over all traffic kinds. Every
validation error names the offending field (e.g. `phases[1].rate`).

A profile file is written for the development cadence; `harness.cadence.derive_profile` fits it to
the environment a run judges (ledger close interval, breaker timeout) and records what it changed in
the profile's `cadence`, which is how a derived profile travels (run config, manifest, summary).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessConfigurationError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "profiles"

SHAPES = ("ramp", "steady", "spike", "soak")
USER_KINDS = (
    "paying_agent",
    "channel_updater",
    "settler",
    "decider",
    "escrow_user",
    "abuser",
    "fuzzer",
    "tamperer",
    "key_rotator",
    "patient",
    "nonce_flooder",
    "channel_flooder",
    "slow_client",
    "paying_agent_v2",
    "tamperer_v2",
)
X402_V2_KINDS = ("paying_agent_v2", "tamperer_v2")
TOXICS = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down")
PROXIES = ("horizon-primary", "horizon-secondary")
KIND_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a user class's `kind` (built-in or from --scenarios)
LIMIT_ALGORITHMS = ("token-bucket", "sliding-window")
ENVS = ("development", "testnet", "mainnet")
ASSETS = ("native", "USDC")
MAX_DURATION_S = 4 * 3600.0
MAX_RATE = 2000.0


class ProfileError(HarnessConfigurationError):
    """A profile file is missing, unreadable or invalid; `field` names the offending field."""

    def __init__(self, field_path: str, reason: str) -> None:
        super().__init__(f"{field_path}: {reason}" if field_path else reason)
        self.field = field_path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Phase:
    """One load phase. `rate` is the arrival rate (steady/soak, and ramp's end, spike's base)."""

    name: str
    shape: str
    duration_s: float
    rate: float
    rate_start: float = 0.0  # ramp: rate at the phase start
    peak_rate: float = 0.0  # spike: rate during the spike's middle third
    steady: bool = False  # targets are judged in steady phases (outside fault windows)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One scheduled fault on a proxy: applied at `at_s`, removed at `at_s + duration_s`."""

    at_s: float
    duration_s: float
    proxy: str
    toxic: str
    stream: str = "downstream"
    attributes: dict[str, Any] = field(default_factory=dict)
    toxicity: float = 1.0
    name: str = ""

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    @property
    def label(self) -> str:
        """`proxy/toxic(attrs)`, the same label the judges' FaultWindow uses."""
        attrs = ",".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.proxy}/{self.toxic}" + (f"({attrs})" if attrs else "")


@dataclass(frozen=True, slots=True)
class Cadence:
    """The environment a profile was derived for: its ledger close interval and breaker timeout, and
    every change the derivation made to the profile as written (human-readable, one line each)."""

    env: str
    ledger_close_s: float
    breaker_timeout_s: float
    changes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "ledger_close_s": self.ledger_close_s,
                "breaker_timeout_s": self.breaker_timeout_s, "changes": list(self.changes)}


@dataclass(frozen=True, slots=True)
class Profile:
    """A validated profile."""

    name: str
    description: str
    env: str
    seed: int
    phases: tuple[Phase, ...]
    mix: dict[str, float]
    faults: tuple[FaultSpec, ...]
    judging: dict[str, Any]
    thresholds_ms: dict[str, float]
    pools: dict[str, int]
    rate_limits: dict[str, dict[str, Any]] = field(default_factory=dict)  # endpoint label -> limit, window_s, algorithm
    source: str = ""
    cadence: Cadence | None = None  # set by harness.cadence.derive_profile
    asset: str | None = None  # what the scenario pays in ("native" or "USDC"); None: the environment's

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    @property
    def ledger_close_s(self) -> float:
        """The offline ledger's close interval: the environment's, known once the profile is derived."""
        if self.cadence is None:
            raise ProfileError("cadence", f"profile '{self.name}' is not derived for an environment yet "
                                          "(harness.cadence.derive_profile)")
        return self.cadence.ledger_close_s

    def phase_bounds(self) -> list[tuple[Phase, float, float]]:
        """Each phase with its start and end on the run's time axis."""
        out, t = [], 0.0
        for phase in self.phases:
            out.append((phase, t, t + phase.duration_s))
            t += phase.duration_s
        return out

    def to_dict(self) -> dict[str, Any]:
        """The profile document (`parse_profile` reads it back); `cadence` only once derived."""
        data = asdict(self)
        data.pop("source")
        data["phases"] = [asdict(p) for p in self.phases]
        data["faults"] = [asdict(f) for f in self.faults]
        if self.cadence is None:
            data.pop("cadence")
        else:
            data["cadence"] = self.cadence.to_dict()
        if self.asset is None:
            data.pop("asset")
        return data


def has_x402_v2(profile: Profile) -> bool:
    """Whether the mix sends x402 v2 traffic (the worlds then run the facilitator)."""
    return any(profile.mix.get(kind, 0) > 0 for kind in X402_V2_KINDS)


def profile_path(name_or_path: str) -> Path:
    """Resolve a profile name (`smoke`) or a file path to the profile file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.exists():
        return candidate
    return PROFILES_DIR / f"{name_or_path}.json"


def load_profile(name_or_path: str) -> Profile:
    """Load and validate a profile by name or path."""
    path = profile_path(name_or_path)
    if not path.is_file():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.json"))
        raise ProfileError("", f"no profile '{name_or_path}' (known: {', '.join(known)})")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError("", f"cannot read {path.name}: {exc}") from None
    return parse_profile(raw, source=str(path))


def parse_profile(raw: Any, source: str = "") -> Profile:
    """Validate a decoded profile document."""
    obj = _mapping(raw, "")
    _known_keys(
        obj,
        "",
        {"name", "description", "env", "seed", "phases", "mix", "faults", "judging", "thresholds_ms", "pools",
         "rate_limits", "asset", "cadence", "ledger_close_s"},
    )
    if "ledger_close_s" in obj:
        raise ProfileError("ledger_close_s", "the ledger close interval is the environment's (config/<env>.json "
                                             "stellar.ledgerCloseMs), so settlement finality is judged at that "
                                             "cadence: remove this key and pick the environment with --env")
    name = _string(obj.get("name"), "name")
    env = _string(obj.get("env", "development"), "env")
    if env not in ENVS:
        raise ProfileError("env", f"must be one of {', '.join(ENVS)}")
    seed = obj.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ProfileError("seed", "must be a non-negative integer")
    phases = _phases(obj.get("phases"))
    duration = sum(p.duration_s for p in phases)
    if duration > MAX_DURATION_S:
        raise ProfileError("phases", f"total duration {duration:g}s exceeds {MAX_DURATION_S:g}s")
    mix = _weights(obj.get("mix"), "mix", None, positive_sum=True)
    _kind_names(mix, "mix")
    faults = tuple(_fault(f, f"faults[{i}]", duration) for i, f in enumerate(_list(obj.get("faults", []), "faults")))
    judging = _judging(obj.get("judging", {}))
    _capacity_phase(judging.get("capacity_phase"), phases)
    thresholds = _weights(obj.get("thresholds_ms", {}), "thresholds_ms", None)
    pools = {k: int(v) for k, v in _weights(obj.get("pools", {}), "pools", None).items()}
    _kind_names(pools, "pools")
    asset = obj.get("asset")
    if asset is not None and asset not in ASSETS:
        raise ProfileError("asset", f"must be one of {', '.join(ASSETS)} (the offline network's assets)")
    return Profile(
        name=name,
        description=str(obj.get("description", "")),
        env=env,
        seed=seed,
        phases=phases,
        mix=mix,
        faults=faults,
        judging=judging,
        thresholds_ms=thresholds,
        pools=pools,
        rate_limits=_rate_limits(obj.get("rate_limits", {})),
        source=source,
        cadence=_cadence(obj["cadence"]) if "cadence" in obj else None,
        asset=asset,
    )


def _cadence(raw: Any) -> Cadence:
    """A derived profile's `cadence` (written by the harness; a profile file need not carry one)."""
    obj = _mapping(raw, "cadence")
    _known_keys(obj, "cadence", {"env", "ledger_close_s", "breaker_timeout_s", "changes"})
    env = _string(obj.get("env"), "cadence.env")
    if env not in ENVS:
        raise ProfileError("cadence.env", f"must be one of {', '.join(ENVS)}")
    changes = _list(obj.get("changes", []), "cadence.changes")
    if not all(isinstance(c, str) for c in changes):
        raise ProfileError("cadence.changes", "must be a list of strings")
    return Cadence(env, _number(obj.get("ledger_close_s"), "cadence.ledger_close_s", low=0.05, high=60.0),
                   _number(obj.get("breaker_timeout_s"), "cadence.breaker_timeout_s", low=0.001, high=3600.0),
                   tuple(changes))


def _phases(raw: Any) -> tuple[Phase, ...]:
    items = _list(raw, "phases")
    if not items:
        raise ProfileError("phases", "at least one phase is required")
    out, names = [], set()
    for i, item in enumerate(items):
        where = f"phases[{i}]"
        obj = _mapping(item, where)
        _known_keys(obj, where, {"name", "shape", "duration_s", "rate", "rate_start", "peak_rate", "steady"})
        name = _string(obj.get("name"), f"{where}.name")
        if name in names:
            raise ProfileError(f"{where}.name", f"duplicate phase name '{name}'")
        names.add(name)
        shape = _string(obj.get("shape"), f"{where}.shape")
        if shape not in SHAPES:
            raise ProfileError(f"{where}.shape", f"must be one of {', '.join(SHAPES)}")
        duration = _number(obj.get("duration_s"), f"{where}.duration_s", low=1.0, high=MAX_DURATION_S)
        rate = _number(obj.get("rate"), f"{where}.rate", low=0.0, high=MAX_RATE)
        rate_start = _number(obj.get("rate_start", 0.0), f"{where}.rate_start", low=0.0, high=MAX_RATE)
        peak = _number(obj.get("peak_rate", 0.0), f"{where}.peak_rate", low=0.0, high=MAX_RATE)
        if shape == "spike" and peak <= rate:
            raise ProfileError(f"{where}.peak_rate", "a spike needs peak_rate above rate")
        steady = obj.get("steady", shape in ("steady", "soak"))
        if not isinstance(steady, bool):
            raise ProfileError(f"{where}.steady", "must be true or false")
        out.append(Phase(name, shape, duration, rate, rate_start, peak, steady))
    return tuple(out)


def _judging(raw: Any) -> dict[str, Any]:
    values = dict(_mapping(raw, "judging"))
    from harness.judges.context import JudgingError, JudgingParams  # pandas: import only when needed

    try:
        JudgingParams.from_mapping(values)
    except (JudgingError, TypeError) as exc:
        raise ProfileError("judging", str(exc)) from None
    return values


def _capacity_phase(name: Any, phases: tuple[Phase, ...]) -> None:
    """`judging.capacity_phase` must name a rising, non-steady ramp (targets are never judged on it)."""
    if name is None:
        return
    where = "judging.capacity_phase"
    phase = next((p for p in phases if p.name == name), None)
    if phase is None:
        raise ProfileError(where, f"no phase named '{name}' (phases: {', '.join(p.name for p in phases)})")
    if phase.shape != "ramp" or phase.rate <= phase.rate_start:
        raise ProfileError(where, f"phase '{name}' must be a ramp with rate above rate_start")
    if phase.steady:
        raise ProfileError(where, f"phase '{name}' must have steady false: targets are not judged on a ramp")


def _fault(raw: Any, where: str, duration: float) -> FaultSpec:
    obj = _mapping(raw, where)
    _known_keys(obj, where, {"at_s", "duration_s", "proxy", "toxic", "stream", "attributes", "toxicity", "name"})
    at_s = _number(obj.get("at_s"), f"{where}.at_s", low=0.0, high=duration)
    length = _number(obj.get("duration_s"), f"{where}.duration_s", low=0.5, high=duration)
    if at_s + length > duration:
        raise ProfileError(f"{where}.duration_s", f"fault ends at {at_s + length:g}s, after the profile ({duration:g}s)")
    proxy = _string(obj.get("proxy"), f"{where}.proxy")
    if proxy not in PROXIES:
        raise ProfileError(f"{where}.proxy", f"must be one of {', '.join(PROXIES)}")
    toxic = _string(obj.get("toxic"), f"{where}.toxic")
    if toxic not in TOXICS:
        raise ProfileError(f"{where}.toxic", f"must be one of {', '.join(TOXICS)}")
    stream = _string(obj.get("stream", "downstream"), f"{where}.stream")
    if stream not in ("upstream", "downstream"):
        raise ProfileError(f"{where}.stream", "must be upstream or downstream")
    attributes = _mapping(obj.get("attributes", {}), f"{where}.attributes")
    for key, value in attributes.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ProfileError(f"{where}.attributes.{key}", "must be a non-negative number")
    toxicity = _number(obj.get("toxicity", 1.0), f"{where}.toxicity", low=0.0, high=1.0)
    name = str(obj.get("name", ""))
    return FaultSpec(at_s, length, proxy, toxic, stream, dict(attributes), toxicity, name)


def _weights(raw: Any, where: str, allowed: tuple[str, ...] | None, positive_sum: bool = False) -> dict[str, float]:
    obj = _mapping(raw, where)
    out: dict[str, float] = {}
    for key, value in obj.items():
        if allowed is not None and key not in allowed:
            raise ProfileError(f"{where}.{key}", f"unknown key (allowed: {', '.join(allowed)})")
        out[key] = _number(value, f"{where}.{key}", low=0.0, high=1e9)
    if positive_sum and sum(out.values()) <= 0:
        raise ProfileError(where, "weights must sum to a positive number")
    return out


def _kind_names(weights: Mapping[str, float], where: str) -> None:
    """Traffic kinds are the built-ins (USER_KINDS) or user classes from --scenarios: lower_snake names."""
    for key in weights:
        if not KIND_NAME.fullmatch(key):
            raise ProfileError(f"{where}.{key}", "a traffic kind is a lower_snake name (built-in: "
                               f"{', '.join(USER_KINDS)}; others come from --scenarios)")


def _rate_limits(raw: Any) -> dict[str, dict[str, Any]]:
    """`{"settlement": {"limit": 50, "window_s": 60, "algorithm": "token-bucket"}}` per endpoint label."""
    out = {}
    for endpoint, item in _mapping(raw, "rate_limits").items():
        where = f"rate_limits.{endpoint}"
        obj = _mapping(item, where)
        _known_keys(obj, where, {"limit", "window_s", "algorithm"})
        limit = _number(obj.get("limit"), f"{where}.limit", low=1, high=1e9)
        if limit != int(limit):
            raise ProfileError(f"{where}.limit", "must be a whole number")
        algorithm = _string(obj.get("algorithm", "token-bucket"), f"{where}.algorithm")
        if algorithm not in LIMIT_ALGORITHMS:
            raise ProfileError(f"{where}.algorithm", f"must be one of {', '.join(LIMIT_ALGORITHMS)}")
        out[endpoint] = {"limit": int(limit), "window_s": _number(obj.get("window_s"), f"{where}.window_s",
                                                                     low=0.001, high=86400.0), "algorithm": algorithm}
    return out


def _mapping(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProfileError(where or "profile", "must be a JSON object")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ProfileError(where, "must be a JSON array")
    return raw


def _string(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ProfileError(where, "must be a non-empty string")
    return raw


def _number(raw: Any, where: str, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ProfileError(where, "must be a number")
    if not low <= raw <= high:
        raise ProfileError(where, f"must be between {low:g} and {high:g}")
    return float(raw)


def _known_keys(obj: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in obj:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ProfileError(f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
