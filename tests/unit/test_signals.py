"""`harness.signals.stop_on_signals`: the first SIGTERM stops a server even when its wakeup pipe is full."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

CHILD = textwrap.dedent("""
    import asyncio, os, signal
    from harness.signals import stop_on_signals

    async def main():
        stop = asyncio.Event()
        stop_on_signals(asyncio.get_running_loop(), stop)
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b"\\0" * 65536)
        except BlockingIOError:
            pass
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)  # a full wakeup pipe, as on a loaded loop
        print("ready", flush=True)
        await asyncio.wait_for(stop.wait(), 90)
        print("stopped", flush=True)

    asyncio.run(main())
""")


def test_first_sigterm_stops_the_loop_although_the_wakeup_pipe_is_full() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=45) == 0  # generous: a loaded CI machine, not the handler, sets the pace
        assert proc.stdout.read().strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
