"""Clocks: real time for production, virtual time for tests and property checks."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What every time-dependent component needs: a monotonic reading, wall time and sleeps."""

    def now(self) -> float:
        """Monotonic seconds (only differences are meaningful)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...

    async def sleep_async(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: `time.monotonic`, `time.time`, `time.sleep`, `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Virtual time: nothing waits; `advance` and both sleeps move the clock forward.

    `sleeps` records every requested sleep so tests can assert on backoff schedules.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def sleep_async(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
