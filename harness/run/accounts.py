"""Deterministic run accounts: every keypair derives from the run seed, secrets stay private.

Roles: `settlement_pool` (the service pays settlements from these), `pay_to` (x402 payee),
`escrow` (creates claimable balances), `facilitator` (the x402 v2 facilitator's channel accounts: source
and fee payer of every settlement), `payers` (one per paying-agent user), `destinations`
(settlement payees, escrow payees, decision counterparties), `channel_parties` (off-chain channel
signers, never funded) and `strangers` (keys the tamperers sign with, never funded).

`write_private_files` writes the ledger's seed-accounts file (public keys, XLM balances and a
trustline holding the offline network's USDC for every funded account), the service's accounts
file, the facilitator's, the load generator's accounts file (with the per-run secret the load
clients' API keys derive from, `scenarios/client_keys.py`), the issued keys' SHA-256 hashes for the
service and the admin token, each mode 0600, into a fresh 0700 temporary directory that is removed
by `PrivateFiles.cleanup`. Nothing secret is ever written into the run's output folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stellar_sdk import Keypair

from harness.errors import HarnessConfigurationError
from scenarios.client_keys import write_key_hashes

FUNDED_BALANCE = "100000.0000000"
FUNDED_USDC = "10000.0000000"  # of the offline issuer's USDC (a bare code in the seed-accounts file)
MAX_ACCOUNTS_PER_ROLE = 512


@dataclass(frozen=True)
class AccountSizes:
    """How many keys each role gets."""

    settlement_pool: int = 16
    payers: int = 32
    destinations: int = 16
    channel_parties: int = 32
    strangers: int = 4
    facilitator: int = 8

    def __post_init__(self) -> None:
        for name in ("settlement_pool", "payers", "destinations", "channel_parties", "strangers", "facilitator"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_ACCOUNTS_PER_ROLE:
                raise HarnessConfigurationError(f"AccountSizes.{name} must be 1..{MAX_ACCOUNTS_PER_ROLE}, got {value}")


@dataclass(frozen=True)
class RunAccounts:
    """All keypairs of one run (derived from the seed, so a replay uses the same accounts)."""

    seed: int
    settlement_pool: tuple[Keypair, ...]
    pay_to: Keypair
    escrow: Keypair
    payers: tuple[Keypair, ...]
    destinations: tuple[Keypair, ...]
    channel_parties: tuple[Keypair, ...]
    strangers: tuple[Keypair, ...]
    facilitator: tuple[Keypair, ...] = ()

    def funded(self) -> list[Keypair]:
        """Accounts that must exist at genesis."""
        return [*self.settlement_pool, self.pay_to, self.escrow, *self.payers, *self.destinations, *self.facilitator]

    def public_summary(self) -> dict[str, object]:
        """Public keys only: safe for manifests and reports."""
        return {
            "seed": self.seed,
            "settlement_pool": [k.public_key for k in self.settlement_pool],
            "pay_to": self.pay_to.public_key,
            "escrow": self.escrow.public_key,
            "payers": len(self.payers),
            "destinations": len(self.destinations),
            "channel_parties": len(self.channel_parties),
            "strangers": len(self.strangers),
            "facilitator": [k.public_key for k in self.facilitator],
        }


def derive_keypair(seed: int, role: str, index: int) -> Keypair:
    """The keypair for (seed, role, index): SHA-256 of a fixed label is the ed25519 seed."""
    raw = hashlib.sha256(f"stellar-resilience-harness/{seed}/{role}/{index}".encode()).digest()
    return Keypair.from_raw_ed25519_seed(raw)


def derive_accounts(seed: int, sizes: AccountSizes | None = None) -> RunAccounts:
    """Every account of a run, deterministically from `seed`."""
    if not isinstance(seed, int) or seed < 0:
        raise HarnessConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    sz = sizes or AccountSizes()

    def role(name: str, count: int) -> tuple[Keypair, ...]:
        return tuple(derive_keypair(seed, name, i) for i in range(count))

    return RunAccounts(
        seed=seed,
        settlement_pool=role("settlement_pool", sz.settlement_pool),
        pay_to=derive_keypair(seed, "pay_to", 0),
        escrow=derive_keypair(seed, "escrow", 0),
        payers=role("payers", sz.payers),
        destinations=role("destinations", sz.destinations),
        channel_parties=role("channel_parties", sz.channel_parties),
        strangers=role("strangers", sz.strangers),
        facilitator=role("facilitator", sz.facilitator),
    )


@dataclass
class PrivateFiles:
    """Paths of the secret-bearing files of one run (all inside `directory`, mode 0700)."""

    directory: Path
    genesis: Path
    service_accounts: Path
    load_accounts: Path
    admin_token_file: Path
    api_keys_file: Path  # SHA-256 hashes of the issued API keys (the service's --api-keys-file)
    facilitator_accounts: Path
    admin_token: str = field(repr=False)
    api_key_secret: str = field(repr=False)  # hex; the load clients' keys derive from it

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def write_private_files(accounts: RunAccounts, base_dir: Path | None = None) -> PrivateFiles:
    """Write genesis, service and load-generator account files plus an admin token, privately."""
    directory = Path(tempfile.mkdtemp(prefix="harness-run-", dir=base_dir))
    os.chmod(directory, 0o700)
    token = secrets.token_urlsafe(24)
    key_secret = secrets.token_bytes(32)
    files = PrivateFiles(
        directory=directory,
        genesis=directory / "genesis.json",
        service_accounts=directory / "service-accounts.json",
        load_accounts=directory / "load-accounts.json",
        admin_token_file=directory / "admin-token",
        api_keys_file=directory / "api-keys.sha256",
        facilitator_accounts=directory / "facilitator-accounts.json",
        admin_token=token,
        api_key_secret=key_secret.hex(),
    )
    _write(files.genesis, [{"account_id": k.public_key, "balance": FUNDED_BALANCE,
                            "trustlines": [{"asset": "USDC", "balance": FUNDED_USDC}]} for k in accounts.funded()])
    _write(
        files.service_accounts,
        {
            "settlement_pool": [k.secret for k in accounts.settlement_pool],
            "x402_pay_to": accounts.pay_to.public_key,
            "escrow": accounts.escrow.secret,
        },
    )
    _write(
        files.load_accounts,
        {
            "payers": [k.secret for k in accounts.payers],
            "destinations": [k.public_key for k in accounts.destinations],
            "channel_parties": [k.secret for k in accounts.channel_parties],
            "strangers": [k.secret for k in accounts.strangers],
            "pay_to": accounts.pay_to.public_key,
            "api_key_secret": key_secret.hex(),
        },
    )
    write_key_hashes(files.api_keys_file, key_secret)
    _write(files.facilitator_accounts, {"signers": [k.secret for k in accounts.facilitator]})
    fd = os.open(files.admin_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    return files


def _write(path: Path, data: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
