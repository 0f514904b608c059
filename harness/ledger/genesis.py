"""Genesis: the root account, the offline asset issuer, seed-accounts files and generated accounts.

Stellar Asset Contracts are deployed at genesis for native XLM, the offline asset and every other
credit asset a genesis trustline holds (harness.ledger.soroban.contracts).

The offline network has one USDC-like credit asset (7 decimals like every Stellar amount): its
issuer's key derives from the seed (`issuer_keypair(seed)`), it is created at genesis with
`auth_revocable` set, and every generated account holds an authorized trustline with
`generated_credit` of it. A seed-accounts entry may list trustlines of its own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stellar_sdk import Keypair

from harness.ledger.assets import NATIVE, is_valid_credit, issuer_of
from harness.ledger.config import GenesisAccount, GenesisTrustline, LedgerConfig, parse_amount
from harness.ledger.envelope import network_id
from harness.ledger.errors import LedgerConfigError
from harness.ledger.soroban.contracts import deploy_genesis
from harness.ledger.soroban.network import SETTINGS
from harness.ledger.state import AUTH_REVOCABLE, TL_AUTHORIZED, Account, LedgerState, TrustLine, is_account_id

ACCOUNT_KEYS = {"account_id", "balance"}
TRUSTLINE_KEYS = {"asset", "balance", "limit", "authorized"}


def root_keypair(passphrase: str) -> Keypair:
    """The network's root account, as stellar-core derives it: ed25519 seed = network id."""
    return Keypair.from_raw_ed25519_seed(network_id(passphrase))


def generated_keypair(seed: int, index: int) -> Keypair:
    """Keypair of generated genesis account `index` for run seed `seed` (callers regenerate it to sign)."""
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"srh-ledger:{seed}:{index}".encode()).digest())


def issuer_keypair(seed: int) -> Keypair:
    """The offline credit asset's issuer for seed `seed` (callers regenerate it to sign)."""
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"srh-ledger:{seed}:issuer".encode()).digest())


def offline_asset(config: LedgerConfig) -> str:
    """The offline credit asset, "CODE:ISSUER" (USDC issued by `issuer_keypair(config.seed)`)."""
    return f"{config.asset_code}:{issuer_keypair(config.seed).public_key}"


def parse_seed_accounts(obj: Any) -> tuple[GenesisAccount, ...]:
    """Validate `[{"account_id": "G...", "balance": "10000.0000000", "trustlines": [...]}, ...]`.

    A trustline is `{"asset": "CODE:ISSUER" or "CODE", "balance": "100.0000000", "limit": "...",
    "authorized": true}` (only `asset` required; a bare code names the offline issuer's asset).
    Raises LedgerConfigError naming the bad entry.
    """
    if not isinstance(obj, list):
        raise LedgerConfigError("seed accounts must be a JSON list of {account_id, balance} objects")
    accounts: list[GenesisAccount] = []
    seen: set[str] = set()
    for i, item in enumerate(obj):
        where = f"seed account [{i}]"
        if not isinstance(item, dict) or not ACCOUNT_KEYS <= set(item) <= ACCOUNT_KEYS | {"trustlines"}:
            raise LedgerConfigError(f"{where} must have the keys account_id and balance (and optionally trustlines)")
        account_id = item["account_id"]
        if not isinstance(account_id, str) or not is_account_id(account_id):
            raise LedgerConfigError(f"{where}.account_id is not a valid G... account id")
        if account_id in seen:
            raise LedgerConfigError(f"{where}.account_id is listed twice")
        seen.add(account_id)
        balance = parse_amount(item["balance"], f"{where}.balance")
        lines = item.get("trustlines", [])
        if not isinstance(lines, list):
            raise LedgerConfigError(f"{where}.trustlines must be a list")
        accounts.append(GenesisAccount(account_id, balance,
                                       tuple(_parse_trustline(t, f"{where}.trustlines[{j}]") for j, t in enumerate(lines))))
    return tuple(accounts)


def _parse_trustline(obj: Any, where: str) -> GenesisTrustline:
    if not isinstance(obj, dict) or "asset" not in obj or not set(obj) <= TRUSTLINE_KEYS:
        raise LedgerConfigError(f"{where} must be an object with asset and optionally balance, limit, authorized")
    asset = obj["asset"]
    if not isinstance(asset, str) or not (is_valid_credit(asset) if ":" in asset else asset.isalnum()):
        raise LedgerConfigError(f"{where}.asset must be CODE:ISSUER (valid code and G... issuer) or a bare CODE")
    balance = parse_amount(obj["balance"], f"{where}.balance") if obj.get("balance") not in (None, "0") else 0
    limit = parse_amount(obj["limit"], f"{where}.limit") if "limit" in obj else 2**63 - 1
    authorized = obj.get("authorized", True)
    if not isinstance(authorized, bool):
        raise LedgerConfigError(f"{where}.authorized must be true or false")
    if balance > limit:
        raise LedgerConfigError(f"{where}.balance is above its limit")
    return GenesisTrustline(asset, balance, limit, authorized)


def load_seed_accounts(path: Path) -> tuple[GenesisAccount, ...]:
    """Read and validate a seed-accounts file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LedgerConfigError(f"cannot read seed accounts file {path}: {exc.strerror}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LedgerConfigError(f"seed accounts file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    return parse_seed_accounts(obj)


def genesis_state(config: LedgerConfig, total_coins: int, genesis_ledger: int = 1) -> LedgerState:
    """State of ledger 1: the root holds every lumen, minus what the genesis accounts receive."""
    state = LedgerState(base_fee=config.base_fee, base_reserve=config.base_reserve, total_coins=total_coins)
    root_id = root_keypair(config.passphrase).public_key
    root = Account(root_id, total_coins, 0)
    state.accounts[root_id] = root
    usdc = offline_asset(config)
    credit = (GenesisTrustline(usdc, config.generated_credit),)
    wanted = [GenesisAccount(issuer_of(usdc) or "", config.generated_balance), *config.genesis_accounts]
    wanted += [GenesisAccount(generated_keypair(config.seed, i).public_key, config.generated_balance, credit)
               for i in range(config.generate_accounts)]
    for entry in wanted:
        if entry.account_id in state.accounts:
            raise LedgerConfigError(f"genesis account {entry.account_id} is listed twice or is the root or issuer")
        root.balance -= entry.balance
        state.accounts[entry.account_id] = Account(entry.account_id, entry.balance, genesis_ledger << 32,
                                                   last_modified_ledger=genesis_ledger)
    state.accounts[issuer_of(usdc) or ""].flags = AUTH_REVOCABLE
    for entry in wanted:
        for line in entry.trustlines:
            _genesis_trustline(state, entry.account_id, line, usdc, genesis_ledger)
    for entry in wanted:
        if entry.balance < state.min_balance(state.accounts[entry.account_id]):
            raise LedgerConfigError(f"genesis account {entry.account_id} balance is below its minimum balance")
    assets = [NATIVE, usdc, *sorted(a for a in state.issued if a != usdc)]
    state.contract_data.update(deploy_genesis(assets, network_id(config.passphrase), genesis_ledger,
                                              SETTINGS.max_entry_ttl))
    return state


def _genesis_trustline(state: LedgerState, account_id: str, line: GenesisTrustline, usdc: str, ledger: int) -> None:
    asset = line.asset if ":" in line.asset else f"{line.asset}:{issuer_of(usdc)}"
    if ":" not in line.asset and asset != usdc:
        raise LedgerConfigError(f"genesis trustline {line.asset!r} of {account_id}: a bare code must be "
                                f"the offline asset's ({usdc.split(':')[0]})")
    issuer = issuer_of(asset)
    if issuer == account_id or issuer not in state.accounts:
        raise LedgerConfigError(f"genesis trustline {asset} of {account_id}: its issuer must be another genesis account")
    if state.trustline(account_id, asset) is not None:
        raise LedgerConfigError(f"genesis trustline {asset} of {account_id} is listed twice")
    state.put_trustline(TrustLine(account_id, asset, line.balance, line.limit,
                                  TL_AUTHORIZED if line.authorized else 0, ledger))
    state.accounts[account_id].subentry_count += 1
    state.issued[asset] = state.issued.get(asset, 0) + line.balance
