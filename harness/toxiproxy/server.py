"""The Toxiproxy 2.12 control API: routes, handlers and the proxy collection.

Every handler runs on the server's event loop and only touches in-memory state (plus binding
listeners), so the control API never waits for data to move through a proxy.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from harness.toxiproxy.api_models import (
    ERR_PROXY_EXISTS,
    ERR_PROXY_NOT_FOUND,
    TOXIPROXY_VERSION,
    ApiError,
    ProxyInput,
    api_error,
    decode_body,
    encode,
    missing_field,
    parse_populate,
    parse_proxy,
    parse_toxic_create,
)
from harness.toxiproxy.http import HttpServer, Request, Response
from harness.toxiproxy.link import Link
from harness.toxiproxy.metrics import ProxyMetrics
from harness.toxiproxy.proxy import Proxy, canonical_listen

DEFAULT_LISTEN = "127.0.0.1:0"
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}

RouteHandler = Callable[..., Awaitable[Response]]


class PopulateError(ApiError):
    """A /populate entry failed; `made` holds the proxies created before it."""

    def __init__(self, cause: ApiError, made: list[Proxy]) -> None:
        super().__init__(cause.message, cause.status)
        self.made = made


def _json(status: int, value: Any) -> Response:
    return Response(status, encode(value), dict(JSON))


def _error(exc: ApiError) -> Response:
    return Response(exc.status, exc.body(), dict(TEXT))


class ToxiproxyServer:
    """The proxy collection plus its HTTP API. Use on one event loop (see `EmbeddedToxiproxy`)."""

    def __init__(self, seed: int | None = None, proxy_metrics: bool = False) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = random.Random(seed)
        self.metrics = ProxyMetrics()
        self.proxy_metrics = proxy_metrics
        self._lock = asyncio.Lock()
        self._http = HttpServer(self.handle)
        self._routes: list[tuple[re.Pattern[str], dict[str, RouteHandler]]] = [
            (re.compile(r"/proxies"), {"GET": self._proxy_index, "POST": self._proxy_create}),
            (re.compile(r"/populate"), {"POST": self._populate}),
            (re.compile(r"/reset"), {"POST": self._reset}),
            (re.compile(r"/version"), {"GET": self._version}),
            (re.compile(r"/proxies/([^/]+)"), {"GET": self._proxy_show, "POST": self._proxy_update,
                                               "PATCH": self._proxy_update, "DELETE": self._proxy_delete}),
            (re.compile(r"/proxies/([^/]+)/toxics"), {"GET": self._toxic_index, "POST": self._toxic_create}),
            (re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), {
                "GET": self._toxic_show, "POST": self._toxic_update, "PATCH": self._toxic_update,
                "DELETE": self._toxic_delete}),
        ]
        if proxy_metrics:
            self._routes.append((re.compile(r"/metrics"), {"GET": self._metrics}))

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> int:
        """Serve the API; returns the bound port."""
        return await self._http.start(host, port)

    async def close(self) -> None:
        """Stop every proxy (listeners and connections) and the API."""
        for proxy in self.proxies.values():
            proxy.stop()
        await self._http.close()

    async def handle(self, request: Request) -> Response:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return Response(405)
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                response = Response(403, b"User agent not allowed\n", dict(TEXT))
            else:
                async with self._lock:
                    try:
                        response = await handler(request, *(unquote(g) for g in match.groups()))
                    except ApiError as exc:
                        response = _error(exc)
                    except Exception as exc:  # a bug must not kill the API connection
                        response = _error(ApiError(f"{type(exc).__name__}: {exc}", 500))
            response.headers["X-Toxiproxy-Request-Id"] = uuid.uuid4().hex[:20]
            return response
        return Response(404, b"404 page not found\n", dict(TEXT))

    def _get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise api_error(ERR_PROXY_NOT_FOUND)
        return proxy

    def _on_link_done(self, proxy: Proxy, link: Link) -> None:
        self.metrics.record(link.direction, proxy.listen, proxy.name, proxy.upstream, link.received, link.sent)

    def _new_proxy(self, spec: ProxyInput) -> Proxy:
        return Proxy(spec.name, spec.listen or DEFAULT_LISTEN, spec.upstream, self.rng, self._on_link_done)

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
        if canonical_listen(spec.listen) != proxy.listen or spec.upstream != proxy.upstream:
            proxy.stop()
            proxy.listen, proxy.upstream = spec.listen, spec.upstream
        if spec.enabled and not proxy.enabled:
            await proxy.start()
        elif not spec.enabled and proxy.enabled:
            proxy.stop()

    async def populate(self, entries: list[ProxyInput]) -> list[Proxy]:
        """Create or replace each entry in order; an unchanged proxy keeps its toxics and state."""
        made: list[Proxy] = []
        for spec in entries:
            existing = self.proxies.get(spec.name)
            listen = spec.listen or DEFAULT_LISTEN
            if existing is not None:
                if canonical_listen(listen) == existing.listen and spec.upstream == existing.upstream:
                    made.append(existing)
                    continue
                existing.stop()
            proxy = self._new_proxy(spec)
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

    # --- handlers -------------------------------------------------------------------------------

    async def _proxy_index(self, request: Request) -> Response:
        return _json(200, {name: self.proxies[name].to_json() for name in sorted(self.proxies)})

    async def _proxy_create(self, request: Request) -> Response:
        spec = parse_proxy(decode_body(request.body), ProxyInput("", "", "", True))
        return _json(201, (await self.create_proxy(spec)).to_json())

    async def _populate(self, request: Request) -> Response:
        try:
            made = await self.populate(parse_populate(decode_body(request.body)))
        except ApiError as exc:
            made = exc.made if isinstance(exc, PopulateError) else []
            body = {"error": exc.message, "status": exc.status, "proxies": [p.to_json() for p in made] or None}
            return _json(exc.status, body)
        return _json(201, {"proxies": [p.to_json() for p in made] or None})

    async def _reset(self, request: Request) -> Response:
        await self.reset()
        return Response(204)

    async def _version(self, request: Request) -> Response:
        body = f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode()
        return Response(200, body, {"Content-Type": "application/json;charset=utf-8"})

    async def _metrics(self, request: Request) -> Response:
        return Response(200, self.metrics.render().encode(),
                        {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def _proxy_show(self, request: Request, name: str) -> Response:
        return _json(200, self._get(name).to_json())

    async def _proxy_update(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        spec = parse_proxy(decode_body(request.body),
                           ProxyInput(proxy.name, proxy.listen, proxy.upstream, proxy.enabled))
        await self.update_proxy(proxy, spec)
        return _json(200, proxy.to_json())

    async def _proxy_delete(self, request: Request, name: str) -> Response:
        self._get(name).stop()
        del self.proxies[name]
        return Response(204)

    async def _toxic_index(self, request: Request, name: str) -> Response:
        return _json(200, self._get(name).toxics_json())

    async def _toxic_create(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        spec = parse_toxic_create(decode_body(request.body))
        return _json(200, proxy.add_toxic(spec).to_json())

    async def _toxic_show(self, request: Request, name: str, toxic: str) -> Response:
        return _json(200, self._get(name).get_toxic(toxic).to_json())

    async def _toxic_update(self, request: Request, name: str, toxic: str) -> Response:
        proxy = self._get(name)
        wrapper = proxy.get_toxic(toxic)
        return _json(200, proxy.update_toxic(wrapper, decode_body(request.body)).to_json())

    async def _toxic_delete(self, request: Request, name: str, toxic: str) -> Response:
        self._get(name).remove_toxic(toxic)
        return Response(204)


async def _try_start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except ApiError:
        pass
