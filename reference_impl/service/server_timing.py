"""The `Server-Timing` header carrying exactly the values the service recorded (docs/service.md)."""

from __future__ import annotations

from collections.abc import Mapping


def _dur(value_ms: float) -> str:
    text = repr(float(value_ms))
    if "e" in text:  # repr switches to exponent form below 1e-4; keep a plain decimal
        text = f"{value_ms:.9f}"
    return text


def server_timings(values: Mapping[str, float]) -> dict[str, str]:
    """One `Server-Timing` header with an entry per metric (its `.` replaced by `-`), in the given order."""
    return {"Server-Timing": ", ".join(f"{metric.replace('.', '-')};dur={_dur(ms)}" for metric, ms in values.items())}


def server_timing(metric: str, value_ms: float) -> dict[str, str]:
    """The `Server-Timing` header carrying exactly the value recorded for `metric`."""
    return server_timings({metric: value_ms})
