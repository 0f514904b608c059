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
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stellar_sdk import Keypair

from harness.errors import HarnessConfigurationError
from scenarios.client_keys import write_key_hashes

FUNDED_BALANCE = "100000.0000000"
FUNDED_USDC = "10000.0000000"  # of the offline issuer's USDC (a bare code in the seed-accounts file)
# The escrow account funds every escrow of a run (1-5 units each): a long or stressed run makes thousands.
ESCROW_USDC = "1000000.0000000"
MAX_ACCOUNTS_PER_ROLE = 512
_SEED = re.compile(r"S[A-Z2-7]{55}")


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

    def public_summary(self) -> dict[str, Any]:
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
    """Paths of the secret-bearing files of one run (all inside `directory`, mode 0700).

    Files borrowed from a running `harness up` (`owned` False) are read, never removed.
    """

    directory: Path
    genesis: Path
    service_accounts: Path
    load_accounts: Path
    admin_token_file: Path
    api_keys_file: Path  # SHA-256 hashes of the issued API keys (the service's --api-keys-file)
    facilitator_accounts: Path
    admin_token: str = field(repr=False)
    api_key_secret: str = field(repr=False)  # hex; the load clients' keys derive from it
    owned: bool = True

    def cleanup(self) -> None:
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def secrets(self) -> tuple[str, ...]:
        """Every secret these files hold: the admin token, the API-key secret and each secret seed (for the
        secret scan)."""
        found = [self.admin_token, self.api_key_secret]
        for path in (self.service_accounts, self.load_accounts, self.facilitator_accounts):
            found += _seeds_in(json.loads(path.read_text()))
        return tuple(dict.fromkeys(found))

    def public_summary(self) -> dict[str, Any]:
        """Public keys of the service's accounts and the load generator's account counts."""
        service, load = json.loads(self.service_accounts.read_text()), json.loads(self.load_accounts.read_text())
        return {"settlement_pool": [Keypair.from_secret(s).public_key for s in service["settlement_pool"]],
                "pay_to": load["pay_to"], "escrow": Keypair.from_secret(service["escrow"]).public_key,
                **{role: len(load[role]) for role in ("payers", "destinations", "channel_parties", "strangers")}}


def borrowed_private_files(env: dict[str, str]) -> PrivateFiles:
    """The account files of a running `harness up`, named by its worlds file; checked, never removed."""
    try:
        paths = {k: Path(env[k]) for k in ("SRH_ACCOUNTS_FILE", "SRH_LOAD_ACCOUNTS_FILE", "SRH_ADMIN_TOKEN_FILE",
                                           "SRH_API_KEYS_FILE", "SRH_GENESIS_FILE", "SRH_FACILITATOR_ACCOUNTS_FILE")}
        token = paths["SRH_ADMIN_TOKEN_FILE"].read_text().strip()
        for key in ("SRH_ACCOUNTS_FILE", "SRH_FACILITATOR_ACCOUNTS_FILE"):
            json.loads(paths[key].read_text())
        key_secret = json.loads(paths["SRH_LOAD_ACCOUNTS_FILE"].read_text()).get("api_key_secret")
        paths["SRH_API_KEYS_FILE"].stat()
    except KeyError as exc:
        raise HarnessConfigurationError(f"worlds file lacks {exc.args[0]}") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise HarnessConfigurationError(f"the worlds' account files cannot be read ({type(exc).__name__}); "
                                        "is `harness up` still running?") from None
    if not isinstance(key_secret, str) or not key_secret:
        raise HarnessConfigurationError("the worlds' load accounts file has no api_key_secret (written by an older "
                                        "`harness up`? restart it)")
    return PrivateFiles(directory=paths["SRH_ACCOUNTS_FILE"].parent, genesis=paths["SRH_GENESIS_FILE"],
                        service_accounts=paths["SRH_ACCOUNTS_FILE"], load_accounts=paths["SRH_LOAD_ACCOUNTS_FILE"],
                        admin_token_file=paths["SRH_ADMIN_TOKEN_FILE"], api_keys_file=paths["SRH_API_KEYS_FILE"],
                        facilitator_accounts=paths["SRH_FACILITATOR_ACCOUNTS_FILE"], admin_token=token,
                        api_key_secret=key_secret, owned=False)


def _seeds_in(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if _SEED.fullmatch(value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _seeds_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in _seeds_in(v)]
    return []


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
                            "trustlines": [{"asset": "USDC", "balance": ESCROW_USDC if k is accounts.escrow
                                            else FUNDED_USDC}]} for k in accounts.funded()])
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
