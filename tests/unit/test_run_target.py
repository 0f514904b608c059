"""`--target-cmd` with real processes: the variables reach the target, readiness is `GET /health` 200, a target
that never becomes healthy (or exits) is reported with its last lines, and stopping kills its whole group."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.run.accounts import derive_accounts, write_private_files
from harness.run.assets import RunAssets
from harness.run.supervisor import Supervisor
from harness.run.target import TargetNotReady, TargetSpec, start_target
from harness.run.worlds import TARGET_KEYS, Worlds
from scenarios.client_keys import api_key

WORLDS = Worlds("offline", "http://127.0.0.1:4001", "http://127.0.0.1:4002", "Test ; 2026", "http://127.0.0.1:4474",
                "http://127.0.0.1:4003", "http://127.0.0.1:4003")
ASSETS = RunAssets("native", "native")
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
    return sup, lambda: start_target(spec, sup, WORLDS, files, env_name="development", assets=ASSETS, fault=None,
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
        for key in ("SRH_ACCOUNTS_FILE", "SRH_ADMIN_TOKEN_FILE", "SRH_API_KEYS_FILE"):
            assert oct(Path(env[key]).stat().st_mode & 0o777) == "0o600"
        assert json.loads(Path(env["SRH_ACCOUNTS_FILE"]).read_text())["settlement_pool"]
        # the hashes of exactly the keys the load clients send (derived from the load's per-run secret)
        sent = api_key(bytes.fromhex(json.loads(files.load_accounts.read_text())["api_key_secret"]), "settler-0")
        assert hashlib.sha256(sent.encode()).hexdigest() in Path(env["SRH_API_KEYS_FILE"]).read_text().split()
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


# `harness run` up to the point where it would start the run, in a fresh interpreter: which modules did it load?
CLI_PROBE = textwrap.dedent("""
    import json, sys
    import harness.judges, harness.report, harness.run.cli as cli, harness.run.evidence, harness.run.up
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    cli.run = lambda options: 0  # stop before anything starts
    code = cli.main(parser.parse_args(sys.argv[1:]))
    print(json.dumps([code, sorted(m for m in sys.modules if m.startswith("reference_impl.service"))]))
""")


def _cli_probe(*argv: str) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, "-c", CLI_PROBE, *argv], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-2000:]
    code, modules = json.loads(result.stdout.strip().splitlines()[-1])
    return code, modules


@pytest.mark.timeout(120)
def test_a_foreign_target_run_never_imports_the_reference_service() -> None:
    """Judging a foreign target must not lean on the reference's code: `--target-cmd` / `--target` runs (and
    the judges, the report, `harness up`) load no module of reference_impl.service. Only a reference run
    with `--fault-in-service` reads the service's fault registry, which the last probe shows (so the
    probe can see such an import)."""
    assert _cli_probe("e2e-short", "--target-cmd", "node server.mjs") == (0, [])
    assert _cli_probe("e2e-short", "--target", "http://127.0.0.1:9") == (0, [])
    code, modules = _cli_probe("e2e-short", "--target-cmd", "node server.mjs", "--fault-in-service", "no-failover")
    assert code == 4 and modules == []  # refused: a command target takes its fault in its command
    code, modules = _cli_probe("e2e-short", "--fault-in-service", "no-such-fault")
    assert code == 2 and "reference_impl.service.faults" in modules
    assert _cli_probe("e2e-short", "--env", "mainnet", "--fault-in-service", "no-failover")[0] == 2
    assert _cli_probe("e2e-short", "--fault-in-service", "no-failover")[0] == 0


class _Health:
    """A /health answering HEALTH (JSON) on a real loopback socket, in a thread."""

    def __init__(self, body: dict) -> None:
        import http.server
        import threading

        payload = json.dumps(body).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload if self.path == "/health" else b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("announced", [True, False])
def test_the_poller_samples_announced_store_sizes_or_says_why_there_are_none(announced: bool) -> None:
    from harness.judges.observability import HEALTH, STATE_SIZES
    from harness.run.poller import ServicePoller

    stores = {"x402_nonces": {"size": 3, "capacity": 100, "per_client": 2, "ttl_s": 60.0}}
    target = _Health({"status": "ok", "breakers": {}, **({"state": stores} if announced else {})})
    clock = iter(range(100))
    poller = ServicePoller(target.url, "token", lambda t: t, lambda: float(next(clock)))
    try:
        poller.poll_health()
        poller.poll_health()
    finally:
        poller._client.close()
        target.close()
    samples = [e for e in poller.snapshot() if e.kind == "state"]
    missing, sources = poller.observability()
    assert HEALTH in sources
    # every answer is a `health` event for the health check
    answers = [e.data for e in poller.snapshot() if e.kind == "health"]
    assert [a["status"] for a in answers] == ["ok", "ok"] and answers[0]["asked_at"] < answers[1]["asked_at"]
    if announced:
        # stamped with the answer's time, `asked_at` the request's (each poll also notes the whole answer)
        assert [(e.t, e.data) for e in samples] == [(1.0, {"stores": stores, "asked_at": 0.0}),
                                                    (4.0, {"stores": stores, "asked_at": 3.0})]
        assert "2 samples" in sources[STATE_SIZES] and STATE_SIZES not in missing
    else:
        assert samples == [] and "none of 2 GET /health answers announced store sizes" in missing[STATE_SIZES]
