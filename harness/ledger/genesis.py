"""Genesis: the root account, seed-accounts files and deterministic generated accounts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stellar_sdk import Keypair

from harness.ledger.config import GenesisAccount, LedgerConfig, parse_amount
from harness.ledger.envelope import network_id
from harness.ledger.errors import LedgerConfigError
from harness.ledger.state import Account, LedgerState, is_account_id


def root_keypair(passphrase: str) -> Keypair:
    """The network's root account, as stellar-core derives it: ed25519 seed = network id."""
    return Keypair.from_raw_ed25519_seed(network_id(passphrase))


def generated_keypair(seed: int, index: int) -> Keypair:
    """Keypair of generated genesis account `index` for run seed `seed` (callers regenerate it to sign)."""
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(f"srh-ledger:{seed}:{index}".encode()).digest())


def parse_seed_accounts(obj: Any) -> tuple[GenesisAccount, ...]:
    """Validate `[{"account_id": "G...", "balance": "10000.0000000"}, ...]`; raises LedgerConfigError."""
    if not isinstance(obj, list):
        raise LedgerConfigError("seed accounts must be a JSON list of {account_id, balance} objects")
    accounts: list[GenesisAccount] = []
    seen: set[str] = set()
    for i, item in enumerate(obj):
        if not isinstance(item, dict) or set(item) != {"account_id", "balance"}:
            raise LedgerConfigError(f"seed account [{i}] must have exactly the keys account_id and balance")
        account_id = item["account_id"]
        if not isinstance(account_id, str) or not is_account_id(account_id):
            raise LedgerConfigError(f"seed account [{i}].account_id is not a valid G... account id")
        if account_id in seen:
            raise LedgerConfigError(f"seed account [{i}].account_id is listed twice")
        seen.add(account_id)
        balance = parse_amount(item["balance"], f"seed account [{i}].balance")
        accounts.append(GenesisAccount(account_id, balance))
    return tuple(accounts)


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
    wanted = list(config.genesis_accounts)
    wanted += [GenesisAccount(generated_keypair(config.seed, i).public_key, config.generated_balance)
               for i in range(config.generate_accounts)]
    for entry in wanted:
        if entry.account_id in state.accounts:
            raise LedgerConfigError(f"genesis account {entry.account_id} is listed twice or is the root")
        if entry.balance < 2 * config.base_reserve:
            raise LedgerConfigError(f"genesis account {entry.account_id} balance is below the minimum balance")
        root.balance -= entry.balance
        state.accounts[entry.account_id] = Account(entry.account_id, entry.balance, genesis_ledger << 32,
                                                   last_modified_ledger=genesis_ledger)
    return state
