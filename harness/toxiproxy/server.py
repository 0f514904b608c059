"""The Toxiproxy 2.12 proxy collection and its control API handlers (served by `http_api`).

Every handler runs on the server's event loop under one lock and only touches in-memory state (plus
binding listeners), so the control API never waits for data to move through a proxy. Listen addresses are
loopback-only unless `allow_remote` (see `exposure`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from aiohttp import web

from harness.toxiproxy import http_api
from harness.toxiproxy.api_models import (
    ERR_PROXY_EXISTS,
    ERR_PROXY_NOT_FOUND,
    TOXIPROXY_VERSION,
    ApiError,
    ProxyInput,
    api_error,
    decode_body,
    missing_field,
    parse_populate,
    parse_proxy,
    parse_toxic_create,
)
from harness.toxiproxy.arrivals import DEFAULT_CAPACITY, ArrivalLog
from harness.toxiproxy.exposure import check_api_host, check_listen
from harness.toxiproxy.http_api import empty_response, json_response
from harness.toxiproxy.link import Link
from harness.toxiproxy.metrics import ProxyMetrics
from harness.toxiproxy.proxy import Proxy, canonical_listen, split_host_port

DEFAULT_LISTEN = "127.0.0.1:0"


class PopulateError(ApiError):
    """A /populate entry failed; `made` holds the proxies created before it."""

    def __init__(self, cause: ApiError, made: list[Proxy]) -> None:
        super().__init__(cause.message, cause.status)
        self.made = made


class ToxiproxyServer:
    """The proxy collection plus its HTTP API. Use on one event loop (see `EmbeddedToxiproxy`)."""

    def __init__(self, seed: int | None = None, proxy_metrics: bool = False, allow_remote: bool = False,
                 arrival_capacity: int = DEFAULT_CAPACITY, read_timeout_s: float = http_api.READ_TIMEOUT_S,
                 wall: Callable[[], float] = time.time) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = random.Random(seed)
        self.metrics = ProxyMetrics()
        self.proxy_metrics = proxy_metrics
        self.allow_remote = allow_remote
        self.arrival_capacity = arrival_capacity
        self.read_timeout_s = read_timeout_s
        self.wall = wall
        self.lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> int:
        """Serve the API; returns the bound port. RemoteListenError for a non-loopback host."""
        check_api_host(host, self.allow_remote)
        routes = dict(ROUTES)
        if self.proxy_metrics:
            routes[("*", "/metrics")] = (_metrics, False)  # r.Handle: any method
        self._runner, bound = await http_api.serve(http_api.build_app(self, routes), host, port, self.read_timeout_s)
        return bound

    async def close(self) -> None:
        """Stop every proxy (listeners and connections) and the API."""
        for proxy in self.proxies.values():
            proxy.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def get_proxy(self, name: str) -> Proxy:
        """The named proxy, or ApiError 404 `proxy not found`."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise api_error(ERR_PROXY_NOT_FOUND)
        return proxy

    def _on_link_done(self, proxy: Proxy, link: Link) -> None:
        self.metrics.record(link.direction, proxy.listen, proxy.name, proxy.upstream, link.received, link.sent)

    def _new_proxy(self, spec: ProxyInput, arrivals: ArrivalLog | None = None) -> Proxy:
        """A stopped proxy; a replacement keeps the arrival log of the proxy it replaces."""
        listen = spec.listen or DEFAULT_LISTEN
        self._check_listen(listen)
        return Proxy(spec.name, listen, spec.upstream, self.rng, self._on_link_done,
                     arrivals or ArrivalLog(self.arrival_capacity, self.wall))

    def _check_listen(self, listen: str) -> None:
        try:
            host, _port = split_host_port(listen)
        except ValueError:
            return  # not an address at all: binding fails with Go's error text
        check_listen(listen, host, self.allow_remote)

    async def create_proxy(self, spec: ProxyInput) -> Proxy:
        """Create (and start when enabled) a proxy; nothing is stored if binding fails."""
        if not spec.name:
            raise missing_field("name")
        if not spec.upstream:
            raise missing_field("upstream")
        if spec.name in self.proxies:
            raise api_error(ERR_PROXY_EXISTS)
        proxy = self._new_proxy(spec)
        if spec.enabled:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def update_proxy(self, proxy: Proxy, spec: ProxyInput) -> None:
        """Restart on a listen/upstream change; start or stop on `enabled` (Go's Proxy.Update)."""
        self._check_listen(spec.listen)
        if canonical_listen(spec.listen) != proxy.listen or spec.upstream != proxy.upstream:
            proxy.stop()
            proxy.listen, proxy.upstream = spec.listen, spec.upstream
        if spec.enabled and not proxy.enabled:
            await proxy.start()
        elif not spec.enabled and proxy.enabled:
            proxy.stop()

    async def populate(self, entries: list[ProxyInput]) -> list[Proxy]:
        """Create or replace each entry in order; an unchanged proxy keeps its toxics and state."""
        for spec in entries:  # a refused listen changes nothing, like the other validation errors
            self._check_listen(spec.listen or DEFAULT_LISTEN)
        made: list[Proxy] = []
        for spec in entries:
            existing = self.proxies.get(spec.name)
            listen = spec.listen or DEFAULT_LISTEN
            if existing is not None:
                if canonical_listen(listen) == existing.listen and spec.upstream == existing.upstream:
                    made.append(existing)
                    continue
                existing.stop()
            proxy = self._new_proxy(spec, existing.arrivals if existing is not None else None)
            try:
                if spec.enabled:
                    await proxy.start()
            except ApiError as exc:
                if existing is not None:
                    await _try_start(existing)
                raise PopulateError(exc, made) from None
            self.proxies[proxy.name] = proxy
            made.append(proxy)
        return made

    async def reset(self) -> None:
        """Remove every toxic and enable every proxy (500 if one cannot listen again)."""
        for proxy in self.proxies.values():
            proxy.remove_all_toxics()
        failure: ApiError | None = None
        for proxy in self.proxies.values():
            try:
                await proxy.start()
            except ApiError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def delete_proxy(self, name: str) -> None:
        """Stop and forget a proxy (its arrival log goes with it)."""
        self.get_proxy(name).stop()
        del self.proxies[name]


# --- handlers: (server, request, raw body or None) -> response, run under the server's lock --------------
# Each looks up what the path names before it decodes the body, in Toxiproxy's order.

async def _proxy_index(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    return json_response(200, {name: server.proxies[name].to_json() for name in sorted(server.proxies)})


async def _proxy_create(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    spec = parse_proxy(decode_body(body), ProxyInput("", "", "", True))
    return json_response(201, (await server.create_proxy(spec)).to_json())


async def _populate(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    try:
        made = await server.populate(parse_populate(decode_body(body)))
    except ApiError as exc:
        made = exc.made if isinstance(exc, PopulateError) else []
        reply = {"error": exc.message, "status": exc.status, "proxies": [p.to_json() for p in made] or None}
        return json_response(exc.status, reply)
    return json_response(201, {"proxies": [p.to_json() for p in made] or None})


async def _reset(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    await server.reset()
    return empty_response(204)


async def _version(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    return web.Response(status=200, body=f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(),
                        headers={"Content-Type": "application/json;charset=utf-8"})


async def _metrics(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    return web.Response(status=200, body=server.metrics.render().encode(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def _proxy_show(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    return json_response(200, server.get_proxy(request.match_info["proxy"]).to_json())


async def _proxy_update(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    proxy = server.get_proxy(request.match_info["proxy"])
    spec = parse_proxy(decode_body(body), ProxyInput(proxy.name, proxy.listen, proxy.upstream, proxy.enabled))
    await server.update_proxy(proxy, spec)
    return json_response(200, proxy.to_json())


async def _proxy_delete(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    server.delete_proxy(request.match_info["proxy"])
    return empty_response(204)


async def _toxic_index(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    return json_response(200, server.get_proxy(request.match_info["proxy"]).toxics_json())


async def _toxic_create(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    proxy = server.get_proxy(request.match_info["proxy"])
    return json_response(200, proxy.add_toxic(parse_toxic_create(decode_body(body))).to_json())


async def _toxic_show(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    proxy = server.get_proxy(request.match_info["proxy"])
    return json_response(200, proxy.get_toxic(request.match_info["toxic"]).to_json())


async def _toxic_update(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    proxy = server.get_proxy(request.match_info["proxy"])
    wrapper = proxy.get_toxic(request.match_info["toxic"])
    return json_response(200, proxy.update_toxic(wrapper, decode_body(body)).to_json())


async def _toxic_delete(server: ToxiproxyServer, request: web.Request, body: bytes) -> web.Response:
    server.get_proxy(request.match_info["proxy"]).remove_toxic(request.match_info["toxic"])
    return empty_response(204)


PROXY = "/proxies/{proxy}"
TOXIC = "/proxies/{proxy}/toxics/{toxic}"
# (method, path) -> (handler, reads a body); Toxiproxy v2.12.0 api.go `Routes`, plus the arrivals extension
ROUTES: dict[tuple[str, str], tuple[http_api.Handler, bool]] = {
    ("POST", "/reset"): (_reset, False),
    ("GET", "/proxies"): (_proxy_index, False),
    ("POST", "/proxies"): (_proxy_create, True),
    ("POST", "/populate"): (_populate, True),
    ("GET", PROXY): (_proxy_show, False),
    ("POST", PROXY): (_proxy_update, True),
    ("PATCH", PROXY): (_proxy_update, True),
    ("DELETE", PROXY): (_proxy_delete, False),
    ("GET", PROXY + "/toxics"): (_toxic_index, False),
    ("POST", PROXY + "/toxics"): (_toxic_create, True),
    ("GET", TOXIC): (_toxic_show, False),
    ("POST", TOXIC): (_toxic_update, True),
    ("PATCH", TOXIC): (_toxic_update, True),
    ("DELETE", TOXIC): (_toxic_delete, False),
    ("GET", "/version"): (_version, False),
    ("GET", PROXY + "/arrivals"): (http_api.arrivals, False),
}


async def _try_start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except ApiError:
        pass
