"""Child-process supervision for `harness run`.

Every server the harness starts follows the server CLI convention: it prints exactly one
`LISTENING http://127.0.0.1:<port>` line once it accepts connections and exits 0 on SIGTERM. The
supervisor starts each child in its own process group, waits for that line with a timeout, copies
the child's output to a log file, and on `stop_all` (also from atexit) sends SIGTERM to each group,
then SIGKILL after a grace period, in reverse start order.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.errors import ProcessStartError

LISTENING_PREFIX = "LISTENING "
TAIL_LINES = 20


@dataclass
class Child:
    """A started child process and what it printed."""

    name: str
    process: subprocess.Popen[str]
    log_path: Path
    listeners: int = 1
    urls: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The first listening URL ('' before ready)."""
        return self.urls[0] if self.urls else ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Starts children, waits for readiness, and stops every one of them whatever happens."""

    def __init__(self, log_dir: Path, grace_s: float = 5.0, on_start: Callable[[Child], None] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.grace_s = grace_s
        self.on_start = on_start
        self.children: list[Child] = []
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_timeout_s: float = 30.0,
        wait_ready: bool = True,
        listeners: int = 1,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start `argv`; with `wait_ready`, block until its `listeners` LISTENING lines (`urls` set)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessStartError(f"{name}: cannot start: {exc}") from None
        child = Child(name=name, process=process, log_path=log_path, listeners=listeners)
        with self._lock:
            self.children.append(child)
        if self.on_start is not None:
            self.on_start(child)
        reader = threading.Thread(target=self._pump, args=(child,), name=f"pump-{name}", daemon=True)
        child._reader = reader
        reader.start()
        if wait_ready:
            self.wait_ready(child, ready_timeout_s)
        return child

    def wait_ready(self, child: Child, timeout_s: float) -> str:
        """Wait for the child's LISTENING line(s); raise ProcessStartError on exit or timeout."""
        deadline = time.monotonic() + timeout_s
        while not child._ready.wait(timeout=0.05):
            if not child.running() and not child._ready.is_set():
                if child._reader is not None:
                    child._reader.join(timeout=1.0)
                if child._ready.is_set():
                    break
                raise ProcessStartError(
                    f"{child.name} exited with code {child.process.returncode} before listening; "
                    f"last output: {' | '.join(child.tail[-5:]) or '(none)'}"
                )
            if time.monotonic() > deadline:
                raise ProcessStartError(
                    f"{child.name} did not print LISTENING within {timeout_s:g}s; "
                    f"last output: {' | '.join(child.tail[-5:]) or '(none)'}"
                )
        return child.url

    def _pump(self, child: Child) -> None:
        stream: IO[str] | None = child.process.stdout
        if stream is None:
            return
        with child.log_path.open("w") as log:
            for line in stream:
                log.write(line)
                log.flush()
                text = line.rstrip("\n")
                child.tail.append(text)
                del child.tail[:-TAIL_LINES]
                if not child._ready.is_set() and text.startswith(LISTENING_PREFIX):
                    child.urls.append(text[len(LISTENING_PREFIX) :].strip())
                    if len(child.urls) >= child.listeners:
                        child._ready.set()

    def wait(self, child: Child, timeout_s: float) -> int | None:
        """Wait up to `timeout_s` for a child to exit by itself; returns its code or None."""
        try:
            return child.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, child: Child) -> int:
        """SIGTERM the child's process group, SIGKILL it after the grace period; returns the exit code."""
        if child.running():
            _signal_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait(timeout=5.0)
        else:
            _signal_group(child.process, signal.SIGKILL)  # leftovers of an exited leader's group
        if child._reader is not None:
            child._reader.join(timeout=2.0)
        code = child.process.returncode
        return -1 if code is None else code

    def stop_all(self) -> dict[str, int]:
        """Stop every child, newest first; returns each one's exit code. Safe to call repeatedly."""
        with self._lock:
            children = list(reversed(self.children))
            self.children.clear()
        codes = {}
        for child in children:
            try:
                codes[child.name] = self.stop(child)
            except (OSError, subprocess.SubprocessError):
                codes[child.name] = -1
        return codes


def _signal_group(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
