"""Stop an asyncio server on its first SIGTERM/SIGINT, also under full load.

`loop.add_signal_handler` delivers a signal through the loop's wakeup pipe; when that pipe is full
(a loaded loop is woken by many `call_soon_threadsafe` writes) CPython drops the byte ("Exception
ignored when trying to write to the signal wakeup fd: BlockingIOError") and the signal is lost.
A Python-level handler runs in the main thread whatever the pipe holds, and only schedules the stop.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Set `stop` (thread-safely) on SIGTERM or SIGINT; returns a function restoring the old handlers."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
