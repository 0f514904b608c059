"""Fault control over the Toxiproxy HTTP API (toxiproxy-python), with every change time-stamped.

`FaultController` talks to `TOXIPROXY_URL` (a real Toxiproxy) or, when none is given, to an embedded
server it starts on a free port. Every applied or removed fault becomes a `harness.outputs.Event`
(source "toxiproxy", kinds fault.applied / fault.removed) on the run's time axis. Every API call is
bounded by `timeout_s` (see `harness.faults.api`); a server that does not answer in time raises
FaultControlError naming the URL and the timeout.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from toxiproxy.proxy import Proxy
from toxiproxy.toxic import Toxic

from harness.faults.api import DEFAULT_TIMEOUT_S, FaultControlError, ToxiproxyApi
from harness.faults.arrivals import ArrivalPage, ArrivalsUnavailable, parse_page, read_all
from harness.outputs import Event
from harness.toxiproxy.embedded import EmbeddedToxiproxy
from reference_impl.clock import SYSTEM_CLOCK, Clock

DOWN = "down"
EVENT_SOURCE = "toxiproxy"
ROUTE_NOT_FOUND = "404 page not found\n"  # gorilla/mux's answer for a path Toxiproxy has no route for
ARRIVALS_PAGE = 5000
T = TypeVar("T")


def _serialised(method: Callable[..., T]) -> Callable[..., T]:
    """Run a controller method under the controller's lock (the schedule and the cleanup may share it)."""

    @functools.wraps(method)
    def locked(self: FaultController, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


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


class FaultController:
    """Create the run's proxies, apply/remove faults, reset, list what is active; records events."""

    def __init__(self, url: str | None = None, *, clock: Clock = SYSTEM_CLOCK, run_start: float | None = None,
                 on_event: Callable[[Event], None] | None = None, seed: int | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.clock = clock
        self.run_start = clock.now() if run_start is None else run_start
        self.on_event = on_event
        self.events: list[Event] = []
        self._lock = threading.RLock()
        self._applied: dict[tuple[str, str], FaultSpec] = {}
        self._down_names: dict[str, set[str]] = {}
        self._embedded: EmbeddedToxiproxy | None = None
        url = url or os.environ.get("TOXIPROXY_URL") or None
        if url is None:
            self._embedded = EmbeddedToxiproxy(seed=seed).start()
            url = self._embedded.url
        self._api = ToxiproxyApi(url, timeout_s)
        self.url = self._api.url

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        event = Event(t=round(self.clock.now() - self.run_start, 6), source=EVENT_SOURCE, kind=kind, data=data)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _proxies(self) -> dict[str, Proxy]:
        """GET /proxies as toxiproxy-python Proxy objects."""
        return {name: Proxy(**values) for name, values in self._api.get("/proxies").items()}

    @_serialised
    def ensure_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> str:
        """Create the proxy (or keep an existing one with the same upstream); returns its listen address."""
        try:
            existing = self._proxies().get(name)
            if existing is not None and existing.upstream != upstream:
                self._api.delete(_path(name))
                existing = None
            if existing is None:
                body = {"upstream": upstream, "name": name, "listen": listen, "enabled": True}
                existing = Proxy(**self._api.post("/proxies", body).json())
            return str(existing.listen)
        except (FaultControlError, KeyError, TypeError, ValueError) as exc:
            raise FaultControlError(f"cannot create proxy {name!r}: {_describe(exc)}") from None

    @_serialised
    def apply(self, spec: FaultSpec) -> str:
        """Apply a fault now; returns its name. Event fault.applied."""
        key = (spec.proxy, spec.fault_name)
        if key in self._applied:
            raise FaultControlError(f"fault {spec.fault_name!r} is already active on {spec.proxy!r}")
        try:
            if spec.toxic == DOWN:
                names = self._down_names.setdefault(spec.proxy, set())
                if not names:
                    self._api.post(_path(spec.proxy), {"enabled": False})
                names.add(spec.fault_name)
            else:
                self._api.post(_path(spec.proxy, "toxics"), {
                    "name": spec.fault_name, "type": spec.toxic, "stream": spec.stream,
                    "toxicity": spec.toxicity, "attributes": dict(spec.attributes)})
        except FaultControlError as exc:
            raise FaultControlError(f"cannot apply {spec.fault_name!r} to {spec.proxy!r}: {self._why(exc, spec)}",
                                    exc.status, exc.body) from None
        self._applied[key] = spec
        self._record("fault.applied", spec.event_data())
        return spec.fault_name

    @_serialised
    def remove(self, fault: FaultSpec | str, proxy: str | None = None) -> None:
        """Remove a fault applied earlier, by spec or by name (`proxy` disambiguates). Event fault.removed."""
        spec = self._find(fault, proxy)
        try:
            if spec.toxic == DOWN:
                names = self._down_names.get(spec.proxy, set())
                names.discard(spec.fault_name)
                if not names:
                    self._api.post(_path(spec.proxy), {"enabled": True})
            else:
                self._api.delete(_path(spec.proxy, "toxics", spec.fault_name))
        except FaultControlError as exc:
            raise FaultControlError(f"cannot remove {spec.fault_name!r}: {self._why(exc, spec)}",
                                    exc.status, exc.body) from None
        del self._applied[(spec.proxy, spec.fault_name)]
        self._record("fault.removed", spec.event_data())

    def _why(self, exc: FaultControlError, spec: FaultSpec) -> str:
        if exc.status == 404 and "proxy not found" in exc.body:
            return f"no proxy named {spec.proxy!r} on {self.url}"
        return str(exc)

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

    @_serialised
    def reset(self) -> None:
        """Remove every toxic and enable every proxy; a fault.removed event per fault we had applied."""
        try:
            self._api.post("/reset")
        except FaultControlError as exc:
            raise FaultControlError(f"reset failed: {exc}", exc.status, exc.body) from None
        for spec in list(self._applied.values()):
            self._record("fault.removed", {**spec.event_data(), "reset": True})
        self._applied.clear()
        self._down_names.clear()

    @_serialised
    def active(self) -> list[ActiveFault]:
        """Faults the server reports now: every toxic, and every disabled proxy as "down"."""
        try:
            proxies = self._proxies()
            out: list[ActiveFault] = []
            for name in sorted(proxies):
                if not proxies[name].enabled:
                    downs = sorted(self._down_names.get(name, set())) or [f"{DOWN}_{name}"]
                    out.extend(ActiveFault(name, n, DOWN, "", {}, 1.0) for n in downs)
                for raw in self._api.get(_path(name, "toxics")):
                    toxic = Toxic(**raw)
                    out.append(ActiveFault(name, toxic.name, toxic.type, toxic.stream, dict(toxic.attributes),
                                           float(toxic.toxicity)))
            return out
        except (FaultControlError, KeyError, TypeError, ValueError) as exc:
            raise FaultControlError(f"cannot list faults: {_describe(exc)}") from None

    def arrivals(self, proxy: str, since: int = 0) -> ArrivalPage | ArrivalsUnavailable:
        """The proxy's arrival log from record `since` on (every page), or ArrivalsUnavailable when the
        server has no arrivals extension (a real Toxiproxy). See harness.faults.arrivals."""
        try:
            return read_all(lambda start: self.arrivals_page(proxy, start), since)
        except ValueError as exc:
            raise FaultControlError(str(exc)) from None

    def arrivals_page(self, proxy: str, since: int, limit: int = ARRIVALS_PAGE) -> ArrivalPage | ArrivalsUnavailable:
        """One page of the proxy's arrival log (at most `limit` records from `since`), or ArrivalsUnavailable
        when the server has no arrivals extension. A reader that keeps `next` can drain a log while it fills."""
        try:
            body = self._api.get(f"{_path(proxy, 'arrivals')}?since={since}&limit={limit}")
        except FaultControlError as exc:
            if exc.status == 404 and exc.body == ROUTE_NOT_FOUND:
                return ArrivalsUnavailable(proxy, self.url, f"{self.url} has no arrivals extension "
                                           "(a real Toxiproxy keeps no per-proxy arrival log)")
            raise FaultControlError(f"cannot read arrivals of {proxy!r}: {exc}", exc.status, exc.body) from None
        try:
            return parse_page(proxy, body)
        except ValueError as exc:
            raise FaultControlError(f"cannot read arrivals of {proxy!r} on {self.url}: {exc}") from None

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


def _path(proxy: str, *parts: str) -> str:
    return "/proxies/" + "/".join(quote(p, safe="") for p in (proxy, *parts))


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, FaultControlError) else f"{type(exc).__name__}: {exc}"


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
