"""RateLimiter, RateLimiterManager and the ASGI middleware (in-process and over real TCP with uvicorn)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference_impl.clock import ManualClock
from reference_impl.config_manager import ConfigManager
from reference_impl.errors import ConfigurationError
from reference_impl.rate_limit_middleware import RateLimitMiddleware, default_key
from reference_impl.rate_limiter import PRESETS, RateLimiter, RateLimiterConfig, RateLimiterManager
from reference_impl.request_keys import IssuedKeys, api_key_hash


def limiter(max_requests: int, window: float, algorithm: str, clock: ManualClock, **kw: float) -> RateLimiter:
    return RateLimiter(RateLimiterConfig(max_requests, window, algorithm, **kw), clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"max_requests": 0, "window": 1.0}, {"max_requests": 2.5, "window": 1.0}, {"max_requests": True, "window": 1.0},
    {"max_requests": 1, "window": 0}, {"max_requests": 1, "window": float("inf")},
    {"max_requests": 1, "window": 1.0, "algorithm": "fixed"},
    {"max_requests": 1, "window": 10.0, "idle_ttl": 5.0}, {"max_requests": 1, "window": 1.0, "max_keys": 0},
])
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RateLimiterConfig(**kwargs)  # type: ignore[arg-type]


def test_presets() -> None:
    assert {name: (c.max_requests, c.window) for name, c in PRESETS.items()} == {
        "STRICT": (10, 60.0), "STANDARD": (100, 60.0), "RELAXED": (1000, 60.0),
        "PAYMENT": (50, 60.0), "AUTH": (5, 60.0),
    }


def test_token_bucket_burst_then_continuous_refill() -> None:
    clock = ManualClock()
    rl = limiter(4, 2.0, "token-bucket", clock)  # refill 2 tokens/s
    results = [rl.check_limit("a") for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, True, False]
    assert [r.remaining for r in results[:4]] == [3, 2, 1, 0]
    assert results[4].retry_after == pytest.approx(0.5)
    assert results[3].reset_after == pytest.approx(2.0)
    clock.advance(0.5)
    assert rl.check_limit("a").allowed
    assert not rl.check_limit("a").allowed
    clock.advance(10.0)  # never more than capacity
    assert sum(rl.check_limit("a").allowed for _ in range(10)) == 4


def test_sliding_window_is_exact_at_the_boundary() -> None:
    clock = ManualClock()
    rl = limiter(3, 10.0, "sliding-window", clock)
    for t in (0.0, 1.0, 2.0):
        clock.advance(t - clock.now())
        assert rl.check_limit("k").allowed
    clock.advance(9.999 - clock.now())
    rejected = rl.check_limit("k")
    assert not rejected.allowed and rejected.remaining == 0
    assert rejected.retry_after == pytest.approx(0.001)
    clock.advance(10.0 - clock.now())  # the request at 0.0 has left the window [0.0, 10.0)
    ok = rl.check_limit("k")
    assert ok.allowed and ok.remaining == 0 and ok.reset_after == pytest.approx(10.0)
    assert not rl.check_limit("k").allowed


@pytest.mark.parametrize("algorithm", ["token-bucket", "sliding-window"])
def test_keys_are_independent_and_bad_keys_rejected(algorithm: str) -> None:
    clock = ManualClock()
    rl = limiter(1, 60.0, algorithm, clock)
    assert rl.check_limit("a").allowed and rl.check_limit("b").allowed
    assert not rl.check_limit("a").allowed
    with pytest.raises(ConfigurationError):
        rl.check_limit(42)  # type: ignore[arg-type]
    assert rl.active_keys() == 2
    rl.reset("a")
    assert rl.check_limit("a").allowed and not rl.check_limit("b").allowed


@pytest.mark.parametrize("algorithm", ["token-bucket", "sliding-window"])
def test_idle_keys_are_dropped_and_memory_is_bounded(algorithm: str) -> None:
    clock = ManualClock()
    rl = limiter(5, 1.0, algorithm, clock, idle_ttl=2.0, max_keys=100)
    for i in range(1000):
        rl.check_limit(f"client-{i}")
    assert rl.active_keys() == 100
    clock.advance(2.0)
    assert rl.active_keys() == 0


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 3)), max_size=60),
       st.sampled_from(["token-bucket", "sliding-window"]))
def test_idle_eviction_never_changes_a_decision(steps: list[tuple[str, float]], algorithm: str) -> None:
    clock = ManualClock()
    evicting = limiter(2, 1.0, algorithm, clock, idle_ttl=1.0)
    keeping = limiter(2, 1.0, algorithm, clock, idle_ttl=1e9)
    for key, gap in steps:
        clock.advance(gap)
        assert evicting.check_limit(key) == keeping.check_limit(key)


def test_concurrent_threads_never_over_admit() -> None:
    rl = limiter(50, 60.0, "sliding-window", ManualClock())
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(100):
            ok = rl.check_limit("shared").allowed
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(admitted) == 400 and sum(admitted) == 50


def test_manager_routes_by_longest_prefix_with_default() -> None:
    clock = ManualClock()
    m = RateLimiterManager(clock=clock, default=RateLimiterConfig(100, 60.0))
    m.add("payment", RateLimiterConfig(2, 60.0), ["/settlements", "/resources"])
    m.add("admin", RateLimiterConfig(1, 60.0), ["/admin"])
    m.add("admin-events", RateLimiterConfig(3, 60.0), ["/admin/events"])
    assert m.resolve("/settlements") == "payment"
    assert m.resolve("/resources/weather") == "payment"
    assert m.resolve("/settlementsX") == "default"
    assert m.resolve("/admin/events") == "admin-events"
    assert m.resolve("/admin/other") == "admin"
    assert [m.check_limit("payment", "k").allowed for _ in range(3)] == [True, True, False]
    with pytest.raises(ConfigurationError, match="known"):
        m.get("nope")
    with pytest.raises(ConfigurationError):
        m.add("payment", RateLimiterConfig(1, 1.0))
    with pytest.raises(ConfigurationError):
        m.add("bad", RateLimiterConfig(1, 1.0), ["no-slash"])
    assert "bad" not in m.endpoints()
    assert RateLimiterManager().resolve("/anything") is None


def test_manager_from_security_config() -> None:
    security = ConfigManager("testnet", environ={}).get_security()
    routes = {"settlements": ["/settlements"], "channels": ["/channels"], "other": ["/other"]}
    m = RateLimiterManager.from_security_config(security, routes)
    assert {k: c.max_requests for k, c in m.endpoints().items()} == {"settlements": 50, "channels": 1000, "other": 100}
    assert m.resolve("/health") is None  # no "default" endpoint configured: unmatched paths are not limited
    with_default = ConfigManager("testnet", environ={"SRH__SECURITY__RATE_LIMIT__ENDPOINTS__DEFAULT": "AUTH"})
    m = RateLimiterManager.from_security_config(with_default.get_security(), routes)
    assert m.resolve("/health") == "default" and m.endpoints()["default"].max_requests == 5


# -- middleware -----------------------------------------------------------------------------------

def _app(manager: RateLimiterManager, seen: list[tuple[str, str, bool]] | None = None) -> RateLimitMiddleware:
    async def ok(request: Request) -> JSONResponse:
        result = request.state.rate_limit if hasattr(request.state, "rate_limit") else None
        return JSONResponse({"ok": True, "remaining": result.remaining if result else None})

    app = Starlette(routes=[Route("/settlements", ok, methods=["POST"]), Route("/health", ok)])
    listener = (lambda e, k, r: seen.append((e, k, r.allowed))) if seen is not None else None
    keys = IssuedKeys.from_keys(["secret-key-1", "secret-key-2"])
    return RateLimitMiddleware(app, manager, key_func=keys, on_result=listener)


def _manager(clock: ManualClock) -> RateLimiterManager:
    m = RateLimiterManager(clock=clock)
    m.add("payment", RateLimiterConfig(2, 60.0, "sliding-window"), ["/settlements"])
    return m


async def _post(client: httpx.AsyncClient, key: str | None = None) -> httpx.Response:
    return await client.post("/settlements", headers={"X-API-Key": key} if key else {})


def test_middleware_answers_429_with_headers_and_json() -> None:
    clock = ManualClock()
    seen: list[tuple[str, str, bool]] = []

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=_app(_manager(clock), seen))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await _post(client, "secret-key-1") for _ in range(3)] + [
                await _post(client, "secret-key-2"), await client.get("/health"), await _post(client, "rotated")]

    first, second, third, other_key, health, rotated = asyncio.run(scenario())
    assert first.status_code == 200 and first.json() == {"ok": True, "remaining": 1}
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
    assert first.headers["x-ratelimit-reset"] == "60"
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining"] == "0"
    assert third.status_code == 429
    assert third.json() == {"error": "rate_limited", "endpoint": "payment", "limit": 2, "retry_after": 60.0}
    assert third.headers["retry-after"] == "60" and third.headers["x-ratelimit-remaining"] == "0"
    assert third.headers["content-type"] == "application/json"
    assert other_key.status_code == 200  # limits are per issued client key
    assert rotated.status_code == 200  # an unissued key is the client address, which is not yet limited
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers  # not a limited path
    assert [s[2] for s in seen] == [True, True, False, True, True]
    assert all("secret-key" not in s[1] for s in seen)  # the API key itself is never kept


def test_default_key_is_the_client_address_whatever_key_is_sent() -> None:
    assert default_key({"headers": [(b"x-api-key", b"abc")], "client": ("1.2.3.4", 5)}) == "ip:1.2.3.4"
    assert default_key({"headers": [], "client": ("1.2.3.4", 5)}) == "ip:1.2.3.4"
    assert default_key({"headers": []}) == "ip:unknown"


def test_issued_keys_honour_only_issued_api_keys(tmp_path: Path) -> None:
    issued = IssuedKeys.from_keys(["key-one", "key-two"])
    scope = {"client": ("10.0.0.7", 5)}
    one = issued({**scope, "headers": [(b"x-api-key", b"key-one")]})
    assert one == "key:" + api_key_hash("key-one")[:24]
    assert issued({**scope, "headers": [(b"x-api-key", b"key-two")]}) not in (one, "ip:10.0.0.7")
    for unknown in (b"fresh-1", b"fresh-2", b"x" * 300, b""):  # rotated or junk keys: one anonymous client
        assert issued({**scope, "headers": [(b"x-api-key", unknown)]}) == "ip:10.0.0.7"
    key_file = tmp_path / "keys"
    key_file.write_text(f"# issued keys\n{api_key_hash('key-one')}\n\n{api_key_hash('key-two').upper()}\n")
    assert len(IssuedKeys.from_file(key_file)) == 2
    key_file.write_text("not-a-hash\n")
    with pytest.raises(ConfigurationError, match="hash #1"):
        IssuedKeys.from_file(key_file)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        IssuedKeys.from_file(tmp_path / "missing")


def test_middleware_passes_non_http_scopes_through() -> None:
    calls: list[str] = []

    async def inner(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        calls.append(scope["type"])

    mw = RateLimitMiddleware(inner, _manager(ManualClock()))
    asyncio.run(mw({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert calls == ["lifespan"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server() -> Iterator[str]:
    manager = RateLimiterManager()  # real clock: the uvicorn server runs in real time
    manager.add("payment", RateLimiterConfig(3, 60.0, "token-bucket"), ["/settlements"])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(_app(manager), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.timeout(30)
def test_middleware_over_real_tcp(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=5) as client:
        statuses = [client.post("/settlements").status_code for _ in range(5)]
        last = client.post("/settlements")
    assert statuses == [200, 200, 200, 429, 429]
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
    assert last.json()["error"] == "rate_limited"
