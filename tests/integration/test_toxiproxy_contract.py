"""Toxiproxy 2.12's HTTP API contract (raw HTTP and toxiproxy-python), against any server given by URL.

By default the embedded server runs as a separate process and is reached only through its URL, as a real
toxiproxy-server would be. With `TOXIPROXY_URL` set the same tests run against that server (e.g. a real
`toxiproxy-server -host 127.0.0.1 -proxy-metrics` on this machine); the few checks of this server's
deliberate differences and extensions are then skipped (or, for arrivals, assert their absence).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.faults import ArrivalPage, ArrivalsUnavailable, FaultController
from harness.toxiproxy.echo import TcpUpstream
from tests.toxiproxy_server import EXTERNAL_URL, embedded_process, server_url

pytestmark = pytest.mark.timeout(60)
ERROR_TYPE = "text/plain; charset=utf-8"
embedded_only = pytest.mark.skipif(EXTERNAL_URL is not None, reason="a deliberate difference of the embedded server")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with server_url() as url:
        yield url


@pytest.fixture(scope="module")
def upstream() -> Iterator[TcpUpstream]:
    with TcpUpstream("echo") as echo:
        yield echo


@pytest.fixture()
def api(server: str) -> Iterator[str]:
    requests.post(server + "/reset", timeout=5)
    for name in requests.get(server + "/proxies", timeout=5).json():
        requests.delete(f"{server}/proxies/{name}", timeout=5)
    yield server
    for name in requests.get(server + "/proxies", timeout=5).json():
        requests.delete(f"{server}/proxies/{name}", timeout=5)


def call(method: str, url: str, body: Any = None, raw: bytes | None = None, **kw: Any) -> requests.Response:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    return requests.request(method, url, data=data, timeout=5, **kw)


def assert_error(resp: requests.Response, status: int, message: str) -> None:
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == ERROR_TYPE
    assert resp.text == json.dumps({"error": message, "status": status}, separators=(",", ":")) + "\n"


def make(api: str, upstream: TcpUpstream, name: str = "p", **extra: Any) -> dict[str, Any]:
    resp = call("POST", api + "/proxies", {"name": name, "upstream": upstream.address, "listen": "127.0.0.1:0", **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def echo_once(listen: str, payload: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port_of(listen)), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(1024)


def test_empty_index_and_request_id(api: str) -> None:
    resp = call("GET", api + "/proxies")
    assert (resp.status_code, resp.text, resp.headers["Content-Type"]) == (200, "{}", "application/json")
    assert resp.headers["X-Toxiproxy-Request-Id"]


def test_create_resolves_listen_and_returns_the_proxy_shape(api: str, upstream: TcpUpstream) -> None:
    resp = call("POST", api + "/proxies", {"name": "p", "upstream": upstream.address, "listen": "127.0.0.1:0"})
    assert resp.status_code == 201
    body = resp.json()
    assert list(body) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert body["listen"].startswith("127.0.0.1:") and port_of(body["listen"]) > 0
    assert (body["enabled"], body["toxics"]) == (True, [])
    assert echo_once(body["listen"]) == b"ping"
    assert call("GET", api + "/proxies/p").json() == body
    assert call("GET", api + "/proxies").json() == {"p": body}


def test_create_errors_change_nothing(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    assert_error(call("POST", api + "/proxies", {"name": "p", "upstream": "x:1"}), 409, "proxy already exists")
    assert_error(call("POST", api + "/proxies", {"upstream": "x:1"}), 400, "missing required field: name")
    assert_error(call("POST", api + "/proxies", {"name": "q"}), 400, "missing required field: upstream")
    assert_error(call("POST", api + "/proxies", raw=b""), 400, "bad request body: EOF")
    resp = call("POST", api + "/proxies", raw=b"{nope")
    assert resp.status_code == 400 and resp.json()["error"].startswith("bad request body: ")
    assert list(call("GET", api + "/proxies").json()) == ["p"]


def test_bind_failure_is_500_with_the_os_error_and_nothing_stored(api: str, upstream: TcpUpstream) -> None:
    taken = make(api, upstream, "first")["listen"]
    resp = call("POST", api + "/proxies", {"name": "second", "upstream": upstream.address, "listen": taken})
    assert_error(resp, 500, f"listen tcp {taken}: bind: address already in use")
    assert_error(call("GET", api + "/proxies/second"), 404, "proxy not found")


def test_case_insensitive_keys_and_disabled_creation_keeps_literal_listen(api: str, upstream: TcpUpstream) -> None:
    resp = call("POST", api + "/proxies", {"Name": "d", "UPSTREAM": upstream.address, "listen": "127.0.0.1:0",
                                           "enabled": False, "unknown": 1})
    assert resp.status_code == 201
    assert (resp.json()["listen"], resp.json()["enabled"]) == ("127.0.0.1:0", False)


def test_disable_refuses_connects_closes_live_ones_and_enable_rebinds_same_port(
        api: str, upstream: TcpUpstream) -> None:
    listen = make(api, upstream)["listen"]
    live = socket.create_connection(("127.0.0.1", port_of(listen)), timeout=5)
    live.sendall(b"a")
    assert live.recv(10) == b"a"
    resp = call("PATCH", api + "/proxies/p", {"enabled": False})
    assert (resp.status_code, resp.json()["enabled"], resp.json()["listen"]) == (200, False, listen)
    try:
        assert live.recv(10) == b""
    except ConnectionResetError:
        pass
    finally:
        live.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port_of(listen)), timeout=5)
    resp = call("POST", api + "/proxies/p", {"enabled": True, "name": "ignored"})
    assert (resp.status_code, resp.json()["listen"], resp.json()["name"]) == (200, listen, "p")
    assert echo_once(listen) == b"ping"


def test_update_listen_or_upstream_restarts_and_errors(api: str, upstream: TcpUpstream) -> None:
    old = make(api, upstream)["listen"]
    resp = call("PATCH", api + "/proxies/p", {"listen": "127.0.0.1:0"})
    assert resp.status_code == 200 and resp.json()["listen"] != old
    assert echo_once(resp.json()["listen"]) == b"ping"
    assert_error(call("PATCH", api + "/proxies/p", raw=b""), 400, "bad request body: EOF")
    assert_error(call("PATCH", api + "/proxies/nope", {"enabled": True}), 404, "proxy not found")


def test_delete(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    resp = call("DELETE", api + "/proxies/p")
    assert (resp.status_code, resp.content) == (204, b"")
    assert_error(call("DELETE", api + "/proxies/p"), 404, "proxy not found")


def test_toxic_create_shape_defaults_and_order(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    resp = call("POST", api + "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 10}})
    assert resp.status_code == 200  # not 201
    assert resp.text == ('{"attributes":{"latency":10,"jitter":0},"name":"latency_downstream",'
                         '"type":"latency","stream":"downstream","toxicity":1}')
    call("POST", api + "/proxies/p/toxics", {"type": "noop", "stream": "upstream", "toxicity": 0.5})
    call("POST", api + "/proxies/p/toxics", {"type": "slicer", "name": "s", "stream": "upstream",
                                             "attributes": {"average_size": 8}})
    names = [t["name"] for t in call("GET", api + "/proxies/p/toxics").json()]
    assert names == ["noop_upstream", "s", "latency_downstream"]
    noop = call("GET", api + "/proxies/p/toxics/noop_upstream").json()
    assert (noop["attributes"], noop["toxicity"]) == ({}, 0.5)
    assert [t["name"] for t in call("GET", api + "/proxies/p").json()["toxics"]] == names


def test_toxic_create_errors_in_toxiproxy_order(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    url = api + "/proxies/p/toxics"
    call("POST", url, {"type": "latency", "name": "dup", "stream": "upstream"})
    assert_error(call("POST", api + "/proxies/zz/toxics", {"type": "latency"}), 404, "proxy not found")
    assert_error(call("POST", url, raw=b""), 400, "bad request body: EOF")
    assert_error(call("POST", url, {"type": "bogus", "stream": "sideways"}), 400,
                 "stream was invalid, can be either upstream or downstream")
    assert_error(call("POST", url, {"type": "bogus"}), 400, "invalid toxic type")
    assert_error(call("POST", url, {"type": "latency", "name": "dup"}), 409, "toxic already exists")
    for attrs in ({"latency": 1.5}, {"latency": "1"}):
        resp = call("POST", url, {"type": "latency", "attributes": attrs})
        assert resp.status_code == 400 and resp.json()["error"].startswith("bad request body: ")
    assert [t["name"] for t in call("GET", url).json()] == ["dup"]


@embedded_only
def test_attributes_that_crash_toxiproxy_are_refused(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    url = api + "/proxies/p/toxics"
    for body in ({"type": "bandwidth", "attributes": {"rate": -1}},
                 {"type": "slicer", "attributes": {"average_size": 0}},
                 {"type": "slicer", "attributes": {"average_size": 8, "size_variation": 10}}):
        assert call("POST", url, body).status_code == 400
    assert call("POST", url, {"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}}
                ).status_code == 200  # Toxiproxy runs equal bounds, so they are accepted


def test_toxic_update_merges_and_is_all_or_nothing(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    call("POST", api + "/proxies/p/toxics", {"type": "latency", "toxicity": 0.25,
                                             "attributes": {"latency": 100, "jitter": 5}})
    url = api + "/proxies/p/toxics/latency_downstream"
    resp = call("PATCH", url, {"attributes": {"jitter": 9}, "name": "ignored", "type": "timeout"})
    assert resp.status_code == 200
    assert resp.json() == {"attributes": {"latency": 100, "jitter": 9}, "name": "latency_downstream",
                           "type": "latency", "stream": "downstream", "toxicity": 0.25}
    assert call("POST", url, {"toxicity": 1}).json()["toxicity"] == 1
    assert call("PATCH", url, {"toxicity": 0.5, "attributes": {"latency": 1, "jitter": 0.5}}).status_code == 400
    unchanged = call("GET", url).json()
    assert (unchanged["attributes"], unchanged["toxicity"]) == ({"latency": 100, "jitter": 9}, 1)
    assert_error(call("PATCH", api + "/proxies/p/toxics/none", {}), 404, "toxic not found")
    assert_error(call("PATCH", api + "/proxies/zz/toxics/none", {}), 404, "proxy not found")


def test_toxic_delete(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream)
    call("POST", api + "/proxies/p/toxics", {"type": "noop"})
    assert call("DELETE", api + "/proxies/p/toxics/noop_downstream").status_code == 204
    assert_error(call("DELETE", api + "/proxies/p/toxics/noop_downstream"), 404, "toxic not found")
    assert_error(call("GET", api + "/proxies/p/toxics/noop_downstream"), 404, "toxic not found")


def test_reset_enables_all_and_removes_all_toxics(api: str, upstream: TcpUpstream) -> None:
    make(api, upstream, "a")
    make(api, upstream, "b", enabled=False)
    call("POST", api + "/proxies/a/toxics", {"type": "latency"})
    assert call("POST", api + "/proxies/b/toxics", {"type": "noop"}).status_code == 200  # allowed while disabled
    resp = call("POST", api + "/reset")
    assert (resp.status_code, resp.content) == (204, b"")
    proxies = call("GET", api + "/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())
    assert echo_once(proxies["b"]["listen"]) == b"ping"


def test_version(api: str) -> None:
    resp = call("GET", api + "/version")
    assert (resp.status_code, resp.text) == (200, '{"version": "2.12.0"}\n')
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"


def test_unknown_path_wrong_method_and_browsers(api: str) -> None:
    resp = call("GET", api + "/nothing")
    assert (resp.status_code, resp.text) == (404, "404 page not found\n")
    assert call("GET", api + "/proxies/").status_code == 404
    resp = call("PUT", api + "/proxies")
    assert (resp.status_code, resp.content) == (405, b"")
    resp = call("GET", api + "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (resp.status_code, resp.text) == (403, "User agent not allowed\n")


def test_metrics_count_bytes_per_direction_after_a_link_ends(api: str, upstream: TcpUpstream) -> None:
    if call("GET", api + "/metrics").status_code == 404:
        pytest.skip("the server was started without -proxy-metrics")
    listen = make(api, upstream, "m")["listen"]
    assert echo_once(listen, b"x" * 1000) == b"x" * 1000
    label = f'listener="{listen}",proxy="m",upstream="{upstream.address}"'
    expected = [f'toxiproxy_proxy_received_bytes_total{{direction="upstream",{label}}} 1000',
                f'toxiproxy_proxy_sent_bytes_total{{direction="downstream",{label}}} 1000']
    text = ""
    for _ in range(50):
        text = call("GET", api + "/metrics").text
        if all(line in text for line in expected):
            break
        socket.create_connection(("127.0.0.1", upstream.port)).close()  # give the loop a moment
    assert all(line in text for line in expected), text


@embedded_only
def test_metrics_route_exists_only_when_enabled() -> None:
    with embedded_process() as plain:
        resp = call("GET", plain + "/metrics")
        assert (resp.status_code, resp.text) == (404, "404 page not found\n")


def test_populate_creates_keeps_and_replaces(api: str, upstream: TcpUpstream) -> None:
    resp = call("POST", api + "/populate", [{"name": "a", "upstream": upstream.address, "listen": "127.0.0.1:0"},
                                            {"name": "b", "upstream": upstream.address, "enabled": False}])
    assert resp.status_code == 201 and resp.headers["Content-Type"] == "application/json"
    made = {p["name"]: p for p in resp.json()["proxies"]}
    assert made["a"]["enabled"] and not made["b"]["enabled"]
    call("POST", api + "/proxies/a/toxics", {"type": "noop"})
    same = {"name": "a", "upstream": upstream.address, "listen": made["a"]["listen"]}
    resp = call("POST", api + "/populate", [same, {"name": "b", "upstream": "127.0.0.1:1"}])
    assert resp.status_code == 201
    after = call("GET", api + "/proxies").json()
    assert after["a"]["toxics"] and after["a"]["listen"] == made["a"]["listen"]
    assert after["b"]["upstream"] == "127.0.0.1:1" and after["b"]["enabled"]
    assert call("POST", api + "/populate", []).json() == {"proxies": None}


def test_populate_validates_everything_first_and_reports_partial_failures(api: str, upstream: TcpUpstream) -> None:
    resp = call("POST", api + "/populate", [{"name": "a", "upstream": upstream.address}, {"name": "b"}])
    assert resp.status_code == 400
    assert resp.json() == {"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": None}
    assert call("GET", api + "/proxies").json() == {}
    taken = make(api, upstream, "holder")["listen"]
    resp = call("POST", api + "/populate", [{"name": "a", "upstream": upstream.address, "listen": "127.0.0.1:0"},
                                            {"name": "c", "upstream": upstream.address, "listen": taken}])
    body = resp.json()
    assert resp.status_code == 500 and body["status"] == 500
    assert body["error"] == f"listen tcp {taken}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["a"]
    assert_error(call("GET", api + "/proxies/c"), 404, "proxy not found")


def test_arrivals_are_an_extension_a_real_toxiproxy_lacks(api: str, upstream: TcpUpstream) -> None:
    listen = make(api, upstream)["listen"]
    assert echo_once(listen) == b"ping"
    with FaultController(api) as ctl:
        result = ctl.arrivals("p")
    if EXTERNAL_URL is None:
        assert isinstance(result, ArrivalPage) and [r.kind for r in result.records][:1] == ["connection"]
    else:
        assert isinstance(result, ArrivalsUnavailable)


@pytest.fixture()
def client(api: str) -> Iterator[Toxiproxy]:
    saved = (APIConsumer.host, APIConsumer.port)
    host, port = api.removeprefix("http://").split(":")
    APIConsumer.host, APIConsumer.port = host, int(port)
    yield Toxiproxy()
    APIConsumer.host, APIConsumer.port = saved


def test_toxiproxy_python_client_round_trip(client: Toxiproxy, upstream: TcpUpstream) -> None:
    assert client.running()
    assert client.version() == b'{"version": "2.12.0"}\n'
    proxy = client.create(upstream=upstream.address, name="py")
    assert proxy.listen.count(":") == 1 and port_of(proxy.listen) > 0
    with pytest.raises(ProxyExists):
        client.create(upstream=upstream.address, name="py")
    proxy.add_toxic(type="latency", attributes={"latency": 5}, stream="upstream")
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_upstream"] and toxics["latency_upstream"].attributes == {"latency": 5, "jitter": 0}
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="bogus")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency", stream="upstream")
    assert proxy.destroy_toxic("latency_upstream")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_upstream")
    with proxy.down():
        assert client.get_proxy("py").enabled is False
    assert client.get_proxy("py").enabled is True
    assert echo_once(proxy.listen) == b"ping"
    proxy.add_toxic(type="timeout")
    assert client.reset()
    assert client.get_proxy("py").toxics() == {}
    assert proxy.destroy()
    assert client.proxies() == {}


def test_unreachable_upstream_accepts_then_closes(api: str) -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{spare.getsockname()[1]}"
    spare.close()  # nothing listens there now
    resp = call("POST", api + "/proxies", {"name": "dead", "upstream": dead, "listen": "127.0.0.1:0"})
    assert resp.status_code == 201  # the upstream is not validated
    with socket.create_connection(("127.0.0.1", port_of(resp.json()["listen"])), timeout=5) as conn:
        assert conn.recv(10) == b""  # accepted, then closed: EOF rather than a refusal
