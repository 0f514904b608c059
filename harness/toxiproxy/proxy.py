"""A proxy: a TCP listener, its toxics, and its live connections (two links each).

Listen resolution follows Toxiproxy: once bound, `listen` becomes the bound address (`127.0.0.1:0` ->
`127.0.0.1:<port>`, `localhost:N` -> `127.0.0.1:N`, `0.0.0.0:N` / `:N` -> `[::]:N`). The upstream is
never validated: it is dialled for each accepted client, and a failed dial closes that client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

from harness.toxiproxy.api_models import (
    ERR_TOXIC_EXISTS,
    ERR_TOXIC_NOT_FOUND,
    ApiError,
    ToxicInput,
    api_error,
    fields_of,
    take_float,
)
from harness.toxiproxy.arrivals import ArrivalLog
from harness.toxiproxy.endpoint import Endpoint
from harness.toxiproxy.link import Link
from harness.toxiproxy.request_tap import RequestTap
from harness.toxiproxy.toxics import TOXICS, ResetPeerToxic, ToxicWrapper


def split_host_port(address: str) -> tuple[str, str]:
    """Go's net.SplitHostPort: `host:port` or `[v6]:port`."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0 or not address[end + 1:].startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        return address[1:end], address[end + 2:]
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    return host, port


def resolve_listen(listen: str) -> tuple[str, int]:
    """(bind host, port) for a listen string; raises ApiError 500 with Go's wording when invalid."""
    try:
        host, port_text = split_host_port(listen)
    except ValueError as exc:
        raise ApiError(f"listen tcp: {exc}", 500) from None
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ApiError(f"listen tcp: address {listen}: invalid port", 500)
    if host in ("", "0.0.0.0", "::"):
        host = "::"
    elif host == "localhost":
        host = "127.0.0.1"
    return host, int(port_text)


def canonical_listen(listen: str) -> str:
    """What Go's ResolveTCPAddr(listen).String() prints, for comparing an update with the bound address."""
    host, port = resolve_listen(listen)
    if host == "::":
        original = split_host_port(listen)[0]
        return f"{'[::]' if original == '::' else original}:{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int, listen: str) -> tuple[socket.socket, str]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        op = "bind" if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) else "listen"
        raise ApiError(f"listen tcp {listen}: {op}: {reason[:1].lower()}{reason[1:]}", 500) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = "[::]" if host == "::" else (f"[{bound_host}]" if ":" in bound_host else bound_host)
    return sock, f"{shown}:{bound_port}"


def _set_socket_options(endpoint: Endpoint, linger_zero: bool) -> None:
    if endpoint.transport is None:
        return
    sock = endpoint.transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if linger_zero:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Connection:
    """A client socket, its upstream socket and the two links between them."""

    def __init__(self, proxy: Proxy, client: Endpoint, upstream: Endpoint, tap: RequestTap) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.links = {
            "upstream": Link("upstream", client, upstream, proxy.chain("upstream"), proxy.rng, self._done),
            "downstream": Link("downstream", upstream, client, proxy.chain("downstream"), proxy.rng, self._done),
        }
        self.links["upstream"].tap = tap.feed
        self.closed = False
        for link in self.links.values():
            link.start()

    def _done(self, link: Link) -> None:
        if all(item.done for item in self.links.values()):
            self.teardown(abort=False)

    def teardown(self, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links.values():
            link.cancel()
            self.proxy.on_link_done(self.proxy, link)
        for endpoint in (self.client, self.upstream):
            if abort:
                endpoint.abort()
            else:
                endpoint.close()
        self.proxy.connections.discard(self)


class Proxy:
    """One named proxy: listen address, upstream, enabled flag, toxics, live connections, arrival log."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random,
                 on_link_done: Callable[[Proxy, Link], None], arrivals: ArrivalLog) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.rng = rng
        self.on_link_done = on_link_done
        self.arrivals = arrivals
        self.toxics: dict[str, ToxicWrapper] = {}
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._dials: set[asyncio.Task[None]] = set()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": self.toxics_json()}

    def toxics_json(self) -> list[dict[str, Any]]:
        return [w.to_json() for stream in ("upstream", "downstream") for w in self.chain(stream)]

    def chain(self, stream: str) -> list[ToxicWrapper]:
        return [w for w in self.toxics.values() if w.stream == stream]

    async def start(self) -> None:
        """Bind and accept; `listen` becomes the bound address. ApiError 500 when binding fails."""
        if self.enabled:
            return
        host, port = resolve_listen(self.listen)
        sock, resolved = _bind(host, port, self.listen)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._accepted_endpoint, sock=sock)
        except OSError as exc:
            sock.close()
            raise ApiError(f"listen tcp {self.listen}: {exc.strerror or exc}", 500) from None
        self.listen = resolved
        self.enabled = True

    def stop(self) -> None:
        """Close the listener (connects refused) and every live connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._dials):
            task.cancel()
        for conn in list(self.connections):
            conn.teardown(abort=True)
        self.enabled = False

    def _accepted_endpoint(self) -> Endpoint:
        endpoint = Endpoint()
        endpoint.on_made = self._on_client
        return endpoint

    def _on_client(self, client: Endpoint) -> None:
        assert client.transport is not None
        client.transport.pause_reading()
        peer = client.transport.get_extra_info("peername")
        conn = self.arrivals.connection(peer[1] if isinstance(peer, tuple) and len(peer) > 1 else None)
        task = asyncio.get_running_loop().create_task(self._dial(client, conn))
        self._dials.add(task)
        task.add_done_callback(self._dials.discard)

    async def _dial(self, client: Endpoint, conn_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.upstream)
            _transport, upstream = await loop.create_connection(Endpoint, host, int(port))
        except (OSError, ValueError):
            client.close()
            return
        except asyncio.CancelledError:  # the proxy stopped while dialling
            client.abort()
            raise
        if not self.enabled or client.lost:
            upstream.close()
            client.close()
            return
        linger = any(isinstance(w.toxic, ResetPeerToxic) for w in self.toxics.values())
        for endpoint in (client, upstream):
            _set_socket_options(endpoint, linger)
        conn = Connection(self, client, upstream, RequestTap(self.arrivals, conn_id, self.arrivals.wall))
        if not conn.closed:
            self.connections.add(conn)
        assert client.transport is not None
        client.transport.resume_reading()

    def add_toxic(self, spec: ToxicInput) -> ToxicWrapper:
        """Create a toxic (checks: type known, name unique across streams, attributes valid)."""
        cls = TOXICS.get(spec.type)
        if cls is None:
            raise ApiError("invalid toxic type", 400)
        if spec.name in self.toxics:
            raise api_error(ERR_TOXIC_EXISTS)
        wrapper = ToxicWrapper(spec.name, spec.stream, spec.toxicity, cls.parse(spec.attributes))
        self.toxics[spec.name] = wrapper
        for conn in self.connections:
            conn.links[spec.stream].append(wrapper)
        return wrapper

    def get_toxic(self, name: str) -> ToxicWrapper:
        wrapper = self.toxics.get(name)
        if wrapper is None:
            raise api_error(ERR_TOXIC_NOT_FOUND)
        return wrapper

    def update_toxic(self, wrapper: ToxicWrapper, body: Any) -> ToxicWrapper:
        """Merge `attributes` field-wise and `toxicity`; all-or-nothing; live stages restart."""
        obj = fields_of(body, "struct")
        toxicity = take_float(obj, "toxicity", wrapper.toxicity, "toxicity")
        toxic = type(wrapper.toxic).parse(obj.get("attributes"), current=wrapper.toxic)
        wrapper.toxic, wrapper.toxicity = toxic, toxicity
        for conn in self.connections:
            conn.links[wrapper.stream].update(wrapper.name)
        return wrapper

    def remove_toxic(self, name: str) -> None:
        wrapper = self.get_toxic(name)
        del self.toxics[name]
        for conn in self.connections:
            conn.links[wrapper.stream].remove(name)

    def remove_all_toxics(self) -> None:
        for name in list(self.toxics):
            self.remove_toxic(name)
