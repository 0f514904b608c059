"""Independent clients written in JavaScript (the Stellar SDK, toxiproxy-node-client) driven from tests.

The packages are pinned in `tests/js/package.json` + `package-lock.json` and installed with `npm ci`
into `tests/js/node_modules` (git-ignored) the first time a test needs them, or by `make test`.
A script is an ES module in `tests/js/`; it reads one JSON argument and prints one JSON document on
its last stdout line, so a test asserts on data, not on text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent / "js"
_MARKER = JS_DIR / "node_modules" / ".package-lock.json"
_install_lock = threading.Lock()


class NodeClientError(RuntimeError):
    """A JavaScript client script failed or printed no JSON result."""


def ensure_installed(timeout_s: float = 300.0) -> None:
    """`npm ci` into tests/js/node_modules unless it is already there and current."""
    with _install_lock:
        lock = JS_DIR / "package-lock.json"
        if _MARKER.is_file() and _MARKER.stat().st_mtime >= lock.stat().st_mtime:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise NodeClientError("npm is not on PATH: the independent-client tests need node and npm")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR, check=True,
                       timeout=timeout_s)
        _MARKER.touch()


def run_script(name: str, args: dict[str, Any], timeout_s: float = 60.0, env: dict[str, str] | None = None) -> Any:
    """Run `tests/js/<name>` with `args` as JSON (and `env` added to the environment); returns the JSON
    its last stdout line holds."""
    ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise NodeClientError("node is not on PATH")
    proc = subprocess.run([node, str(JS_DIR / name), json.dumps(args)], cwd=JS_DIR, capture_output=True,
                          text=True, timeout=timeout_s, env={**os.environ, "NODE_NO_WARNINGS": "1", **(env or {})})
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise NodeClientError(f"{name} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise NodeClientError(f"{name} printed no JSON result: {lines[-1][:500]}") from None
