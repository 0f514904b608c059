"""Loopback-only listening unless --allow-remote: the API address, every proxy's listen, typed errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy
from harness.toxiproxy.exposure import LOOPBACK_RULE, RemoteListenError, is_loopback_host

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.9.8.7", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("::ffff:127.0.0.1", True), ("", False), ("0.0.0.0", False), ("::", False),
    ("10.0.0.1", False), ("example.com", False), ("127.0.0.1.nip.io", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_the_api_refuses_a_non_loopback_address() -> None:
    with pytest.raises(RemoteListenError, match="--allow-remote"):
        EmbeddedToxiproxy(host="0.0.0.0")


@pytest.fixture(scope="module")
def echo() -> Iterator[TcpUpstream]:
    with TcpUpstream("echo") as upstream:
        yield upstream


@pytest.fixture()
def url() -> Iterator[str]:
    with EmbeddedToxiproxy() as tp:
        yield tp.url


def refused(resp: requests.Response, listen: str) -> bool:
    message = f"listen address {listen} is not a loopback address: {LOOPBACK_RULE}"
    return resp.status_code == 403 and resp.json() == {"error": message, "status": 403}


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0", "10.1.2.3:0", "example.com:0"])
def test_non_loopback_proxy_listens_are_refused_and_change_nothing(url: str, echo: TcpUpstream,
                                                                   listen: str) -> None:
    body = {"name": "p", "upstream": echo.address, "listen": listen}
    assert refused(requests.post(url + "/proxies", json=body, timeout=5), listen)
    assert refused(requests.post(url + "/proxies", json={**body, "enabled": False}, timeout=5), listen)
    ok = {"name": "ok", "upstream": echo.address, "listen": "127.0.0.1:0"}
    resp = requests.post(url + "/populate", json=[ok, body], timeout=5)
    assert resp.status_code == 403 and resp.json()["proxies"] is None
    assert requests.get(url + "/proxies", timeout=5).json() == {}
    made = requests.post(url + "/proxies", json=ok, timeout=5).json()
    assert refused(requests.patch(url + "/proxies/ok", json={"listen": listen}, timeout=5), listen)
    assert requests.get(url + "/proxies/ok", timeout=5).json() == made


@pytest.mark.parametrize("listen", ["localhost:0", "127.0.0.2:0"])
def test_loopback_listens_are_accepted(url: str, echo: TcpUpstream, listen: str) -> None:
    resp = requests.post(url + "/proxies", json={"name": "p", "upstream": echo.address, "listen": listen},
                         timeout=5)
    assert resp.status_code == 201, resp.text
    assert resp.json()["listen"].startswith("127.0.0.")


def test_allow_remote_binds_all_interfaces_as_toxiproxy_does(echo: TcpUpstream) -> None:
    with EmbeddedToxiproxy(allow_remote=True) as tp:
        resp = requests.post(tp.url + "/proxies", json={"name": "p", "upstream": echo.address, "listen": ":0"},
                             timeout=5)
        assert resp.status_code == 201 and resp.json()["listen"].startswith("[::]:")


def test_non_loopback_upstreams_are_allowed(url: str) -> None:
    resp = requests.post(url + "/proxies", json={"name": "far", "upstream": "192.0.2.1:443", "enabled": False},
                         timeout=5)
    assert resp.status_code == 201


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.toxiproxy", "--port", "0", *args], capture_output=True,
                          text=True, timeout=20)


def test_cli_refuses_remote_api_and_remote_config_listens(tmp_path: Path) -> None:
    result = _cli("--host", "0.0.0.0")
    assert result.returncode == 2 and "--allow-remote" in result.stderr and "LISTENING" not in result.stdout
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "wide", "upstream": "127.0.0.1:1", "listen": "0.0.0.0:0"}]))
    result = _cli("--config", str(config))
    assert result.returncode == 2 and "not a loopback address" in result.stderr
