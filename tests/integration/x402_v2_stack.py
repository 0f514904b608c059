"""The x402 v2 world of the integration tests (no tests here): the offline network (Soroban RPC and
Stellar Asset Contracts included) with three listeners, the embedded fault proxy as its own process
with `horizon-primary` and `horizon-secondary` in front of listeners 0 and 1, the facilitator and the
service on free loopback ports, the facilitator's RPC and the service's Horizon both through the
proxies, and the keys of every role."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from stellar_sdk import Asset, Keypair, SorobanServer

from harness.faults.client import FaultController
from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
from harness.ledger.genesis import generated_keypair, offline_asset
from harness.ledger.http_api import LedgerServer
from reference_impl.clock import SYSTEM_CLOCK
from reference_impl.facilitator.app import create_facilitator_app
from reference_impl.facilitator.cli import make_settler
from reference_impl.service.app import create_app
from reference_impl.service.server import ServiceServer
from reference_impl.service.settings import ServiceAccounts, ServiceSettings
from tests.integration.test_service_support import ADMIN_TOKEN, FAST_ENV
from tests.toxiproxy_server import server_url

SEED = 23
N_ACCOUNTS = 16
POOL, PAY_TO, ESCROW, FACILITATOR, PAYERS = slice(0, 2), 2, 3, slice(4, 8), slice(8, 16)


@dataclass
class V2Stack:
    service_url: str
    facilitator_url: str
    ledger: LedgerServer
    ledger_urls: list[str]
    faults: FaultController
    proxies: dict[str, str]  # proxy name -> host:port
    keys: list[Keypair]
    components: Any
    settler: Any

    def __repr__(self) -> str:
        return f"V2Stack({self.service_url})"

    @property
    def payers(self) -> list[Keypair]:
        return self.keys[PAYERS]

    @property
    def pay_to(self) -> str:
        return self.keys[PAY_TO].public_key

    @property
    def usdc(self) -> str:
        return offline_asset(LedgerConfig(seed=SEED))

    @property
    def usdc_contract(self) -> str:
        code, issuer = self.usdc.split(":")
        return Asset(code, issuer).contract_id(OFFLINE_PASSPHRASE)

    def rpc(self) -> SorobanServer:
        """A client's own RPC: the network directly (listener 2), not through the proxies."""
        return SorobanServer(f"{self.ledger_urls[2]}/soroban/rpc")

    def usdc_balance(self, account_id: str) -> int:
        line = next((t for t in self.ledger.ledger.trustlines(account_id) if t.asset == self.usdc), None)
        return line.balance if line is not None else 0

    def applied(self) -> list[dict[str, Any]]:
        return [r for r in self.ledger.ledger.history(since=0) if r["kind"] == "applied"]

    def events(self, http: httpx.Client) -> list[dict[str, Any]]:
        body = http.get(f"{self.service_url}/admin/events", params={"since": 0},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        return body["events"]


@contextlib.contextmanager
def v2_stack(close_interval: float = 0.5, **settler_parts: Any) -> Iterator[V2Stack]:
    """The running world; `settler_parts` go to the facilitator's composition root (`make_settler`)."""
    keys = [generated_keypair(SEED, i) for i in range(N_ACCOUNTS)]
    ledger = LedgerServer(LedgerConfig(ports=(0, 0, 0), close_interval=close_interval, seed=SEED,
                                       generate_accounts=N_ACCOUNTS, submit_timeout=5.0))
    with ledger.run_in_thread() as ledger_urls, server_url() as toxiproxy, \
            FaultController(url=toxiproxy, clock=SYSTEM_CLOCK) as faults:
        faults.reset()
        proxies = {name: faults.ensure_proxy(name, url.split("://", 1)[1])
                   for name, url in zip(("horizon-primary", "horizon-secondary"), ledger_urls, strict=False)}
        rpc_urls = [f"http://{hostport}/soroban/rpc" for hostport in proxies.values()]
        settler = make_settler(rpc_urls, keys[FACILITATOR], OFFLINE_PASSPHRASE, ledger_seconds=close_interval,
                               call_timeout=2.0, poll_interval=0.05, **settler_parts)
        facilitator = ServiceServer(create_facilitator_app(settler))
        settings = ServiceSettings(
            accounts=ServiceAccounts(tuple(keys[POOL]), keys[PAY_TO].public_key, keys[ESCROW]),
            horizon_primary=f"http://{proxies['horizon-primary']}",
            horizon_secondary=f"http://{proxies['horizon-secondary']}",
            network_passphrase=OFFLINE_PASSPHRASE, admin_token=ADMIN_TOKEN, log_console=False, environ=FAST_ENV,
            seed=1, x402_asset=offline_asset(LedgerConfig(seed=SEED)))
        with facilitator.run_in_thread() as facilitator_url:
            settings.facilitator_url = facilitator_url
            app = create_app(settings)
            with ServiceServer(app).run_in_thread() as url:
                try:
                    yield V2Stack(url, facilitator_url, ledger, ledger_urls, faults, proxies, keys,
                                  app.state.components, settler)
                finally:
                    faults.reset()
