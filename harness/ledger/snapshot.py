"""Snapshot a ledger to JSON and restore it, so a run can be inspected or replayed from a known state.

A snapshot holds the state (accounts, trustlines, issued amounts, claimable balances, Soroban contract
data - SAC instances, contract balances, nonces - and the fee pool), every
ledger header, every applied transaction (so resubmissions still get their stored outcome), the
queue (queued envelopes with their ages, the ban list) and the history. The access log is runtime
evidence and is not part of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.ledger.config import LedgerConfig
from harness.ledger.envelope import parse_envelope
from harness.ledger.errors import LedgerConfigError, MalformedEnvelopeError
from harness.ledger.history import History
from harness.ledger.ledger import Ledger
from harness.ledger.records import AppliedTx, LedgerHeader
from harness.ledger.soroban.contracts import ContractData
from harness.ledger.state import Account, ClaimableBalance, TrustLine
from reference_impl.clock import SYSTEM_CLOCK, Clock

SNAPSHOT_VERSION = 3


def snapshot_ledger(ledger: Ledger) -> dict[str, Any]:
    """JSON-ready dict of `ledger` (call with the ledger's lock held)."""
    state = ledger._state
    return {
        "version": SNAPSHOT_VERSION,
        "passphrase": ledger.passphrase,
        "base_fee": state.base_fee,
        "base_reserve": state.base_reserve,
        "total_coins": state.total_coins,
        "fee_pool": state.fee_pool,
        "accounts": [a.to_json() for a in state.accounts.values()],
        "claimable_balances": [c.to_json() for c in state.claimable.values()],
        "trustlines": [t.to_json() for t in state.all_trustlines()],
        "issued": dict(state.issued),
        "contract_data": {k: d.to_json() for k, d in state.contract_data.items()},
        "headers": [h.to_json() for h in ledger._headers],
        "transactions": [t.to_json() for t in ledger._outcomes.values()],
        "queue": ledger._queue.snapshot(),
        "last_seq": dict(ledger._last_seq),
        "history": ledger._history.since(0),
    }


def restore_ledger(cls: type[Ledger], data: dict[str, Any], config: LedgerConfig | None,
                   clock: Clock = SYSTEM_CLOCK) -> Ledger:
    """Build a ledger from `snapshot_ledger` output; raises LedgerConfigError on a bad snapshot."""
    if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
        raise LedgerConfigError(f"not a ledger snapshot (version {SNAPSHOT_VERSION} expected)")
    config = config or LedgerConfig(passphrase=data.get("passphrase", ""))
    if data.get("passphrase") != config.passphrase:
        raise LedgerConfigError("snapshot passphrase differs from the configured passphrase")
    ledger = cls(config, clock)
    try:
        state = ledger._state
        state.base_fee, state.base_reserve = int(data["base_fee"]), int(data["base_reserve"])
        state.total_coins, state.fee_pool = int(data["total_coins"]), int(data["fee_pool"])
        state.accounts = {a.account_id: a for a in (Account.from_json(o) for o in data["accounts"])}
        state.claimable = {c.balance_id: c for c in (ClaimableBalance.from_json(o)
                                                     for o in data["claimable_balances"])}
        state.trustlines = {}
        for line in (TrustLine.from_json(o) for o in data["trustlines"]):
            state.put_trustline(line)
        state.issued = {str(k): int(v) for k, v in data["issued"].items()}
        state.contract_data = {str(k): ContractData.from_json(v) for k, v in data["contract_data"].items()}
        ledger._headers = [LedgerHeader(**h) for h in data["headers"]]
        ledger._outcomes = {t.hash: t for t in (AppliedTx.from_json(o) for o in data["transactions"])}
        ledger._inner = {t.inner_hash: t.hash for t in ledger._outcomes.values() if t.inner_hash}
        ledger._last_seq = {str(k): int(v) for k, v in data["last_seq"].items()}
        ledger._history = History(data["history"])
        ledger._queue.restore(data["queue"], lambda xdr: parse_envelope(xdr, config.passphrase, ledger.network_id))
    except (KeyError, TypeError, ValueError, MalformedEnvelopeError) as exc:
        raise LedgerConfigError(f"corrupt ledger snapshot: {type(exc).__name__}: {exc}") from None
    if not ledger._headers:
        raise LedgerConfigError("corrupt ledger snapshot: no ledger headers")
    return ledger



def save_snapshot(ledger: Ledger, path: Path) -> None:
    """Write `ledger.snapshot()` to `path` atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ledger.snapshot(), sort_keys=True))
    tmp.replace(path)


def load_snapshot(path: Path) -> dict[str, Any]:
    """Read a snapshot file; raises LedgerConfigError if it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise LedgerConfigError(f"cannot read snapshot {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise LedgerConfigError(f"snapshot {path} is not JSON: {exc.msg}") from None
