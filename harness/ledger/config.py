"""Configuration of the offline Stellar network."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stellar_sdk import Network

from harness.ledger.errors import LedgerConfigError

OFFLINE_PASSPHRASE = "Stellar Resilience Harness Offline Network ; 2026"
# The passphrases of the real networks: a transaction signed for one of them is valid there, so the
# offline network never takes one (whatever the environment a run judges, it signs for its own network).
REAL_NETWORK_PASSPHRASES = (Network.PUBLIC_NETWORK_PASSPHRASE, Network.TESTNET_NETWORK_PASSPHRASE,
                            Network.FUTURENET_NETWORK_PASSPHRASE)
MAX_PASSPHRASE_LENGTH = 256

STROOPS_PER_XLM = 10_000_000
TOTAL_COINS = 100_000_000_000 * STROOPS_PER_XLM
PROFILE_CLOSE_INTERVALS = {"development": 1.0, "testnet": 5.0, "mainnet": 5.0}


@dataclass(frozen=True, slots=True)
class GenesisTrustline:
    """A trustline created at genesis: asset "CODE:ISSUER", limit and balance in stroops, authorized."""

    asset: str
    balance: int = 0
    limit: int = 2**63 - 1
    authorized: bool = True


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    """An account created at genesis: StrKey `G...` id, native balance in stroops, trustlines."""

    account_id: str
    balance: int
    trustlines: tuple[GenesisTrustline, ...] = ()


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """Every knob of the simulator. Durations are seconds; amounts are stroops."""

    passphrase: str = OFFLINE_PASSPHRASE
    close_interval: float = 1.0
    auto_close: bool = True
    submit_timeout: float = 30.0
    base_fee: int = 100
    base_reserve: int = 5_000_000
    max_tx_set_size: int = 1000
    max_pending: int = 10_000
    friendbot_amount: int = 10_000 * STROOPS_PER_XLM
    seed: int = 0
    genesis_accounts: tuple[GenesisAccount, ...] = ()
    generate_accounts: int = 0
    generated_balance: int = 10_000 * STROOPS_PER_XLM
    asset_code: str = "USDC"
    generated_credit: int = 10_000 * STROOPS_PER_XLM
    host: str = "127.0.0.1"
    ports: tuple[int, ...] = (0,)
    protocol_version: int = 21

    def __post_init__(self) -> None:
        check_isolated_passphrase(self.passphrase)
        if not self.close_interval > 0:
            raise LedgerConfigError("close_interval must be > 0 seconds")
        if not self.submit_timeout > 0:
            raise LedgerConfigError("submit_timeout must be > 0 seconds")
        for name in ("base_fee", "base_reserve", "max_tx_set_size", "max_pending", "friendbot_amount"):
            if int(getattr(self, name)) <= 0:
                raise LedgerConfigError(f"{name} must be a positive integer")
        if self.generate_accounts < 0 or self.generated_balance <= 0 or self.generated_credit < 0:
            raise LedgerConfigError("generate_accounts and generated_credit must be >= 0 and generated_balance > 0")
        if not (1 <= len(self.asset_code) <= 12 and self.asset_code.isascii() and self.asset_code.isalnum()):
            raise LedgerConfigError("asset_code must be 1..12 ASCII letters or digits")
        if self.host != "127.0.0.1":
            raise LedgerConfigError("the offline network listens on 127.0.0.1 only")
        if not self.ports or any(not 0 <= p <= 65535 for p in self.ports):
            raise LedgerConfigError("ports must be a non-empty list of 0..65535 (0 = choose a free port)")
        total = sum(a.balance for a in self.genesis_accounts) + self.generate_accounts * self.generated_balance
        if total >= TOTAL_COINS // 2:
            raise LedgerConfigError("genesis balances exceed the root account's funds")


def check_isolated_passphrase(passphrase: str) -> str:
    """`passphrase` if it names an isolated network; LedgerConfigError for a real network's or a blank one."""
    if not isinstance(passphrase, str) or not passphrase.strip() or len(passphrase) > MAX_PASSPHRASE_LENGTH:
        raise LedgerConfigError(f"passphrase must be a non-blank string of at most {MAX_PASSPHRASE_LENGTH} characters")
    if passphrase in REAL_NETWORK_PASSPHRASES:
        raise LedgerConfigError(f"passphrase {passphrase!r} is a real Stellar network's: anything signed for the "
                                "offline network would be valid there; use an isolated passphrase "
                                f"(default {OFFLINE_PASSPHRASE!r})")
    return passphrase


def profile_close_interval(profile: str) -> float:
    """Ledger close interval of a named profile (development 1 s, testnet/mainnet 5 s)."""
    try:
        return PROFILE_CLOSE_INTERVALS[profile]
    except KeyError:
        raise LedgerConfigError(f"unknown profile {profile!r}; choose from {sorted(PROFILE_CLOSE_INTERVALS)}") from None


def parse_amount(text: str, field_name: str = "amount") -> int:
    """Decimal XLM string with at most 7 decimals -> stroops (positive, within int64)."""
    if not isinstance(text, str):
        raise LedgerConfigError(f"{field_name} must be a decimal string, got {type(text).__name__}")
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise LedgerConfigError(f"{field_name} {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise LedgerConfigError(f"{field_name} {text!r} is not a decimal number")
    stroops = value * STROOPS_PER_XLM
    if stroops != stroops.to_integral_value():
        raise LedgerConfigError(f"{field_name} {text!r} has more than 7 decimals")
    if not 0 < stroops <= 2**63 - 1:
        raise LedgerConfigError(f"{field_name} {text!r} must be positive and fit in int64 stroops")
    return int(stroops)


def format_amount(stroops: int) -> str:
    """Stroops -> Horizon's 7-decimal string ("100.0000000")."""
    sign = "-" if stroops < 0 else ""
    whole, frac = divmod(abs(stroops), STROOPS_PER_XLM)
    return f"{sign}{whole}.{frac:07d}"
