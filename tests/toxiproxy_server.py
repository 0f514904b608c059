"""The Toxiproxy server a contract test talks to, reached only through its URL.

With `TOXIPROXY_URL` set (e.g. a real `toxiproxy-server -host 127.0.0.1` on this machine), tests use that
server. Otherwise the embedded server runs as a separate process (`python -m harness.toxiproxy`), exactly
as a real toxiproxy-server would, and is stopped when the test module ends (also on failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXTERNAL_URL = os.environ.get("TOXIPROXY_URL") or None
STOP_TIMEOUT_S = 10.0


@contextmanager
def embedded_process(*extra: str) -> Iterator[str]:
    """`python -m harness.toxiproxy --port 0 [extra]` as a child process; yields its API URL."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.toxiproxy", "--host", "127.0.0.1", "--port", "0",
                             *extra], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if not line.startswith("LISTENING "):
            proc.kill()
            raise RuntimeError(f"harness.toxiproxy did not start: {line!r} {proc.stderr.read()[-2000:]}")
        yield line.split()[1]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)


@contextmanager
def server_url() -> Iterator[str]:
    """`TOXIPROXY_URL` when set, else a fresh embedded server process (with --proxy-metrics)."""
    if EXTERNAL_URL is not None:
        yield EXTERNAL_URL.rstrip("/")
        return
    with embedded_process("--proxy-metrics") as url:
        yield url
