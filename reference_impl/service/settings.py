"""Service settings: the command-line knobs, the accounts file (secrets, never logged) and the
environment's configuration from ConfigManager, resolved into one object for `create_app`."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stellar_sdk import Keypair
from stellar_sdk.exceptions import Ed25519PublicKeyInvalidError, Ed25519SecretSeedInvalidError

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.config_manager import REAL_PASSPHRASES, ConfigManager
from reference_impl.config_schema import AppConfig
from reference_impl.errors import ConfigurationError
from reference_impl.request_keys import IssuedKeys
from reference_impl.service.faults import check_fault

MAX_POOL = 1000


class SettingsError(ConfigurationError):
    """A setting, the accounts file or the admin token file is invalid (message never holds a secret)."""


@dataclass(frozen=True, slots=True, repr=False)
class ServiceAccounts:
    """The service's keys: settlement pool, x402 payee, escrow account."""

    settlement_pool: tuple[Keypair, ...]
    pay_to: str
    escrow: Keypair

    def __repr__(self) -> str:
        return f"ServiceAccounts(pool={len(self.settlement_pool)}, pay_to={self.pay_to})"

    def secrets(self) -> list[str]:
        """Every secret seed held (for secret scans in tests and the harness)."""
        return [kp.secret for kp in (*self.settlement_pool, self.escrow)]

    @classmethod
    def from_mapping(cls, data: Any) -> ServiceAccounts:
        if not isinstance(data, Mapping):
            raise SettingsError("accounts file: must hold a JSON object")
        pool = data.get("settlement_pool")
        if not isinstance(pool, list) or not 1 <= len(pool) <= MAX_POOL:
            raise SettingsError(
                f"accounts file: settlement_pool must be a list of 1..{MAX_POOL} secret seeds"
            )
        keypairs = tuple(_secret(seed, f"settlement_pool[{i}]") for i, seed in enumerate(pool))
        pay_to = data.get("x402_pay_to")
        if isinstance(pay_to, str) and pay_to.startswith("S"):
            pay_to_id = _secret(pay_to, "x402_pay_to").public_key
        else:
            try:
                pay_to_id = Keypair.from_public_key(pay_to).public_key  # type: ignore[arg-type]
            except (Ed25519PublicKeyInvalidError, TypeError, ValueError):
                raise SettingsError(
                    "accounts file: x402_pay_to must be a secret seed or an account id"
                ) from None
        return cls(keypairs, pay_to_id, _secret(data.get("escrow"), "escrow"))

    @classmethod
    def load(cls, path: Path | str) -> ServiceAccounts:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise SettingsError(f"accounts file {path}: cannot be read ({type(exc).__name__})") from None
        except json.JSONDecodeError:
            raise SettingsError(f"accounts file {path}: is not valid JSON") from None
        return cls.from_mapping(data)


def _secret(value: Any, name: str) -> Keypair:
    try:
        return Keypair.from_secret(value)
    except (Ed25519SecretSeedInvalidError, TypeError, ValueError, AttributeError):
        raise SettingsError(f"accounts file: {name} must be a valid secret seed") from None


def read_token(path: Path | str) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"admin token file {path}: cannot be read ({type(exc).__name__})") from None
    if not 8 <= len(token) <= 512 or any(ch.isspace() for ch in token):
        raise SettingsError(f"admin token file {path}: token must be 8..512 characters without spaces")
    return token


@dataclass(slots=True, repr=False)
class ServiceSettings:
    """Everything `create_app` needs; `resolve()` loads the config and fills the defaults from it."""

    accounts: ServiceAccounts
    env: str = "development"
    config_dir: Path = Path("config")
    horizon_primary: str | None = None
    horizon_secondary: str | None = None
    network_passphrase: str | None = None
    admin_token: str | None = field(default=None, repr=False)
    api_keys: IssuedKeys = field(default_factory=IssuedKeys)  # issued X-API-Keys; others are anonymous
    fault: str | None = None
    log_file: str | None = None
    log_console: bool | None = None
    call_timeout: float = 2.0
    submit_timeout: float | None = None  # default: 2 ledger closes + 2 s
    request_deadline: float | None = None  # default: 2 submit timeouts + 2 s
    body_timeout: float = 10.0  # seconds a client may take to send a request body (then 408)
    seed: int | None = None
    facilitator_url: str | None = None  # x402 v2 is offered only with a facilitator (default: the config's)
    x402_asset: str | None = None  # v2 token: a contract id C..., "CODE:ISSUER" or "native" (its SAC)
    x402_network: str | None = None  # v2 CAIP-2 name (default: from the passphrase, see facilitator/networks.py)
    facilitator_timeout: float | None = None  # seconds a /settle may take (default 4 ledger closes + 20 s)
    admin_feed: bool = True  # serve /admin/events
    environ: Mapping[str, str] | None = None
    clock: Clock = SYSTEM_CLOCK
    config: AppConfig | None = field(default=None)

    def __repr__(self) -> str:
        return (
            f"ServiceSettings(env={self.env}, primary={self.horizon_primary}, "
            f"secondary={self.horizon_secondary}, fault={self.fault}, accounts={self.accounts!r})"
        )

    def resolve(self) -> ServiceSettings:
        """Load the environment's config and fill unset values from it (idempotent). Horizon URLs and
        the passphrase given here override the config's before it is validated, so the environment's
        rules (mainnet's above all) judge the values the service will really use."""
        if self.config is None:
            environ = os.environ if self.environ is None else self.environ
            self.config = ConfigManager(self.env, self.config_dir, {**environ, **self.network_overrides()}).load()
        stellar = self.config.stellar
        self.horizon_primary = self.horizon_primary or stellar.horizon_url
        if self.horizon_secondary is None:
            self.horizon_secondary = stellar.horizon_url_secondary
        self.network_passphrase = self.network_passphrase or stellar.network_passphrase
        if self.admin_token is None:
            self.admin_token = self.config.security.admin_token
        if self.submit_timeout is None:
            self.submit_timeout = 2 * stellar.ledger_close + 2.0
        if self.request_deadline is None:
            self.request_deadline = 2 * self.submit_timeout + 2.0
        self.facilitator_url = self.facilitator_url or self.config.payment.x402.facilitator_url
        if self.facilitator_timeout is None:
            self.facilitator_timeout = 4 * stellar.ledger_close + 20.0
        check_fault(self.fault, self.env)
        for name in ("call_timeout", "submit_timeout", "request_deadline", "body_timeout", "facilitator_timeout"):
            value = getattr(self, name)
            if not 0 < value <= 600:
                raise SettingsError(f"{name} must be in (0, 600] seconds")
        return self

    def network_overrides(self) -> dict[str, str]:
        """ConfigManager overrides for the network given on the command line. A passphrase names its
        network: one that no real network uses is an isolated network (`standalone`, x402
        `stellar-standalone`), e.g. the harness's offline ledger."""
        out: dict[str, str] = {}
        if self.horizon_primary:
            out["SRH__STELLAR__HORIZON_URL"] = self.horizon_primary
        if self.horizon_secondary:
            out["SRH__STELLAR__HORIZON_URL_SECONDARY"] = self.horizon_secondary
        if self.network_passphrase:
            out["SRH__STELLAR__NETWORK_PASSPHRASE"] = self.network_passphrase
            if self.network_passphrase not in REAL_PASSPHRASES:
                out["SRH__STELLAR__NETWORK"] = "standalone"
                out["SRH__PAYMENT__X402__NETWORK"] = "stellar-standalone"
        return out

    @property
    def horizon_urls(self) -> list[str]:
        assert self.horizon_primary is not None
        return [self.horizon_primary] + ([self.horizon_secondary] if self.horizon_secondary else [])

    def rng(self) -> random.Random:
        return random.Random(self.seed)
