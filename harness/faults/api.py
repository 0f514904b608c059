"""toxiproxy-python's transport with a timeout on every call, and errors that name the server.

toxiproxy-python 0.1.1's `Toxiproxy` and `Proxy` methods call `requests` without a timeout and take no
extra arguments, so a server that accepts and never answers would block them forever. Its `APIConsumer`
forwards keyword arguments to `requests`, so every call here goes through `APIConsumer` with
`timeout=(timeout_s, timeout_s)`: connecting takes at most `timeout_s`, and so does every wait for bytes
of the answer. Its address is global (class attributes), so calls are serialised by one lock.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import HarnessConfigurationError, HarnessError

DEFAULT_TIMEOUT_S = 5.0
_API_LOCK = threading.RLock()


class FaultControlError(HarnessError):
    """The Toxiproxy API refused, failed or did not answer; `status`/`body` when it answered."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def parse_api_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise HarnessConfigurationError(f"TOXIPROXY_URL must look like http://host:port, got {url!r}")
    return parts.hostname, parts.port or 8474


class ToxiproxyApi:
    """GET/POST/DELETE on one Toxiproxy server through toxiproxy-python's APIConsumer, bounded in time."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise HarnessConfigurationError(f"Toxiproxy API timeout must be > 0 s, got {timeout_s!r}")
        self.url = url.rstrip("/")
        self.host, self.port = parse_api_url(self.url)
        self.timeout_s = timeout_s

    def get(self, path: str) -> Any:
        """The decoded JSON answer of GET `path`."""
        return _json(self._call("GET", path, APIConsumer.get))

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self._call("POST", path, APIConsumer.post, json=body)

    def delete(self, path: str) -> requests.Response:
        return self._call("DELETE", path, APIConsumer.delete)

    def _call(self, method: str, path: str, call: Any, **kwargs: Any) -> requests.Response:
        what = f"{method} {self.url}{path}"
        with _API_LOCK:
            APIConsumer.host, APIConsumer.port = self.host, self.port
            try:
                response = call(path, timeout=(self.timeout_s, self.timeout_s), **kwargs)
            except (ProxyExists, NotFound, InvalidToxic) as exc:  # toxiproxy-python's 409 / 404 / 400
                raise _refused(what, exc.args[0] if exc.args else b"", _STATUS[type(exc)]) from None
            except requests.Timeout:
                raise FaultControlError(f"{what}: no answer within the {self.timeout_s:g} s timeout") from None
            except requests.RequestException as exc:
                raise FaultControlError(f"{what}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise _refused(what, response.content, response.status_code)
        return response


_STATUS = {ProxyExists: 409, NotFound: 404, InvalidToxic: 400}


def _refused(what: str, content: bytes, status: int) -> FaultControlError:
    body = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return FaultControlError(f"{what}: {status} {body.strip()}", status=status, body=body)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise FaultControlError(f"{response.request.method} {response.url}: answer is not JSON: "
                                f"{response.text[:200]!r}", status=response.status_code) from None
