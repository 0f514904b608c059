"""The worlds a target runs in: Horizons behind fault proxies, and the wiring handed to the target.

`start_worlds` starts, on free loopback ports, the offline Stellar network (three listeners: 0 behind
proxy `horizon-primary`, 1 behind `horizon-secondary`, 2 direct for the harness's evidence reads and the
clients' sequence lookups) or, with `--horizon URL`, puts real Horizons behind the proxies instead; then
the fault proxy (embedded, or the Toxiproxy at `$TOXIPROXY_URL`) with both Horizon proxies.

`Worlds.env` is the contract with a target (docs/evidence-contract.md): `PORT`, `TARGET_URL`,
`HORIZON_URL`, `HORIZON_URL_SECONDARY`, `STELLAR_NETWORK_PASSPHRASE`, `SRH_ACCOUNTS_FILE`,
`SRH_ADMIN_TOKEN_FILE`, `SRH_API_KEYS_FILE` (SHA-256 hashes of the API keys the run issues to its load
clients, mode 0600: the only keys that are clients of their own), and with x402 v2 traffic
`X402_FACILITATOR_URL` and `X402_ASSET`; `harness up` also writes `TOXIPROXY_URL`, `SRH_LEDGER_URL` (the
ledger's evidence URL) and what a later `harness run --worlds FILE` needs to load the same worlds.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessConfigurationError
from harness.run.accounts import PrivateFiles
from harness.run.supervisor import Supervisor
from reference_impl.clock import SYSTEM_CLOCK

PRIMARY, SECONDARY = "horizon-primary", "horizon-secondary"
OFFLINE, HORIZON = "offline", "horizon"
TARGET_KEYS = ("PORT", "TARGET_URL", "HORIZON_URL", "HORIZON_URL_SECONDARY", "STELLAR_NETWORK_PASSPHRASE",
               "SRH_ACCOUNTS_FILE", "SRH_ADMIN_TOKEN_FILE", "SRH_API_KEYS_FILE")
WORLDS_KEYS = ("TOXIPROXY_URL", "SRH_LEDGER_URL", "SRH_EVIDENCE_URL", "SRH_WORLDS_KIND", "SRH_LOAD_ACCOUNTS_FILE",
               "SRH_GENESIS_FILE", "SRH_FACILITATOR_ACCOUNTS_FILE")
MAX_ENV_FILE_BYTES = 64 * 1024
CLOSE_KEY = "SRH_LEDGER_CLOSE_S"  # the offline ledger's close interval, written by `harness up`


class WorldsError(HarnessConfigurationError):
    """The worlds could not be started, or a worlds file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class Worlds:
    """Where everything of one run's worlds listens."""

    kind: str  # offline | horizon
    horizon_url: str  # proxy horizon-primary, as the target must use it
    horizon_url_secondary: str  # proxy horizon-secondary
    passphrase: str
    toxiproxy_url: str
    ledger_url: str  # direct ledger reads (sequence numbers, Horizon public API): never through a proxy
    evidence_url: str  # the offline network's admin feeds (history, access log); "" for a real Horizon
    facilitator_url: str = ""  # the x402 v2 facilitator (its Soroban RPC through both proxies); "" without v2
    x402_asset: str = ""  # the x402 v2 token the facilitator settles

    def target_env(self, port: int, private: PrivateFiles) -> dict[str, str]:
        """The variables a target is started with (`--target-cmd`) or configured from (`harness up`)."""
        env = {"PORT": str(port), "TARGET_URL": f"http://127.0.0.1:{port}", "HORIZON_URL": self.horizon_url,
               "HORIZON_URL_SECONDARY": self.horizon_url_secondary, "STELLAR_NETWORK_PASSPHRASE": self.passphrase,
               "SRH_ACCOUNTS_FILE": str(private.service_accounts),
               "SRH_ADMIN_TOKEN_FILE": str(private.admin_token_file), "SRH_API_KEYS_FILE": str(private.api_keys_file)}
        if self.facilitator_url:
            env.update(X402_FACILITATOR_URL=self.facilitator_url, X402_ASSET=self.x402_asset)
        return env

    def file_env(self, port: int, private: PrivateFiles) -> dict[str, str]:
        """`harness up`'s worlds file: the target's variables plus what a later run needs."""
        return {**self.target_env(port, private), "TOXIPROXY_URL": self.toxiproxy_url,
                "SRH_LEDGER_URL": self.ledger_url, "SRH_EVIDENCE_URL": self.evidence_url, "SRH_WORLDS_KIND": self.kind,
                "SRH_LOAD_ACCOUNTS_FILE": str(private.load_accounts), "SRH_GENESIS_FILE": str(private.genesis),
                "SRH_FACILITATOR_ACCOUNTS_FILE": str(private.facilitator_accounts)}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Worlds:
        missing = [k for k in (*TARGET_KEYS, *WORLDS_KEYS) if k not in env]
        if missing:
            raise WorldsError(f"worlds file lacks {', '.join(missing)} (write it with `harness up --env-file FILE`)")
        return cls(env["SRH_WORLDS_KIND"], env["HORIZON_URL"], env["HORIZON_URL_SECONDARY"],
                   env["STELLAR_NETWORK_PASSPHRASE"], env["TOXIPROXY_URL"], env["SRH_LEDGER_URL"],
                   env["SRH_EVIDENCE_URL"], env.get("X402_FACILITATOR_URL", ""), env.get("X402_ASSET", ""))


@dataclass(frozen=True)
class HorizonOptions:
    """Real Horizons behind the proxies (`--horizon URL [--horizon-secondary URL]`)."""

    primary: str
    secondary: str | None = None
    friendbot: str | None = None  # default: <primary>/friendbot (quickstart, the offline network)


def start_worlds(supervisor: Supervisor, private: PrivateFiles, close_s: float,
                 horizon: HorizonOptions | None = None, x402_v2: bool = False) -> Worlds:
    """Start the ledger (unless real Horizons are given) and the fault proxy, create both Horizon proxies, and,
    for x402 v2 traffic, the facilitator (its Soroban RPC through both proxies)."""
    if x402_v2 and horizon is not None:
        raise WorldsError("x402 v2 traffic needs the offline network's Soroban RPC; --horizon serves none")
    from harness.faults.client import FaultController
    from harness.ledger.config import OFFLINE_PASSPHRASE

    py = sys.executable
    if horizon is None:
        ledger = supervisor.start(
            "ledger",
            [py, "-m", "harness.ledger", "--host", "127.0.0.1", "--port", "0", "--port", "0", "--port", "0",
             "--close-interval", str(close_s), "--passphrase", OFFLINE_PASSPHRASE, "--seed-accounts", str(private.genesis)],
            listeners=3, ready_timeout_s=60.0,
        )
        upstreams, direct, evidence, passphrase = ledger.urls[:2], ledger.urls[2], ledger.urls[2], OFFLINE_PASSPHRASE
    else:
        from harness.run.horizon_history import network_passphrase

        upstreams = [horizon.primary, horizon.secondary or horizon.primary]
        direct, evidence, passphrase = horizon.primary.rstrip("/"), "", network_passphrase(horizon.primary)
    toxiproxy_url = os.environ.get("TOXIPROXY_URL") or supervisor.start(
        "toxiproxy", [py, "-m", "harness.toxiproxy", "--host", "127.0.0.1", "--port", "0"], ready_timeout_s=60.0
    ).url
    setup = FaultController(url=toxiproxy_url, clock=SYSTEM_CLOCK)
    try:
        setup.reset()
        listens = [setup.ensure_proxy(name, hostport(url)) for name, url in zip((PRIMARY, SECONDARY), upstreams,
                                                                                  strict=True)]
    finally:
        setup.close()
    scheme = "https" if upstreams[0].startswith("https://") else "http"
    facilitator, asset = start_facilitator(supervisor, private, listens, close_s) if x402_v2 else ("", "")
    return Worlds(OFFLINE if horizon is None else HORIZON, f"{scheme}://{listens[0]}", f"{scheme}://{listens[1]}",
                  passphrase, toxiproxy_url.rstrip("/"), direct, evidence, facilitator, asset)


def start_facilitator(supervisor: Supervisor, private: PrivateFiles, proxies: list[str], close_s: float) -> tuple[str, str]:
    """Start the x402 v2 facilitator (its Soroban RPC through both proxies); (its URL, the token it settles)."""
    from harness.ledger.config import OFFLINE_PASSPHRASE, LedgerConfig
    from harness.ledger.genesis import offline_asset

    argv = [sys.executable, "-m", "reference_impl.facilitator", "--host", "127.0.0.1", "--port", "0",
            "--accounts-file", str(private.facilitator_accounts), "--network-passphrase", OFFLINE_PASSPHRASE,
            "--ledger-seconds", str(close_s)]
    for proxy in proxies:
        argv += ["--rpc-url", f"http://{proxy}/soroban/rpc"]
    return supervisor.start("facilitator", argv, ready_timeout_s=60.0).url, offline_asset(LedgerConfig())


def hostport(url: str) -> str:
    """`host:port` of a URL (the scheme's default port when none is given)."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    if ":" in rest:
        return rest
    return f"{rest}:{443 if url.startswith('https://') else 80}"


def free_port() -> int:
    """A loopback port free right now (the target binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """KEY='value' lines (docker compose `env_file`, `set -a; . FILE`, dotenv), mode 0600, written atomically."""
    lines = []
    for key, value in env.items():
        if "'" in value or "\n" in value:
            raise WorldsError(f"{key}: value cannot be written to an env file")
        lines.append(f"{key}='{value}'")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    tmp.replace(path)


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a file written by `write_env_file` (comments and blank lines allowed)."""
    try:
        if path.stat().st_size > MAX_ENV_FILE_BYTES:
            raise WorldsError(f"worlds file {path} is larger than {MAX_ENV_FILE_BYTES} bytes")
        text = path.read_text()
    except OSError as exc:
        raise WorldsError(f"worlds file {path}: cannot be read ({type(exc).__name__})") from None
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise WorldsError(f"worlds file {path}, line {number}: expected KEY=VALUE")
        parts = shlex.split(value, posix=True) if value.strip() else [""]
        if len(parts) != 1:
            raise WorldsError(f"worlds file {path}, line {number}: quote values that hold spaces")
        env[key.strip()] = parts[0]
    return env
