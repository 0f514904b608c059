"""The host's ledger storage for one invocation (rs-soroban-env v21.0.0 `storage.rs`, `e2e_invoke.rs`).

Recording mode (every simulation, whatever its auth mode) records each access: a read as read-only, a
write as read-write. Enforcing mode (apply, against the declared footprint) refuses an access outside
the footprint, or a write to a read-only key, with (Storage, ExceededLimit) as
`Footprint::enforce_access` does. Entries are read and written
through the transaction's Journal, so a failed invocation rolls back. Sizes are XDR sizes of the
`LedgerEntry`, what core meters as read and write bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import xdr as X

from harness.ledger.journal import Journal
from harness.ledger.meta import ledger_entry as classic_entry
from harness.ledger.meta import ledger_key as classic_key
from harness.ledger.soroban.contracts import ContractData, key_id
from harness.ledger.soroban.fees import RentChange
from harness.ledger.soroban.footprint import RO, RW, classic_ref
from harness.ledger.soroban.values import EC, ET, HostError, sc_error
from harness.ledger.state import Account, TrustLine


@dataclass(slots=True)
class Access:
    key: X.LedgerKey
    mode: str
    old_entry: X.LedgerEntry | None
    old_live_until: int

    @property
    def old_size(self) -> int:
        return len(self.old_entry.to_xdr_bytes()) if self.old_entry is not None else 0


class HostStorage:
    """Ledger access of one host invocation, over a journal; `declared` None = recording mode."""

    def __init__(self, journal: Journal, declared: dict[str, str] | None, ledger_seq: int) -> None:
        self.journal = journal
        self.declared = declared
        self.ledger_seq = ledger_seq
        self.accessed: dict[str, Access] = {}

    def _touch(self, key: X.LedgerKey, write: bool, message: str, arg: X.SCVal | None) -> str:
        kid = key_id(key)
        if self.declared is not None:
            mode = self.declared.get(kid)
            if mode is None or (write and mode == RO):
                raise HostError(sc_error(ET.SCE_STORAGE, EC.SCEC_EXCEEDED_LIMIT), message,
                                (arg,) if arg is not None else ())
        seen = self.accessed.get(kid)
        if seen is None:
            entry = self.entry(key)
            data = self.journal.state.contract_data.get(kid) if entry is not None else None
            self.accessed[kid] = Access(key, RW if write else RO, entry, data.live_until if data is not None else 0)
        elif write:
            seen.mode = RW
        return kid

    def entry(self, key: X.LedgerKey) -> X.LedgerEntry | None:
        """The live LedgerEntry under `key` (expired contract data counts as absent), without recording."""
        state = self.journal.state
        if key.type == X.LedgerEntryType.CONTRACT_DATA:
            data = state.contract_data.get(key_id(key))
            return data.ledger_entry() if data is not None and data.live_until >= self.ledger_seq else None
        ref = classic_ref(key)
        value: Account | TrustLine | None = state.accounts.get(ref[1]) if ref[0] == "account" \
            else state.trustline(ref[1], ref[2])
        return classic_entry(ref, value, value.last_modified_ledger) if value is not None else None

    # ------------------------------------------------------------- classic entries
    def account(self, account_id: str, write: bool, arg: X.SCVal | None = None) -> Account | None:
        self._touch(classic_key(("account", account_id)), write,
                    "trying to access account entry outside of the footprint", arg)
        return self.journal.account(account_id)

    def trustline(self, account_id: str, asset: str, write: bool, arg: X.SCVal | None = None) -> TrustLine | None:
        self._touch(classic_key(("trustline", account_id, asset)), write,
                    "trying to access account trustline entry outside of the footprint", arg)
        return self.journal.trustline(account_id, asset)

    # ------------------------------------------------------------- contract data
    def contract_data(self, key: X.LedgerKey, write: bool, message: str, arg: X.SCVal | None) -> ContractData | None:
        kid = self._touch(key, write, message, arg)
        data = self.journal.contract(kid)
        return data if data is not None and data.live_until >= self.ledger_seq else None

    def put_contract_data(self, key: X.LedgerKey, entry: X.ContractDataEntry, live_until: int,
                          message: str, arg: X.SCVal | None) -> ContractData:
        kid = self._touch(key, True, message, arg)
        self.journal.contract(kid)
        data = ContractData(entry, live_until, self.ledger_seq)
        self.journal.state.contract_data[kid] = data
        return data

    # ------------------------------------------------------------- what the invocation did
    def footprint(self) -> X.LedgerFootprint:
        """The recorded footprint, each side sorted (simulate_invoke_host_function_op_resources sorts;
        here by key XDR bytes)."""
        ro = sorted((a.key for a in self.accessed.values() if a.mode == RO), key=lambda k: k.to_xdr_bytes())
        rw = sorted((a.key for a in self.accessed.values() if a.mode == RW), key=lambda k: k.to_xdr_bytes())
        return X.LedgerFootprint(ro, rw)

    def read_bytes(self) -> int:
        return sum(a.old_size for a in self.accessed.values())

    def write_bytes(self) -> int:
        """Sizes of the read-write entries that exist after the invocation (the host's modified entries)."""
        sizes = (self.entry(a.key) for a in self.accessed.values() if a.mode == RW)
        return sum(len(e.to_xdr_bytes()) for e in sizes if e is not None)

    def rent_changes(self) -> list[RentChange]:
        """extract_rent_changes: contract data entries whose TTL was extended or whose size grew."""
        out = []
        for kid, a in self.accessed.items():
            data = self.journal.state.contract_data.get(kid)
            if a.key.type != X.LedgerEntryType.CONTRACT_DATA or data is None:
                continue
            new_size = len(data.ledger_entry().to_xdr_bytes())
            if data.live_until <= a.old_live_until and new_size <= a.old_size:
                continue
            out.append(RentChange(data.persistent, a.old_size, new_size, a.old_live_until, data.live_until))
        return out
