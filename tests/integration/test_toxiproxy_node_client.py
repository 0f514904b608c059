"""toxiproxy-node-client (npm, pinned in tests/js) as an independent judge of the Toxiproxy API.

The client was written against a real Toxiproxy, so what it sees here is what it would see there; a
mismatch is this server's bug unless the client's source shows the client is wrong. The server is the
embedded one as a separate process, or `TOXIPROXY_URL` (tests/toxiproxy_server.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.toxiproxy.echo import TcpUpstream
from tests.node_clients import run_script
from tests.toxiproxy_server import server_url

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def seen() -> Iterator[dict[str, Any]]:
    with TcpUpstream("echo") as echo, server_url() as url:
        yield run_script("toxiproxy_contract.mjs", {"url": url, "upstream": echo.address})


def failed(status: int) -> dict[str, Any]:
    return {"ok": False, "name": "Error", "status": status, "message": f"Request failed with status code {status}"}


def test_version_and_proxy_lifecycle(seen: dict[str, Any]) -> None:
    assert seen["version"] == '{"version": "2.12.0"}\n'
    created = seen["created"]
    assert created["name"] == "js" and created["enabled"] is True
    assert created["listen"].startswith("127.0.0.1:")  # "localhost:0" resolved to the bound address
    assert seen["fetched"] == created and seen["names"] == ["js"]
    assert (seen["echo"], seen["echoAgain"]) == ("ping", "pong")
    assert seen["disabled"] == {**created, "enabled": False}
    assert seen["refused"]["message"].startswith("connect ECONNREFUSED")
    assert seen["reenabled"] == created  # same port after disable -> enable
    assert seen["removed"] == failed(404) and seen["removeAgain"] == failed(404)
    assert seen["namesAtEnd"] == []


def test_toxics(seen: dict[str, Any]) -> None:
    assert seen["defaultToxic"] == {"attributes": {"latency": 5, "jitter": 0}, "name": "latency_downstream",
                                    "stream": "downstream", "toxicity": 1, "type": "latency"}
    toxic = {"attributes": {"latency": 10, "jitter": 2}, "name": "lat", "stream": "upstream", "toxicity": 1,
             "type": "latency"}
    assert seen["toxic"] == toxic and seen["toxicFetched"] == toxic
    assert seen["toxicUpdated"] == {**toxic, "attributes": {"latency": 20, "jitter": 2}, "toxicity": 0.5}
    assert seen["toxicsBeforeRemove"] == ["lat", "latency_downstream"]  # upstream toxics first
    assert seen["removedToxic"] == failed(404) and seen["removeToxicAgain"] == failed(404)


def test_error_statuses(seen: dict[str, Any]) -> None:
    assert seen["duplicate"] == failed(409) and seen["duplicateToxic"] == failed(409)
    assert seen["missing"] == failed(404) and seen["missingToxic"] == failed(404)
    for case in ("missingUpstream", "badType", "badStream", "badAttribute", "populateMissingName"):
        assert seen[case] == failed(400), case


def test_populate_and_reset(seen: dict[str, Any]) -> None:
    populated = seen["populated"]
    assert populated["js"] == seen["created"]  # unchanged entry kept as it was ...
    assert seen["keptToxicsOnUnchangedPopulate"] == ["latency_downstream"]  # ... with its toxics
    assert populated["js2"]["enabled"] is True and populated["js2"]["listen"].startswith("127.0.0.1:")
    assert seen["afterReset"] == {"js": {"enabled": True, "toxics": []}, "js2": {"enabled": True, "toxics": []}}


def test_the_client_fails_on_an_empty_populate_as_it_would_against_toxiproxy(seen: dict[str, Any]) -> None:
    """Toxiproxy v2.12.0 answers an empty POST /populate with `{"proxies":null}` (api.go `Populate` marshals
    `proxiesWithToxics`, a nil slice when nothing was made); toxiproxy-node-client 4.1.0's
    `Toxiproxy.populate` (dist/Toxiproxy.js) iterates `res.data.proxies` without a null check. The
    client is wrong here, not the server."""
    assert seen["populateEmpty"] == {"ok": False, "name": "TypeError", "status": None,
                                     "message": "res.data.proxies is not iterable"}
