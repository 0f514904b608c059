"""Fault control over the Toxiproxy HTTP API (toxiproxy-python), with every change time-stamped.

`FaultController` talks to `TOXIPROXY_URL` (a real Toxiproxy) or, when none is given, to an embedded
server it starts on a free port. Every applied or removed fault becomes a `harness.outputs.Event`
(source "toxiproxy", kinds fault.applied / fault.removed) on the run's time axis.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import HarnessConfigurationError, HarnessError
from harness.outputs import Event
from harness.toxiproxy.embedded import EmbeddedToxiproxy
from reference_impl.clock import SYSTEM_CLOCK, Clock

DOWN = "down"
EVENT_SOURCE = "toxiproxy"
_API_ERRORS = (ProxyExists, NotFound, InvalidToxic, KeyError, ValueError, requests.RequestException)
# toxiproxy-python's address is global (class attributes): every controller's calls go through this lock
_API_LOCK = threading.RLock()


class FaultControlError(HarnessError):
    """The Toxiproxy API refused or failed a fault operation."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault: a toxic on a proxy's stream, or `toxic="down"` to disable the proxy."""

    proxy: str
    toxic: str
    stream: str = "downstream"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    toxicity: float = 1.0
    name: str | None = None

    @property
    def fault_name(self) -> str:
        if self.name:
            return self.name
        return f"{DOWN}_{self.proxy}" if self.toxic == DOWN else f"{self.toxic}_{self.stream}"

    def event_data(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "toxic": self.toxic, "stream": self.stream,
                "attributes": dict(self.attributes), "toxicity": self.toxicity, "name": self.fault_name}


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault the server reports as active now (a disabled proxy is toxic "down")."""

    proxy: str
    name: str
    toxic: str
    stream: str
    attributes: Mapping[str, Any]
    toxicity: float


def parse_api_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise HarnessConfigurationError(f"TOXIPROXY_URL must look like http://host:port, got {url!r}")
    return parts.hostname, parts.port or 8474


class FaultController:
    """Create the run's proxies, apply/remove faults, reset, list what is active; records events."""

    def __init__(self, url: str | None = None, *, clock: Clock = SYSTEM_CLOCK, run_start: float | None = None,
                 on_event: Callable[[Event], None] | None = None, seed: int | None = None) -> None:
        self.clock = clock
        self.run_start = clock.now() if run_start is None else run_start
        self.on_event = on_event
        self.events: list[Event] = []
        self._lock = _API_LOCK
        self._applied: dict[tuple[str, str], FaultSpec] = {}
        self._down_names: dict[str, set[str]] = {}
        self._embedded: EmbeddedToxiproxy | None = None
        url = url or os.environ.get("TOXIPROXY_URL") or None
        if url is None:
            self._embedded = EmbeddedToxiproxy(seed=seed).start()
            url = self._embedded.url
        self.url = url.rstrip("/")
        self._host, self._port = parse_api_url(self.url)
        self._client = Toxiproxy()

    def _api(self) -> Toxiproxy:
        """toxiproxy-python keeps its address in class attributes: point them at our server."""
        APIConsumer.host, APIConsumer.port = self._host, self._port
        return self._client

    def _proxy(self, name: str) -> Any:
        proxy = self._api().get_proxy(name)
        if proxy is None:
            raise FaultControlError(f"no proxy named {name!r} on {self.url}")
        return proxy

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        event = Event(t=round(self.clock.now() - self.run_start, 6), source=EVENT_SOURCE, kind=kind, data=data)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def ensure_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> str:
        """Create the proxy (or keep an existing one with the same upstream); returns its listen address."""
        with self._lock:
            try:
                existing = self._api().get_proxy(name)
                if existing is not None and existing.upstream != upstream:
                    existing.destroy()
                    existing = None
                if existing is None:
                    existing = self._api().create(upstream=upstream, name=name, listen=listen, enabled=True)
                return str(existing.listen)
            except _API_ERRORS as exc:
                raise FaultControlError(f"cannot create proxy {name!r}: {_describe(exc)}") from None

    def apply(self, spec: FaultSpec) -> str:
        """Apply a fault now; returns its name. Event fault.applied."""
        with self._lock:
            key = (spec.proxy, spec.fault_name)
            if key in self._applied:
                raise FaultControlError(f"fault {spec.fault_name!r} is already active on {spec.proxy!r}")
            try:
                proxy = self._proxy(spec.proxy)
                if spec.toxic == DOWN:
                    names = self._down_names.setdefault(spec.proxy, set())
                    if not names:
                        proxy.disable()
                    names.add(spec.fault_name)
                else:
                    proxy.add_toxic(type=spec.toxic, stream=spec.stream, name=spec.fault_name,
                                    toxicity=spec.toxicity, attributes=dict(spec.attributes))
            except _API_ERRORS as exc:
                raise FaultControlError(f"cannot apply {spec.fault_name!r} to {spec.proxy!r}: {_describe(exc)}") from None
            self._applied[key] = spec
            self._record("fault.applied", spec.event_data())
            return spec.fault_name

    def remove(self, fault: FaultSpec | str, proxy: str | None = None) -> None:
        """Remove a fault applied earlier, by spec or by name (`proxy` disambiguates). Event fault.removed."""
        with self._lock:
            spec = self._find(fault, proxy)
            try:
                if spec.toxic == DOWN:
                    names = self._down_names.get(spec.proxy, set())
                    names.discard(spec.fault_name)
                    if not names:
                        self._proxy(spec.proxy).enable()
                else:
                    self._proxy(spec.proxy).destroy_toxic(spec.fault_name)
            except _API_ERRORS as exc:
                raise FaultControlError(f"cannot remove {spec.fault_name!r}: {_describe(exc)}") from None
            del self._applied[(spec.proxy, spec.fault_name)]
            self._record("fault.removed", spec.event_data())

    def _find(self, fault: FaultSpec | str, proxy: str | None) -> FaultSpec:
        if isinstance(fault, FaultSpec):
            key = (fault.proxy, fault.fault_name)
            if key not in self._applied:
                raise FaultControlError(f"fault {fault.fault_name!r} is not active on {fault.proxy!r}")
            return self._applied[key]
        found = [s for (p, n), s in self._applied.items() if n == fault and (proxy is None or p == proxy)]
        if len(found) != 1:
            raise FaultControlError(f"{len(found)} active faults named {fault!r}; give the proxy")
        return found[0]

    def down(self, proxy: str) -> str:
        return self.apply(FaultSpec(proxy=proxy, toxic=DOWN))

    def up(self, proxy: str) -> None:
        self.remove(FaultSpec(proxy=proxy, toxic=DOWN))

    def reset(self) -> None:
        """Remove every toxic and enable every proxy; a fault.removed event per fault we had applied."""
        with self._lock:
            try:
                ok = self._api().reset()
            except _API_ERRORS as exc:
                raise FaultControlError(f"reset failed: {_describe(exc)}") from None
            if not ok:
                raise FaultControlError(f"reset failed on {self.url}")
            for spec in list(self._applied.values()):
                self._record("fault.removed", {**spec.event_data(), "reset": True})
            self._applied.clear()
            self._down_names.clear()

    def active(self) -> list[ActiveFault]:
        """Faults the server reports now: every toxic, and every disabled proxy as "down"."""
        with self._lock:
            try:
                proxies = self._api().proxies()
                out: list[ActiveFault] = []
                for name in sorted(proxies):
                    proxy = proxies[name]
                    if not proxy.enabled:
                        downs = sorted(self._down_names.get(name, set())) or [f"{DOWN}_{name}"]
                        out.extend(ActiveFault(name, n, DOWN, "", {}, 1.0) for n in downs)
                    for toxic in proxy.toxics().values():
                        out.append(ActiveFault(name, toxic.name, toxic.type, toxic.stream,
                                               dict(toxic.attributes), float(toxic.toxicity)))
                return out
            except _API_ERRORS as exc:
                raise FaultControlError(f"cannot list faults: {_describe(exc)}") from None

    def close(self) -> None:
        """Stop the embedded server if this controller started it."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    def __enter__(self) -> FaultController:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _describe(exc: BaseException) -> str:
    if exc.args and isinstance(exc.args[0], bytes):
        return exc.args[0].decode("utf-8", "replace").strip()
    return f"{type(exc).__name__}: {exc}"


def fault_windows(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Pair fault.applied / fault.removed events into summary.json "faults" entries (end_s None if open)."""
    open_faults: dict[tuple[str, str], dict[str, Any]] = {}
    windows: list[dict[str, Any]] = []
    for event in events:
        if event.kind not in ("fault.applied", "fault.removed"):
            continue
        key = (str(event.data.get("proxy")), str(event.data.get("name")))
        if event.kind == "fault.applied":
            entry = {"at_s": event.t, "end_s": None, "proxy": key[0], "toxic": event.data.get("toxic"),
                     "stream": event.data.get("stream"), "attributes": event.data.get("attributes", {}),
                     "toxicity": event.data.get("toxicity"), "name": key[1]}
            open_faults[key] = entry
            windows.append(entry)
        elif key in open_faults:
            open_faults.pop(key)["end_s"] = event.t
    return windows
