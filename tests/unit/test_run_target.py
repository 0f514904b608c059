"""`--target-cmd` with real processes: the variables reach the target, readiness is `GET /health` 200, a target
that never becomes healthy (or exits) is reported with its last lines, and stopping kills its whole group."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.run.accounts import derive_accounts, write_private_files
from harness.run.supervisor import Supervisor
from harness.run.target import TargetNotReady, TargetSpec, start_target
from harness.run.worlds import TARGET_KEYS, Worlds

WORLDS = Worlds("offline", "http://127.0.0.1:4001", "http://127.0.0.1:4002", "Test ; 2026", "http://127.0.0.1:4474",
                "http://127.0.0.1:4003", "http://127.0.0.1:4003")
# Answers /health with HEALTH_STATUS after READY_AFTER seconds; writes its environment and a grandchild's pid.
SERVER = textwrap.dedent("""
    import http.server, json, os, subprocess, sys, time
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    keys = json.loads(os.environ["KEYS"])
    with open(os.environ["DUMP"], "w") as fh:
        json.dump({"env": {k: os.environ.get(k) for k in keys}, "grandchild": grandchild.pid}, fh)
    started = time.monotonic()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = time.monotonic() - started >= float(os.environ["READY_AFTER"])
            self.send_response(int(os.environ["HEALTH_STATUS"]) if ok else 503)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("target starting on", os.environ["PORT"], flush=True)
    http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


@pytest.fixture
def files():
    private = write_private_files(derive_accounts(11))
    yield private
    private.cleanup()


def _start(tmp_path: Path, files, monkeypatch, ready_after: float, status: int, timeout_s: float,
           script: str = SERVER):
    (tmp_path / "server.py").write_text(script)
    for key, value in {"KEYS": json.dumps(TARGET_KEYS), "DUMP": str(tmp_path / "dump.json"),
                       "READY_AFTER": str(ready_after), "HEALTH_STATUS": str(status)}.items():
        monkeypatch.setenv(key, value)  # the target inherits the harness's environment
    sup = Supervisor(tmp_path / "logs", grace_s=2.0)
    spec = TargetSpec(command=f"{sys.executable} {tmp_path / 'server.py'}", ready_timeout_s=timeout_s)
    return sup, lambda: start_target(spec, sup, WORLDS, files, env_name="development", fault=None,
                                     log_dir=tmp_path / "logs")


def _gone(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.timeout(60)
def test_command_target_gets_the_wiring_and_is_stopped_with_its_whole_group(tmp_path: Path, files, monkeypatch) -> None:
    sup, start = _start(tmp_path, files, monkeypatch, ready_after=1.0, status=200, timeout_s=30.0)
    try:
        target = start()
        dump = json.loads((tmp_path / "dump.json").read_text())
        env = dump["env"]
        assert target.kind == "command" and target.url == env["TARGET_URL"] == f"http://127.0.0.1:{env['PORT']}"
        assert env["HORIZON_URL"] == WORLDS.horizon_url and env["HORIZON_URL_SECONDARY"] == WORLDS.horizon_url_secondary
        assert env["STELLAR_NETWORK_PASSPHRASE"] == "Test ; 2026"
        for key in ("SRH_ACCOUNTS_FILE", "SRH_ADMIN_TOKEN_FILE"):
            assert oct(Path(env[key]).stat().st_mode & 0o777) == "0o600"
        assert json.loads(Path(env["SRH_ACCOUNTS_FILE"]).read_text())["settlement_pool"]
    finally:
        sup.stop_all()
    assert _gone(target.child.pid) and _gone(dump["grandchild"])
    assert "target starting on" in (tmp_path / "logs" / "target.log").read_text()


@pytest.mark.timeout(60)
def test_a_target_never_healthy_is_reported_with_its_last_lines_and_leaves_nothing_behind(tmp_path: Path, files, monkeypatch) -> None:
    sup, start = _start(tmp_path, files, monkeypatch, ready_after=0.0, status=500, timeout_s=3.0)
    started = time.monotonic()
    try:
        with pytest.raises(TargetNotReady, match=r"not healthy within 3 s \(/health answered 500\).*target starting on"):
            start()
        assert time.monotonic() - started < 15.0
        grandchild = json.loads((tmp_path / "dump.json").read_text())["grandchild"]
    finally:
        children = list(sup.children)
        sup.stop_all()
    assert all(_gone(c.pid) for c in children) and _gone(grandchild)


@pytest.mark.timeout(60)
def test_a_target_that_exits_is_reported_at_once(tmp_path: Path, files, monkeypatch) -> None:
    script = "import sys; print('missing SRH_ACCOUNTS_FILE handling', flush=True); sys.exit(3)"
    sup, start = _start(tmp_path, files, monkeypatch, ready_after=0.0, status=200, timeout_s=30.0, script=script)
    try:
        with pytest.raises(TargetNotReady, match="exited with code 3.*missing SRH_ACCOUNTS_FILE"):
            start()
    finally:
        sup.stop_all()


@pytest.mark.parametrize("kwargs, error", [
    ({"command": "x", "url": "http://127.0.0.1:1"}, "not both"),
    ({"command": "  "}, "must not be empty"),
    ({"url": "http://example.com"}, "loopback"),
    ({"command": "x", "ready_timeout_s": 0}, "ready-timeout"),
])
def test_target_options_are_checked(kwargs: dict, error: str) -> None:
    from harness.errors import HarnessConfigurationError

    with pytest.raises(HarnessConfigurationError, match=error):
        TargetSpec(**kwargs)
