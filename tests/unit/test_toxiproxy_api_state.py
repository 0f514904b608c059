"""Stateful check of the control API against a dict model: any sequence of calls, right status, nothing
half-created, and GET /proxies always equal to the model."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from harness.toxiproxy.echo import TcpUpstream
from harness.toxiproxy.embedded import EmbeddedToxiproxy

PROXIES = st.sampled_from(["a", "b"])
TOXIC_NAMES = st.sampled_from([None, "t1", "t2"])
STREAMS = st.sampled_from(["upstream", "downstream"])
# (type, attributes, valid?) — attribute values Toxiproxy rejects or would crash on are invalid
TOXIC_BODIES = st.sampled_from([
    ("latency", {"latency": 5, "jitter": 1}, True),
    ("latency", {"latency": 1.5}, False),
    ("bandwidth", {"rate": 100000}, True),
    ("bandwidth", {"rate": -1}, False),
    ("slicer", {"average_size": 10, "size_variation": 3}, True),
    ("slicer", {"average_size": 3, "size_variation": 3}, True),  # equal bounds: Toxiproxy runs it
    ("slicer", {"average_size": 1, "size_variation": 10}, False),  # Go can cut out of bounds and panic
    ("limit_data", {"bytes": 10**9}, True),
    ("noop", {}, True),
    ("meteor", {}, False),
])
DEFAULTS = {"latency": {"latency": 0, "jitter": 0}, "bandwidth": {"rate": 0}, "limit_data": {"bytes": 0},
            "slicer": {"average_size": 0, "size_variation": 0, "delay": 0}, "noop": {}}


class ApiModel(RuleBasedStateMachine):
    url = ""
    upstream = ""

    def __init__(self) -> None:
        super().__init__()
        self.http = requests.Session()
        self.http.post(self.url + "/reset", timeout=5)
        for name in self.http.get(self.url + "/proxies", timeout=5).json():
            self.http.delete(f"{self.url}/proxies/{name}", timeout=5)
        self.model: dict[str, dict[str, Any]] = {}

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.url + path, json=body, timeout=5)

    @rule(name=PROXIES, enabled=st.booleans())
    def create(self, name: str, enabled: bool) -> None:
        resp = self.call("POST", "/proxies", {"name": name, "upstream": self.upstream, "listen": "127.0.0.1:0",
                                              "enabled": enabled})
        if name in self.model:
            assert resp.status_code == 409
        else:
            assert resp.status_code == 201, resp.text
            self.model[name] = {"enabled": enabled, "toxics": []}

    @rule(name=PROXIES)
    def delete(self, name: str) -> None:
        resp = self.call("DELETE", f"/proxies/{name}")
        assert resp.status_code == (204 if self.model.pop(name, None) is not None else 404)

    @rule(name=PROXIES, enabled=st.booleans())
    def set_enabled(self, name: str, enabled: bool) -> None:
        resp = self.call("PATCH", f"/proxies/{name}", {"enabled": enabled})
        if name not in self.model:
            assert resp.status_code == 404
            return
        assert resp.status_code == 200 and resp.json()["enabled"] is enabled
        self.model[name]["enabled"] = enabled

    @rule(proxy=PROXIES, name=TOXIC_NAMES, stream=STREAMS, body=TOXIC_BODIES, toxicity=st.sampled_from([0, 0.5, 1]))
    def add_toxic(self, proxy: str, name: str | None, stream: str, body: tuple[str, dict[str, Any], bool],
                  toxicity: float) -> None:
        type_, attrs, valid = body
        payload: dict[str, Any] = {"type": type_, "stream": stream, "attributes": attrs, "toxicity": toxicity}
        if name:
            payload["name"] = name
        resp = self.call("POST", f"/proxies/{proxy}/toxics", payload)
        toxic_name = name or f"{type_}_{stream}"
        if proxy not in self.model:
            assert resp.status_code == 404
        elif type_ not in DEFAULTS:
            assert (resp.status_code, resp.json()["error"]) == (400, "invalid toxic type")
        elif any(t["name"] == toxic_name for t in self.model[proxy]["toxics"]):
            assert resp.status_code == 409
        elif not valid:
            assert resp.status_code == 400
        else:
            assert resp.status_code == 200, resp.text
            self.model[proxy]["toxics"].append({"attributes": {**DEFAULTS[type_], **attrs}, "name": toxic_name,
                                                "type": type_, "stream": stream, "toxicity": toxicity})

    def pick_toxic(self, proxy: str, which: int) -> str:
        """An existing toxic of the proxy (or "missing"): a fixed function of the state and one draw."""
        names = [t["name"] for t in self.model.get(proxy, {}).get("toxics", [])]
        return [*names, "missing"][which % (len(names) + 1)]

    @rule(proxy=PROXIES, which=st.integers(0, 7), toxicity=st.sampled_from([0, 0.25, 1]), bad=st.booleans())
    def update_toxic(self, proxy: str, which: int, toxicity: float, bad: bool) -> None:
        name = self.pick_toxic(proxy, which)
        toxics = self.model.get(proxy, {}).get("toxics", [])
        found = [t for t in toxics if t["name"] == name]
        body: dict[str, Any] = {"toxicity": toxicity}
        if bad:
            body["attributes"] = {key: "x" for key in (found[0]["attributes"] if found else {"latency": 0})}
        resp = self.call("PATCH", f"/proxies/{proxy}/toxics/{name}", body)
        if not found:
            assert resp.status_code == 404
        elif bad and found[0]["attributes"]:
            assert resp.status_code == 400
        else:
            assert resp.status_code == 200, resp.text
            found[0]["toxicity"] = toxicity

    @rule(proxy=PROXIES, which=st.integers(0, 7))
    def remove_toxic(self, proxy: str, which: int) -> None:
        name = self.pick_toxic(proxy, which)
        toxics = self.model.get(proxy, {}).get("toxics", [])
        resp = self.call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        if any(t["name"] == name for t in toxics):
            assert resp.status_code == 204
            toxics[:] = [t for t in toxics if t["name"] != name]
        else:
            assert resp.status_code == 404

    @rule()
    def reset(self) -> None:
        assert self.call("POST", "/reset").status_code == 204
        for proxy in self.model.values():
            proxy["enabled"], proxy["toxics"] = True, []

    @invariant()
    def server_matches_model(self) -> None:
        actual = self.call("GET", "/proxies").json()
        assert sorted(actual) == sorted(self.model)
        for name, proxy in self.model.items():
            expected = ([t for t in proxy["toxics"] if t["stream"] == "upstream"]
                        + [t for t in proxy["toxics"] if t["stream"] == "downstream"])
            assert actual[name]["enabled"] is proxy["enabled"]
            assert actual[name]["toxics"] == expected

    def teardown(self) -> None:
        self.http.close()


@pytest.mark.timeout(120)
def test_api_behaves_like_the_model() -> None:
    with TcpUpstream("echo") as echo, EmbeddedToxiproxy() as tp:
        ApiModel.url, ApiModel.upstream = tp.url, echo.address
        # no shrink phase: each step is an HTTP call, and shrinking a failure would outlast the timeout
        phases = [Phase.explicit, Phase.reuse, Phase.generate]
        run_state_machine_as_test(ApiModel, settings=settings(max_examples=30, stateful_step_count=20, phases=phases))
