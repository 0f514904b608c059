"""Soroban RPC with failover: stellar-sdk's `SorobanServerAsync` per URL, a breaker per endpoint,
a per-call timeout. The harness points the URLs at the fault proxies, so proxy faults hit the
facilitator as they hit the service.

One call tries each endpoint whose breaker admits it, in order; transient failures (connection
errors, timeouts, 5xx) fail over, a JSON-RPC error is an answer and returns at once. When every
endpoint failed, `RpcUnavailableError.maybe_sent` says whether any request may have reached a
server (only a refused connection or an open breaker proves it did not): a `sendTransaction` that
may have arrived is resolved by its hash, never by building another transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from stellar_sdk import SorobanServerAsync
from stellar_sdk.client.aiohttp_client import AiohttpClient

from reference_impl.circuit_breaker import CircuitBreaker, CircuitBreakerManager
from reference_impl.errors import CircuitOpenError, ReferenceImplError
from reference_impl.retry_handler import is_transient_error
from reference_impl.service.stellar_client import never_sent

T = TypeVar("T")
ENDPOINT_NAMES = ("rpc-primary", "rpc-secondary")
POOL_SIZE = 200


class RpcUnavailableError(ReferenceImplError):
    """No RPC endpoint answered; `maybe_sent` is False only when none can have received the request."""

    def __init__(self, causes: dict[str, str], maybe_sent: bool) -> None:
        super().__init__("no Soroban RPC endpoint answered: " + ", ".join(f"{k}: {v}" for k, v in causes.items()))
        self.causes = causes
        self.maybe_sent = maybe_sent


class RpcPool:
    """Failover access to one or more Soroban RPC URLs."""

    def __init__(self, urls: Sequence[str], breakers: CircuitBreakerManager, call_timeout: float = 5.0) -> None:
        if not 1 <= len(urls) <= len(ENDPOINT_NAMES):
            raise ReferenceImplError(f"between 1 and {len(ENDPOINT_NAMES)} RPC URLs are supported")
        self.call_timeout = call_timeout
        self.endpoints: list[tuple[str, SorobanServerAsync, CircuitBreaker]] = [
            (name, SorobanServerAsync(url, AiohttpClient(pool_size=POOL_SIZE, request_timeout=call_timeout,
                                                          post_timeout=call_timeout)),
             breakers.get_or_create(name, is_failure=is_transient_error))
            for name, url in zip(ENDPOINT_NAMES, urls, strict=False)
        ]

    async def call(self, fn: Callable[[SorobanServerAsync], Awaitable[T]], resend: bool = True) -> T:
        """`fn(server)` on the first endpoint that answers. With `resend=False` a request that may have
        arrived is not sent to the next endpoint (the caller resolves it)."""
        causes: dict[str, str] = {}
        maybe_sent = False
        for name, server, breaker in self.endpoints:

            def attempt(server: SorobanServerAsync = server) -> Awaitable[T]:
                return asyncio.wait_for(fn(server), self.call_timeout)

            try:
                return await breaker.execute_async(attempt)
            except CircuitOpenError:
                causes[name] = "circuit open"
            except Exception as error:
                if not is_transient_error(error):
                    raise
                causes[name] = type(error).__name__
                if not never_sent(error):
                    maybe_sent = True
                    if not resend:
                        break
        raise RpcUnavailableError(causes, maybe_sent)

    def breaker_states(self) -> dict[str, str]:
        return {name: breaker.state.value for name, _, breaker in self.endpoints}

    async def aclose(self) -> None:
        for _, server, _ in self.endpoints:
            await server.close()
