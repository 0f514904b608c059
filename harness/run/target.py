"""The service under test: the reference service, any command line (`--target-cmd`), or a running URL (`--target`).

* reference (default): `python -m reference_impl.service`, ready when it prints `LISTENING <url>` and
  `/health` says ready; its error records go to `logs/service.jsonl`.
* command: `/bin/sh -c CMD` in its own process group with the worlds' variables (`Worlds.target_env`:
  `PORT`, `TARGET_URL`, `HORIZON_URL`, ...); ready when `GET $TARGET_URL/health` answers 200 within
  `ready_timeout_s`. Its stdout and stderr go to `logs/target.log` (secret-scanned with the run folder).
* url: started by the user; only its `/health` is awaited.

A target that never becomes ready raises `TargetNotReady` (the run's exit 4) with its last output lines.
The supervisor stops a started target with every other child (SIGTERM to the group, SIGKILL after the grace
period), on every exit path.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.errors import HarnessConfigurationError, ProcessStartError
from harness.run.accounts import PrivateFiles
from harness.run.assets import RunAssets
from harness.run.supervisor import Child, Supervisor
from harness.run.worlds import Worlds, free_port
from reference_impl.redaction import redact_text

REFERENCE, COMMAND, URL = "reference", "command", "url"
HEALTH_POLL_S = 0.25
TAIL_SHOWN = 8


class TargetNotReady(ProcessStartError):
    """The target did not answer `GET /health` with 200 in time (or exited first)."""


@dataclass(frozen=True)
class TargetSpec:
    """Which target a run verifies."""

    command: str | None = None  # --target-cmd
    url: str | None = None  # --target
    ready_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.command is not None and self.url is not None:
            raise HarnessConfigurationError("give --target-cmd or --target, not both")
        if self.command is not None and not self.command.strip():
            raise HarnessConfigurationError("--target-cmd must not be empty")
        if self.url is not None and not self.url.startswith(("http://127.", "http://localhost")):
            raise HarnessConfigurationError(f"--target must be a loopback http URL, got {self.url!r}")
        if not 0 < self.ready_timeout_s <= 3600:
            raise HarnessConfigurationError("--target-ready-timeout must be in (0, 3600] seconds")

    @property
    def kind(self) -> str:
        return COMMAND if self.command is not None else URL if self.url is not None else REFERENCE


@dataclass(frozen=True)
class Target:
    """A target ready for load: its URL, how it was obtained, and its process (None for a URL target)."""

    url: str
    kind: str
    child: Child | None = None


def start_target(spec: TargetSpec, supervisor: Supervisor, worlds: Worlds, private: PrivateFiles, *,
                 env_name: str, assets: RunAssets, fault: str | None, log_dir: Path) -> Target:
    """Start (or wait for) the target; raises TargetNotReady when it does not become healthy. A started
    target also gets the run's assets as config overrides (`RunAssets.service_environ`)."""
    if spec.kind == URL:
        assert spec.url is not None
        wait_healthy(spec.url.rstrip("/"), spec.ready_timeout_s)
        return Target(spec.url.rstrip("/"), URL)
    if spec.kind == COMMAND:
        assert spec.command is not None
        port = free_port()
        env = {**os.environ, **worlds.target_env(port, private), **assets.service_environ()}
        child = supervisor.start("target", ["/bin/sh", "-c", spec.command], wait_ready=False, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, spec.ready_timeout_s, child)
        return Target(url, COMMAND, child)
    argv = [sys.executable, "-m", "reference_impl.service", "--host", "127.0.0.1", "--port", "0", "--env", env_name,
            "--horizon-primary", worlds.horizon_url, "--horizon-secondary", worlds.horizon_url_secondary,
            "--accounts-file", str(private.service_accounts), "--admin-token-file", str(private.admin_token_file),
            "--api-keys-file", str(private.api_keys_file), "--network-passphrase", worlds.passphrase,
            "--log-file", str(log_dir / "service.jsonl")]
    if fault:
        argv += ["--fault-in-service", fault]
    if worlds.facilitator_url:
        argv += ["--facilitator-url", worlds.facilitator_url, "--x402-asset", worlds.x402_asset]
    child = supervisor.start("service", argv, ready_timeout_s=90.0, env={**os.environ, **assets.service_environ()})
    wait_healthy(child.url, 30.0, child, need_ready=True)
    return Target(child.url, REFERENCE, child)


def wait_healthy(url: str, timeout_s: float, child: Child | None = None, *, need_ready: bool = False) -> None:
    """Poll `GET url/health` until it answers 200 (and `"ready": true` with `need_ready`)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(base_url=url, timeout=min(5.0, timeout_s)) as client:
        while True:
            if child is not None and not child.running():
                raise TargetNotReady(f"the target exited with code {child.process.returncode} before /health "
                                     f"answered 200; {_tail(child)}")
            try:
                resp = client.get("/health")
                if resp.status_code == 200 and (not need_ready or resp.json().get("ready")):
                    return
                last = f"/health answered {resp.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"/health: {type(exc).__name__}"
            if time.monotonic() >= deadline:
                raise TargetNotReady(f"the target at {url} was not healthy within {timeout_s:g} s ({last})"
                                     + (f"; {_tail(child)}" if child is not None else ""))
            time.sleep(HEALTH_POLL_S)


def _tail(child: Child) -> str:
    """The child's last output lines, secrets redacted (the message reaches summary.json and the console)."""
    if child._reader is not None and not child.running():
        child._reader.join(timeout=1.0)  # let the pump copy what the child printed before it exited
    lines = [redact_text(line) for line in child.tail[-TAIL_SHOWN:]]
    return "last output: " + (" | ".join(lines) if lines else "(none)")
