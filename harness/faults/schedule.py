"""A declarative fault schedule played against a clock, always cleaned up at the end.

Entries: `{at, duration, proxy, toxic, stream, attributes, toxicity, name}` (seconds from the schedule's
start; toxic "down" disables the proxy for the window). Windows may overlap. `run` applies and removes
each entry at its offsets and, in a `finally`, resets the server and checks nothing is left active.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessConfigurationError
from harness.faults.client import DOWN, FaultControlError, FaultController, FaultSpec
from harness.toxiproxy.api_models import ApiError
from harness.toxiproxy.toxics import TOXICS
from reference_impl.clock import Clock

FAULT_TYPES = (*TOXICS, DOWN)
ENTRY_KEYS = ("at", "duration", "proxy", "toxic", "stream", "attributes", "toxicity", "name")
MAX_SLICE_S = 0.1  # longest single sleep, so a stop request is noticed quickly
_REMOVE, _APPLY = 0, 1  # at equal times, removals run first


class ScheduleError(HarnessConfigurationError):
    """A schedule entry is invalid; `index` and `field` say which and where."""

    def __init__(self, index: int, field: str, reason: str) -> None:
        super().__init__(f"fault schedule entry {index}: {field}: {reason}")
        self.index = index
        self.field = field
        self.reason = reason


def _number(raw: Mapping[str, Any], key: str, index: int, default: float | None = None) -> float:
    value = raw.get(key, default)
    if value is None:
        raise ScheduleError(index, key, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScheduleError(index, key, f"must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One fault window: `spec` is active from `at` to `at + duration` seconds."""

    index: int
    at: float
    duration: float
    spec: FaultSpec

    @property
    def end(self) -> float:
        return self.at + self.duration

    @classmethod
    def from_dict(cls, raw: Any, index: int) -> ScheduleEntry:
        if not isinstance(raw, Mapping):
            raise ScheduleError(index, "entry", f"must be an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(ENTRY_KEYS))
        if unknown:
            raise ScheduleError(index, unknown[0], f"unknown key; valid keys: {', '.join(ENTRY_KEYS)}")
        at, duration = _number(raw, "at", index), _number(raw, "duration", index)
        if at < 0:
            raise ScheduleError(index, "at", "must be >= 0")
        if duration <= 0:
            raise ScheduleError(index, "duration", "must be > 0")
        proxy = raw.get("proxy")
        if not isinstance(proxy, str) or not proxy:
            raise ScheduleError(index, "proxy", "must be a non-empty string")
        toxic = raw.get("toxic")
        if toxic not in FAULT_TYPES:
            raise ScheduleError(index, "toxic", f"must be one of {', '.join(FAULT_TYPES)}, got {toxic!r}")
        stream = raw.get("stream", "downstream")
        if stream not in ("upstream", "downstream"):
            raise ScheduleError(index, "stream", f"must be upstream or downstream, got {stream!r}")
        toxicity = _number(raw, "toxicity", index, 1.0)
        if not 0.0 <= toxicity <= 1.0:
            raise ScheduleError(index, "toxicity", "must be within [0, 1]")
        attributes = _attributes(raw.get("attributes", {}), str(toxic), index)
        name = raw.get("name")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ScheduleError(index, "name", "must be a non-empty string without '/'")
        default_name = f"{DOWN}_{proxy}_{index}" if toxic == DOWN else f"{toxic}_{stream}_{index}"
        spec = FaultSpec(proxy=proxy, toxic=str(toxic), stream=stream, attributes=attributes,
                         toxicity=toxicity, name=name or default_name)
        return cls(index=index, at=at, duration=duration, spec=spec)


def _attributes(raw: Any, toxic: str, index: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScheduleError(index, "attributes", "must be an object")
    if toxic == DOWN:
        if raw:
            raise ScheduleError(index, "attributes", "a down fault takes no attributes")
        return {}
    cls = TOXICS[toxic]
    valid = tuple(cls().attributes())
    for key in raw:
        if key not in valid:
            raise ScheduleError(index, f"attributes.{key}", f"unknown for {toxic}; valid: {', '.join(valid) or 'none'}")
    try:
        cls.parse(dict(raw))
    except ApiError as exc:
        raise ScheduleError(index, "attributes", exc.message) from None
    return dict(raw)


class FaultSchedule:
    """Validated entries plus the player."""

    def __init__(self, entries: Iterable[ScheduleEntry]) -> None:
        self.entries = sorted(entries, key=lambda e: (e.at, e.index))
        seen: dict[tuple[str, str], ScheduleEntry] = {}
        for entry in self.entries:
            key = (entry.spec.proxy, entry.spec.fault_name)
            other = seen.get(key)
            if other is not None and entry.at < other.end:
                raise ScheduleError(entry.index, "name",
                                    f"{entry.spec.fault_name!r} overlaps entry {other.index} on the same proxy")
            seen[key] = entry

    @classmethod
    def parse(cls, items: Iterable[Any]) -> FaultSchedule:
        if isinstance(items, str | bytes | Mapping):
            raise ScheduleError(0, "schedule", "must be a list of entries")
        return cls(ScheduleEntry.from_dict(item, index) for index, item in enumerate(items))

    @property
    def end_s(self) -> float:
        return max((e.end for e in self.entries), default=0.0)

    def active_at(self, t: float, proxy: str | None = None) -> list[str]:
        """Names of faults whose window [at, at + duration) contains t (optionally on one proxy)."""
        return [e.spec.fault_name for e in self.entries
                if e.at <= t < e.end and (proxy is None or e.spec.proxy == proxy)]

    def actions(self) -> list[tuple[float, int, ScheduleEntry]]:
        """(time, remove-or-apply, entry), in the order `run` performs them."""
        out = [(e.at, _APPLY, e) for e in self.entries] + [(e.end, _REMOVE, e) for e in self.entries]
        return sorted(out, key=lambda a: (a[0], a[1], a[2].index))

    def run(self, controller: FaultController, clock: Clock, stop_event: threading.Event | None = None) -> bool:
        """Play the schedule from now; True if it ran to the end, False if `stop_event` cut it short.

        Always resets the server at the end (also on failure) and raises FaultControlError if any
        fault is still active afterwards.
        """
        start = clock.now()
        completed = True
        try:
            applied: set[int] = set()
            for when, kind, entry in self.actions():
                if not _wait_until(clock, start + when, stop_event):
                    completed = False
                    break
                if kind == _APPLY:
                    controller.apply(entry.spec)
                    applied.add(entry.index)
                elif entry.index in applied:
                    controller.remove(entry.spec)
                    applied.discard(entry.index)
        finally:
            controller.reset()
            left = controller.active()
            if left:
                raise FaultControlError(f"faults still active after reset: {[f.name for f in left]}")
        return completed


def _wait_until(clock: Clock, deadline: float, stop_event: threading.Event | None) -> bool:
    """Sleep on `clock` until `deadline` in slices; False if `stop_event` is set first."""
    max_slices = int((deadline - clock.now()) / MAX_SLICE_S) + 2
    for _ in range(max(1, max_slices) + 1000):
        if stop_event is not None and stop_event.is_set():
            return False
        remaining = deadline - clock.now()
        if remaining <= 0:
            return True
        clock.sleep(min(MAX_SLICE_S, remaining))
    return clock.now() >= deadline
