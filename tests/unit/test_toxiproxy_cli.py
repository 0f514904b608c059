"""`harness toxiproxy` as a child process: LISTENING line, --config populate, clean exit on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness.toxiproxy.echo import TcpUpstream


@pytest.mark.timeout(30)
def test_cli_serves_populates_and_exits_cleanly(tmp_path: Path) -> None:
    with TcpUpstream("echo") as echo:
        config = tmp_path / "proxies.json"
        config.write_text(json.dumps([{"name": "boot", "upstream": echo.address, "listen": "127.0.0.1:0"}]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "toxiproxy", "--host", "127.0.0.1", "--port", "0",
             "--config", str(config), "--proxy-metrics"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("LISTENING http://127.0.0.1:"), line
            url = line.split(" ", 1)[1]
            proxies = requests.get(url + "/proxies", timeout=5).json()
            assert proxies["boot"]["enabled"] and proxies["boot"]["upstream"] == echo.address
            assert requests.get(url + "/metrics", timeout=5).status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


@pytest.mark.timeout(30)
def test_cli_rejects_a_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps([{"name": "no-upstream"}]))
    result = subprocess.run([sys.executable, "-m", "harness.toxiproxy", "--port", "0", "--config", str(config)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "missing required field: upstream at proxy 1" in result.stderr
    assert "LISTENING" not in result.stdout
