"""`Ledger`: the offline network's state machine - submission queue, ledger closes, lookups, history.

Thread-safe: every public method takes one re-entrant lock, so an HTTP event loop and a test thread
can both use the same ledger. Nothing here blocks or sleeps; waiting for inclusion is the caller's
business (listeners are told about every applied or dropped transaction).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stellar_sdk import Account as SdkAccount
from stellar_sdk import TransactionBuilder

from harness.ledger.apply import apply_transaction, check_transaction
from harness.ledger.config import TOTAL_COINS, LedgerConfig, format_amount
from harness.ledger.envelope import ParsedTx, network_id, parse_envelope
from harness.ledger.errors import LedgerError, MalformedEnvelopeError
from harness.ledger.genesis import genesis_state, root_keypair
from harness.ledger.history import AccessLog, History, check_invariants
from harness.ledger.records import AppliedTx, ClosedLedger, Dropped, LedgerHeader, SubmitResult, SubmitStatus
from harness.ledger.results import TxResult
from harness.ledger.state import Account, ClaimableBalance, LedgerState, is_account_id
from reference_impl.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
Outcome = AppliedTx | Dropped
OutcomeListener = Callable[[str, Outcome], None]


class InvalidAddressError(LedgerError, ValueError):
    """An account id given to the ledger (e.g. friendbot's `addr`) is not a valid G... StrKey."""


@dataclass(slots=True)
class _Pending:
    ptx: ParsedTx
    submitted_ledger: int


class Ledger:
    """Accounts, queue, closes and history of one offline network."""

    def __init__(self, config: LedgerConfig | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config or LedgerConfig()
        self.clock = clock
        self.passphrase = self.config.passphrase
        self.network_id = network_id(self.passphrase)
        self.root = root_keypair(self.passphrase)
        self._lock = threading.RLock()
        self._state: LedgerState = genesis_state(self.config, TOTAL_COINS)
        genesis_hash = hashlib.sha256(self.network_id + b"genesis" + str(self.config.seed).encode()).hexdigest()
        self._headers: list[LedgerHeader] = [self._header(1, genesis_hash, "0" * 64, int(clock.time()), 0, 0, 0)]
        self._pending: dict[str, _Pending] = {}
        self._by_account: dict[str, dict[int, str]] = {}
        self._outcomes: dict[str, AppliedTx] = {}
        self._last_seq: dict[str, int] = {}
        self._history = History()
        self._access = AccessLog()
        self._listeners: list[OutcomeListener] = []

    # ----------------------------------------------------------------- submission
    def submit(self, envelope_b64: str, *, endpoint: str = "async", listener: int = 0) -> SubmitResult:
        """Check and queue an envelope. Never blocks; raises MalformedEnvelopeError for undecodable input."""
        try:
            ptx = parse_envelope(envelope_b64, self.passphrase, self.network_id)
        except MalformedEnvelopeError as exc:
            with self._lock:
                self._record("submission", hash=None, endpoint=endpoint, listener=listener, outcome="malformed",
                             reason=str(exc), source=None, seq=None)
            raise
        with self._lock:
            result = self._admit(ptx)
            outcome = {SubmitStatus.PENDING: "queued", SubmitStatus.DUPLICATE: "duplicate",
                       SubmitStatus.KNOWN: "known", SubmitStatus.ERROR: "rejected",
                       SubmitStatus.TRY_AGAIN_LATER: "try_again_later"}[result.status]
            extra = {"codes": result.rejection.result_codes()} if result.rejection else {}
            self._record("submission", hash=result.hash, endpoint=endpoint, listener=listener, outcome=outcome,
                         source=ptx.source, seq=ptx.seq, **extra)
            return result

    def _admit(self, ptx: ParsedTx) -> SubmitResult:
        tx_hash = ptx.hash_hex
        if tx_hash in self._outcomes:
            return SubmitResult(SubmitStatus.KNOWN, tx_hash, applied=self._outcomes[tx_hash])
        if tx_hash in self._pending:
            return SubmitResult(SubmitStatus.DUPLICATE, tx_hash)
        if len(self._pending) >= self.config.max_pending:
            return SubmitResult(SubmitStatus.TRY_AGAIN_LATER, tx_hash)
        check = check_transaction(self._state, ptx, int(self.clock.time()), applying=False)
        if check.rejection is not None:
            return SubmitResult(SubmitStatus.ERROR, tx_hash, rejection=check.rejection)
        queued = self._by_account.get(ptx.source, {})
        current = self._state.accounts[ptx.source].seq_num
        if ptx.seq in queued or ptx.seq > current + self.config.max_seq_gap:
            return SubmitResult(SubmitStatus.ERROR, tx_hash, rejection=TxResult("tx_bad_seq"))
        if len(queued) >= self.config.max_account_queue:
            return SubmitResult(SubmitStatus.TRY_AGAIN_LATER, tx_hash)
        self._by_account.setdefault(ptx.source, {})[ptx.seq] = tx_hash
        self._pending[tx_hash] = _Pending(ptx, self._headers[-1].sequence)
        return SubmitResult(SubmitStatus.PENDING, tx_hash)

    def record_timeout(self, tx_hash: str, listener: int = 0) -> None:
        """Note in the history that a sync submission of `tx_hash` was answered 504."""
        with self._lock:
            self._record("timeout", hash=tx_hash, listener=listener)

    def add_listener(self, listener: OutcomeListener) -> None:
        """Call `listener(hash, outcome)` for every transaction applied or dropped from now on."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: OutcomeListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # ----------------------------------------------------------------- closing
    def close_ledger(self) -> ClosedLedger:
        """Close the next ledger: apply queued transactions in arrival order (gaps wait), check invariants."""
        with self._lock:
            prev = self._headers[-1]
            sequence = prev.sequence + 1
            close_time = max(prev.close_time, int(self.clock.time()))
            applied: list[AppliedTx] = []
            dropped: list[Dropped] = []
            violations: list[str] = []
            budget = self.config.max_tx_set_size
            for tx_hash in list(self._pending):
                entry = self._pending.get(tx_hash)
                while entry is not None and budget > 0:
                    account = self._state.accounts.get(entry.ptx.source)
                    if account is not None and entry.ptx.seq > account.seq_num + 1:
                        break  # a gap: wait for the missing sequence numbers
                    self._unqueue(entry.ptx)
                    check = check_transaction(self._state, entry.ptx, close_time, applying=True)
                    if check.rejection is not None:
                        dropped.append(Dropped(entry.ptx.hash_hex, entry.ptx.source, entry.ptx.seq, sequence,
                                               check.rejection))
                        break
                    applied.append(self._apply(entry.ptx, sequence, close_time, len(applied) + 1, violations))
                    budget -= 1
                    next_hash = self._by_account.get(entry.ptx.source, {}).get(entry.ptx.seq + 1)
                    entry = self._pending.get(next_hash) if next_hash else None
            for entry in list(self._pending.values()):
                if sequence - entry.submitted_ledger >= self.config.pending_ttl_ledgers:
                    self._unqueue(entry.ptx)
                    dropped.append(Dropped(entry.ptx.hash_hex, entry.ptx.source, entry.ptx.seq, sequence,
                                           TxResult("tx_bad_seq")))
            failed = sum(1 for a in applied if not a.successful)
            ops = sum(len(a.operations) for a in applied)
            ledger_hash = hashlib.sha256(bytes.fromhex(prev.hash) + sequence.to_bytes(8, "big")
                                         + close_time.to_bytes(8, "big")
                                         + b"".join(bytes.fromhex(a.hash) for a in applied)).hexdigest()
            header = self._header(sequence, ledger_hash, prev.hash, close_time, len(applied) - failed, failed, ops)
            self._headers.append(header)
            for a in applied:
                self._record_dict(a.history_record())
            for d in dropped:
                self._record("dropped", hash=d.hash, source=d.source, seq=d.seq, ledger=d.ledger,
                             reason=d.result.code)
            self._record("close", ledger=sequence, close_time=close_time, hash=ledger_hash,
                         tx_count=len(applied), failed_count=failed, op_count=ops)
            violations += check_invariants(self._state)
            for violation in violations:
                self._record("invariant_violation", ledger=sequence, violation=violation)
            for outcome in (*applied, *dropped):
                for listener in list(self._listeners):
                    try:
                        listener(outcome.hash, outcome)
                    except Exception:  # a failing observer must never break a ledger close
                        log.exception("ledger outcome listener failed")
            return ClosedLedger(header, tuple(applied), tuple(dropped), tuple(violations))

    def _apply(self, ptx: ParsedTx, sequence: int, close_time: int, order: int, violations: list[str]) -> AppliedTx:
        """Apply one transaction as the `order`-th (1-based) of ledger `sequence`, Horizon's TOID position."""
        last = self._last_seq.get(ptx.source)
        if last is not None and ptx.seq <= last:
            violations.append(f"sequence numbers of {ptx.source} not strictly increasing: {last} then {ptx.seq}")
        self._last_seq[ptx.source] = ptx.seq
        done = apply_transaction(self._state, ptx, sequence, close_time)
        applied = AppliedTx.build(ptx, done.result, done.operations, sequence, close_time, order)
        self._outcomes[applied.hash] = applied
        return applied

    def _unqueue(self, ptx: ParsedTx) -> None:
        self._pending.pop(ptx.hash_hex, None)
        queued = self._by_account.get(ptx.source)
        if queued is not None:
            queued.pop(ptx.seq, None)
            if not queued:
                del self._by_account[ptx.source]

    def _header(self, sequence: int, ledger_hash: str, prev_hash: str, close_time: int, ok: int, failed: int,
                ops: int) -> LedgerHeader:
        return LedgerHeader(sequence, ledger_hash, prev_hash, close_time, ok, failed, ops, self.config.base_fee,
                            self.config.base_reserve, self.config.max_tx_set_size, self.config.protocol_version,
                            self._state.total_coins, self._state.fee_pool)

    # ----------------------------------------------------------------- friendbot
    def friendbot_envelope(self, account_id: str) -> str:
        """A CreateAccount transaction from the root account, signed, for friendbot to submit."""
        if not is_account_id(account_id):
            raise InvalidAddressError("addr is not a valid G... account id")
        with self._lock:
            root_id = self.root.public_key
            queued = self._by_account.get(root_id, {})
            seq = max([self._state.accounts[root_id].seq_num, *queued])
            tx = (TransactionBuilder(SdkAccount(root_id, seq), self.passphrase, self.config.base_fee)
                  .append_create_account_op(account_id, format_amount(self.config.friendbot_amount))
                  .add_time_bounds(0, 0).build())
            tx.sign(self.root)
            return tx.to_xdr()

    # ----------------------------------------------------------------- lookups
    def transaction(self, tx_hash: str) -> AppliedTx | None:
        with self._lock:
            return self._outcomes.get(tx_hash.lower())

    def is_pending(self, tx_hash: str) -> bool:
        with self._lock:
            return tx_hash.lower() in self._pending

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def account(self, account_id: str) -> Account | None:
        with self._lock:
            account = self._state.accounts.get(account_id)
            return account.clone() if account is not None else None

    def claimable_balance(self, balance_id: str) -> ClaimableBalance | None:
        with self._lock:
            balance = self._state.claimable.get(balance_id.lower())
            return balance.clone() if balance is not None else None

    def claimable_balances(self, claimant: str | None = None, sponsor: str | None = None) -> list[ClaimableBalance]:
        with self._lock:
            return [b.clone() for b in self._state.claimable.values()
                    if (claimant is None or any(d == claimant for d, _ in b.claimants))
                    and (sponsor is None or b.sponsor == sponsor)]

    def latest(self) -> LedgerHeader:
        with self._lock:
            return self._headers[-1]

    def header(self, sequence: int) -> LedgerHeader | None:
        with self._lock:
            return self._headers[sequence - 1] if 1 <= sequence <= len(self._headers) else None

    def headers(self, *, descending: bool, limit: int, cursor: int | None) -> list[LedgerHeader]:
        """A page of ledger headers after `cursor` (a ledger sequence) in the given order."""
        with self._lock:
            if descending:
                top = len(self._headers) if cursor is None else min(cursor - 1, len(self._headers))
                return [self._headers[i - 1] for i in range(top, max(0, top - limit), -1)]
            start = 0 if cursor is None else max(0, cursor)
            return self._headers[start:start + limit]

    def balance_of(self, account_id: str) -> int:
        """Native balance in stroops (0 for an unknown account)."""
        with self._lock:
            account = self._state.accounts.get(account_id)
            return account.balance if account else 0

    def fee_pool(self) -> int:
        with self._lock:
            return self._state.fee_pool

    # ----------------------------------------------------------------- evidence
    def history(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """History records `since..since+limit-1` (all remaining when `limit` is None)."""
        with self._lock:
            return self._history.since(since, limit)

    def access_log(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Access-log entries `since..since+limit-1` (all remaining when `limit` is None)."""
        with self._lock:
            return self._access.since(since, limit)

    def log_access(self, listener: int, method: str, path: str, status: int, at: float | None = None) -> None:
        """Append an access-log entry; `at` is when the request arrived (default: now)."""
        with self._lock:
            self._access.append(self.clock.time() if at is None else at, listener, method, path, status)

    def check_invariants(self) -> list[str]:
        """Current violations of the state invariants (empty = all hold)."""
        with self._lock:
            return check_invariants(self._state)

    def write_history(self, path: Any) -> int:
        with self._lock:
            return self._history.write_jsonl(path)

    def _record(self, kind: str, **fields: Any) -> None:
        self._record_dict({"kind": kind, **fields})

    def _record_dict(self, record: dict[str, Any]) -> None:
        record["t"] = self.clock.time()
        self._history.append(record)

    # ----------------------------------------------------------------- snapshots
    def snapshot(self) -> dict[str, Any]:
        """The whole ledger as a JSON-ready dict (see harness.ledger.snapshot)."""
        from harness.ledger.snapshot import snapshot_ledger

        with self._lock:
            return snapshot_ledger(self)

    @classmethod
    def restore(cls, data: dict[str, Any], config: LedgerConfig | None = None,
                clock: Clock = SYSTEM_CLOCK) -> Ledger:
        """A ledger in exactly the state `snapshot()` captured."""
        from harness.ledger.snapshot import restore_ledger

        return restore_ledger(cls, data, config, clock)
