"""Shared helpers for the service integration tests (no tests here): a real offline ledger with two
listeners, a controllable TCP proxy in front of each, the service on a free loopback port, and
client-side builders for real signed x402 payments and channel states."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from stellar_sdk import Account, Keypair, Network, StrKey, TransactionBuilder

from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.genesis import generated_keypair, offline_asset
from harness.ledger.http_api import LedgerServer
from reference_impl.input_validator import sign_channel_state
from reference_impl.request_keys import IssuedKeys
from reference_impl.service.app import create_app
from reference_impl.service.server import ServiceServer
from reference_impl.service.settings import ServiceAccounts, ServiceSettings
from reference_impl.service.settlements import payment_asset

SEED = 11
N_ACCOUNTS = 12
ADMIN_TOKEN = "test-admin-token-0123456789"
# The API keys the test stack issues (any other X-API-Key is anonymous: limited by client address).
API_KEYS = ("greedy-client", "polite-client", "channels", "settle-tests", "x402-tests", "k",
            *(f"burst-{i}" for i in range(16)))
def corrupted_secret(secret: str) -> str:
    """`secret` with its last character changed: the checksum no longer matches, always (never a no-op)."""
    bad = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert not StrKey.is_valid_ed25519_secret_seed(bad)
    return bad


# Fast breakers and retries so fault tests run in seconds (env overrides of ConfigManager).
FAST_ENV = {
    "SRH__SECURITY__CIRCUIT_BREAKER__TIMEOUT_MS": "1500",
    "SRH__SECURITY__CIRCUIT_BREAKER__VOLUME_THRESHOLD": "4",
    "SRH__SECURITY__CIRCUIT_BREAKER__FAILURE_THRESHOLD": "3",
    "SRH__SECURITY__RETRY__BASE_DELAY_MS": "20",
    "SRH__SECURITY__RETRY__MAX_DELAY_MS": "100",
    "SRH__SECURITY__RETRY__MAX_RETRIES": "2",
}


class TcpProxy:
    """A loopback TCP forwarder with three modes: `up`, `down` (refuse/reset connections) and
    `blackhole` (forward requests upstream but drop every response: outcome unknown)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "up"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = self._call(self._start(0))
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, responses: bool) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if responses and self.mode == "blackhole":
                        continue
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self._writers.difference_update((writer, up_writer))

    async def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def set_mode(self, mode: str) -> None:
        """`up`, `down` or `blackhole`; going down resets open connections and closes the port."""
        assert mode in ("up", "down", "blackhole")
        if mode == "down" and self.mode != "down":
            self._call(self._stop_server())
        elif mode != "down" and self.mode == "down":
            self._call(self._start(self.port))
        elif mode == "blackhole":
            self._call(self._drop_connections())
        self.mode = mode

    async def _drop_connections(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _cancel_handlers(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self._call(self._stop_server())
        self._call(self._cancel_handlers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class Stack:
    """A running ledger + proxies + service, and the keys the tests use."""

    def __init__(self, url: str, ledger_urls: list[str], ledger: LedgerServer, proxies: list[TcpProxy],
                 settings: ServiceSettings, keys: list[Keypair], http: httpx.Client, components: Any) -> None:
        self.url, self.ledger_urls, self.ledger, self.proxies = url, ledger_urls, ledger, proxies
        self.settings, self.keys, self.http, self.components = settings, keys, http, components

    def __repr__(self) -> str:  # test reports (and Hypothesis) must not print the settings' secrets
        return f"Stack({self.url})"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        body = self.http.get("/admin/events", params={"since": 0},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        return [e for e in body["events"] if kind is None or e["kind"] == kind]

    def ledger_get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.ledger_urls[0] + path, params=params, timeout=10)

    def sequence(self, account_id: str) -> int:
        return int(self.ledger_get(f"/accounts/{account_id}").json()["sequence"])

    def applied(self) -> list[dict[str, Any]]:
        return [r for r in self.ledger.ledger.history(since=0) if r["kind"] == "applied"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns a truthy value (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@contextlib.contextmanager
def running_stack(close_interval: float = 0.25, fault: str | None = None, env: dict[str, str] | None = None,
                  auto_close: bool = True, asset: str = "native", environment: str = "development",
                  fast: bool = True, **overrides: Any) -> Iterator[Stack]:
    """The service of `environment` (config/<env>.json; with `fast`, breakers and retries shortened) in
    the offline world; `asset` ("native" or "USDC", the ledger's offline USDC) is what it pays in."""
    keys = [generated_keypair(SEED, i) for i in range(N_ACCOUNTS)]
    config = LedgerConfig(ports=(0, 0), close_interval=close_interval, seed=SEED, auto_close=auto_close,
                          generate_accounts=N_ACCOUNTS, submit_timeout=5.0)
    paid_in = offline_asset(config) if asset == "USDC" else asset
    ledger = LedgerServer(config)
    with ledger.run_in_thread() as ledger_urls:
        proxies = [TcpProxy(int(u.rsplit(":", 1)[1])) for u in ledger_urls]
        try:
            settings = ServiceSettings(
                accounts=ServiceAccounts(tuple(keys[0:2]), keys[2].public_key, keys[3]),
                horizon_primary=proxies[0].url, horizon_secondary=proxies[1].url,
                network_passphrase=OFFLINE_PASSPHRASE, admin_token=ADMIN_TOKEN, fault=fault, log_console=False,
                env=environment, environ={**(FAST_ENV if fast else {}), "SRH__PAYMENT__ASSET": paid_in,
                                          "SRH__PAYMENT__X402__ASSET": paid_in, **(env or {})},
                seed=1, **{"api_keys": IssuedKeys.from_keys(API_KEYS), **overrides})
            app = create_app(settings)
            server = ServiceServer(app)
            with server.run_in_thread() as url, httpx.Client(base_url=url, timeout=30) as http:
                yield Stack(url, ledger_urls, ledger, proxies, settings, keys, http, app.state.components)
        finally:
            for proxy in proxies:
                proxy.close()


# -- client-side builders ---------------------------------------------------------------------------


def x402_header(requirements: dict[str, Any], payer: Keypair, sequence: int, *, passphrase: str = OFFLINE_PASSPHRASE,
                amount_stroops: int | None = None, pay_to: str | None = None, nonce: str | None = None,
                max_time: int | None = None, network: str | None = None, tamper: bool = False) -> str:
    """A real signed X-PAYMENT header paying `requirements` (each keyword bends one aspect)."""
    stroops = int(requirements["maxAmountRequired"]) if amount_stroops is None else amount_stroops
    memo = bytes.fromhex(nonce or requirements["extra"]["nonce"])
    bound = int(time.time()) + 60 if max_time is None else max_time
    envelope = (TransactionBuilder(Account(payer.public_key, sequence - 1), passphrase, 100)
                .append_payment_op(pay_to or requirements["payTo"], payment_asset(requirements["asset"]),
                                   f"{stroops / 1e7:.7f}")
                .add_hash_memo(memo).add_time_bounds(0, bound).build())
    envelope.sign(payer)
    if tamper:
        sig = envelope.signatures[0]
        sig.signature = bytes([sig.signature[0] ^ 0x01]) + sig.signature[1:]
    payload = {"x402Version": 1, "scheme": "exact", "network": network or requirements["network"],
               "payload": {"signedTxXdr": envelope.to_xdr()}}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def channel_state(channel_id: str, sequence: int, a: Keypair, b: Keypair, balance_a: int, balance_b: int,
                  total: int | None = None, signers: tuple[Keypair, ...] | None = None) -> dict[str, Any]:
    """A channel state signed by both parties (or by `signers`)."""
    state: dict[str, Any] = {"channelId": channel_id, "sequence": sequence,
                             "participants": [a.public_key, b.public_key],
                             "balances": {a.public_key: balance_a, b.public_key: balance_b},
                             "total": balance_a + balance_b if total is None else total}
    for kp in signers or (a, b):
        state = sign_channel_state(state, kp)
    return state


TESTNET = Network.TESTNET_NETWORK_PASSPHRASE
