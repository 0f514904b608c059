"""Where the embedded server may listen: loopback only, unless it was started with `--allow-remote`.

Toxiproxy's API has no authentication and creates proxies to any upstream, so a server reachable from
other hosts is an open relay. This server therefore binds its API and every proxy's `listen` to a
loopback address (127.0.0.0/8, ::1, or the name `localhost`) unless `allow_remote` is set. Upstreams are
not restricted: with loopback-only listeners only local processes can use a proxy, and they could dial the
upstream themselves (a real Horizon through a proxy stays possible). See docs/faults.md.
"""

from __future__ import annotations

import ipaddress

from harness.errors import HarnessConfigurationError
from harness.toxiproxy.api_models import ApiError

LOOPBACK_RULE = ("this server only listens on loopback addresses (127.0.0.0/8, ::1, localhost) "
                 "unless it is started with --allow-remote")
REFUSED_STATUS = 403  # an extension: Toxiproxy itself binds anything


class RemoteListenError(HarnessConfigurationError):
    """The API address is not a loopback address and remote listening was not allowed."""


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (brackets allowed); False for names, `""`, `0.0.0.0`."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_api_host(host: str, allow_remote: bool) -> None:
    """Raise RemoteListenError unless the API may bind `host`."""
    if not allow_remote and not is_loopback_host(host):
        raise RemoteListenError(f"API address {host!r} is not a loopback address: {LOOPBACK_RULE}")


def check_listen(listen: str, host: str, allow_remote: bool) -> None:
    """ApiError 403 unless a proxy may bind `host` (the host part of `listen`)."""
    if not allow_remote and not is_loopback_host(host):
        raise ApiError(f"listen address {listen} is not a loopback address: {LOOPBACK_RULE}", REFUSED_STATUS)
