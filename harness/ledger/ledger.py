"""`Ledger`: the offline network's state machine - submission queue, ledger closes, lookups, history.

Thread-safe: every public method takes one re-entrant lock, so an HTTP event loop and a test thread
can both use the same ledger. Nothing here blocks or sleeps; waiting for inclusion is the caller's
business (listeners are told about every applied or dropped transaction).

Submission follows Horizon's txsub (stellar-horizon internal/txsub/system.go `Submit`): a sync or
friendbot submission first looks the hash up among applied transactions (outer or inner hash) and
gets the stored outcome; everything else goes to the queue, which answers as stellar-core's
TransactionQueue does (see harness.ledger.queue).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from stellar_sdk import Account as SdkAccount
from stellar_sdk import TransactionBuilder

from harness.ledger.apply import Applied, apply_transaction, charge_fee
from harness.ledger.config import TOTAL_COINS, LedgerConfig, format_amount
from harness.ledger.envelope import ParsedTx, network_id, parse_envelope
from harness.ledger.errors import LedgerError, MalformedEnvelopeError
from harness.ledger.genesis import genesis_state, root_keypair
from harness.ledger.history import AccessLog, History, check_invariants
from harness.ledger.queue import TxQueue
from harness.ledger.records import AppliedTx, ClosedLedger, Dropped, LedgerHeader, SubmitResult, SubmitStatus
from harness.ledger.results import TxResult
from harness.ledger.soroban.contracts import evict_expired
from harness.ledger.state import Account, ClaimableBalance, LedgerState, TrustLine, is_account_id
from harness.ledger.validity import check_transaction
from reference_impl.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
Outcome = AppliedTx | Dropped
OutcomeListener = Callable[[str, Outcome], None]
QUEUE_TIMEOUT = "tx_queue_timeout"  # reason of a transaction evicted after PENDING_DEPTH closes


class InvalidAddressError(LedgerError, ValueError):
    """An account id given to the ledger (e.g. friendbot's `addr`) is not a valid G... StrKey."""


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
        self._queue = TxQueue(self.config.max_pending)
        self._outcomes: dict[str, AppliedTx] = {}
        self._inner: dict[str, str] = {}  # inner hash of an applied fee bump -> its hash
        self._last_seq: dict[str, int] = {}
        self._history = History()
        self._access = AccessLog()
        self._listeners: list[OutcomeListener] = []

    # ----------------------------------------------------------------- submission
    def submit(self, envelope_b64: str, *, endpoint: str = "async", listener: int = 0) -> SubmitResult:
        """Check and queue an envelope. Never blocks; raises MalformedEnvelopeError for undecodable input.

        `endpoint` "sync"/"friendbot" get Horizon's lookup of already applied hashes first (KNOWN);
        "async" (Horizon's /transactions_async) and "rpc" (Soroban RPC's sendTransaction) go straight to
        the queue, as stellar-core answers them.
        """
        try:
            ptx = parse_envelope(envelope_b64, self.passphrase, self.network_id)
        except MalformedEnvelopeError as exc:
            with self._lock:
                self._record("submission", hash=None, endpoint=endpoint, listener=listener, outcome="malformed",
                             reason=str(exc), source=None, seq=None)
            raise
        with self._lock:
            result = self._admit(ptx, endpoint)
            outcome = {SubmitStatus.PENDING: "queued", SubmitStatus.DUPLICATE: "duplicate",
                       SubmitStatus.KNOWN: "known", SubmitStatus.ERROR: "rejected",
                       SubmitStatus.TRY_AGAIN_LATER: "try_again_later"}[result.status]
            extra = {"codes": result.rejection.result_codes()} if result.rejection else {}
            self._record("submission", hash=result.hash, endpoint=endpoint, listener=listener, outcome=outcome,
                         source=ptx.source, seq=ptx.seq, **extra)
            return result

    def _admit(self, ptx: ParsedTx, endpoint: str) -> SubmitResult:
        tx_hash = ptx.hash_hex
        if endpoint in ("sync", "friendbot"):
            known = self._lookup(tx_hash)
            if known is not None:
                return SubmitResult(SubmitStatus.KNOWN, tx_hash, applied=known)
        added = self._queue.try_add(ptx, self._state, self._now())
        return SubmitResult(SubmitStatus(added.status.value), tx_hash, rejection=added.rejection)

    def _now(self) -> int:
        """The time admission checks use: the next close's time as far as it is known now."""
        return max(self._headers[-1].close_time, int(self.clock.time()))

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
        """Close the next ledger: pick a tx set from the queue, charge every fee, apply in order, then
        update the queue as HerderImpl::updateTransactionQueue does; check the invariants."""
        with self._lock:
            prev = self._headers[-1]
            sequence = prev.sequence + 1
            close_time = max(prev.close_time, int(self.clock.time()))
            violations: list[str] = []
            tx_set = self._tx_set(close_time)
            fees = [charge_fee(self._state, ptx, sequence, close_time) for ptx in tx_set]
            applied = [self._apply(ptx, fee, meta, sequence, close_time, order, violations)
                       for order, (ptx, (fee, meta)) in enumerate(zip(tx_set, fees, strict=True), start=1)]
            evict_expired(self._state, sequence)
            self._queue.remove_applied(tx_set)
            dropped = [Dropped(p.hash_hex, p.source, p.seq, sequence, TxResult(QUEUE_TIMEOUT))
                       for p in self._queue.shift()]
            checked = [(p, check_transaction(self._state, p, close_time).rejection) for p in self._queue.pending()]
            invalid = [(p, r) for p, r in checked if r is not None]
            self._queue.ban([p for p, _ in invalid])
            dropped += [Dropped(p.hash_hex, p.source, p.seq, sequence, TxResult(r.code)) for p, r in invalid]
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
            self._notify(applied, dropped)
            return ClosedLedger(header, tuple(applied), tuple(dropped), tuple(violations))

    def _tx_set(self, close_time: int) -> list[ParsedTx]:
        """The queued transactions that are valid now, highest fee per operation first when they do not
        all fit in `max_tx_set_size` operations (surge pricing), else in arrival order."""
        valid = [p for p in self._queue.pending() if check_transaction(self._state, p, close_time).rejection is None]
        if sum(p.op_count for p in valid) <= self.config.max_tx_set_size:
            return valid
        chosen, room = [], self.config.max_tx_set_size
        for ptx in sorted(valid, key=lambda p: -p.full_fee / p.op_count):
            if ptx.op_count <= room:
                chosen.append(ptx)
                room -= ptx.op_count
        order = {id(p): i for i, p in enumerate(valid)}
        return sorted(chosen, key=lambda p: order[id(p)])

    def _notify(self, applied: list[AppliedTx], dropped: list[Dropped]) -> None:
        """Tell listeners; a fee bump is announced under its inner hash too (txsub's Tick maps both)."""
        events: list[tuple[str, Outcome]] = [(a.hash, a) for a in applied]
        events += [(a.inner_hash, a) for a in applied if a.inner_hash]
        events += [(d.hash, d) for d in dropped]
        for tx_hash, outcome in events:
            for listener in list(self._listeners):
                try:
                    listener(tx_hash, outcome)
                except Exception:  # a failing observer must never break a ledger close
                    log.exception("ledger outcome listener failed")

    def _apply(self, ptx: ParsedTx, fee: int, fee_meta: str, sequence: int, close_time: int, order: int,
               violations: list[str]) -> AppliedTx:
        """Apply one transaction as the `order`-th (1-based) of ledger `sequence`, Horizon's TOID position."""
        last = self._last_seq.get(ptx.source)
        if last is not None and ptx.seq <= last:
            violations.append(f"sequence numbers of {ptx.source} not strictly increasing: {last} then {ptx.seq}")
        done: Applied = apply_transaction(self._state, ptx, fee, sequence, close_time, fee_meta, self.network_id)
        if done.result.code not in ("tx_bad_seq", "tx_no_source_account"):
            self._last_seq[ptx.source] = ptx.seq
        applied = AppliedTx.build(ptx, done, sequence, close_time, order)
        self._outcomes[applied.hash] = applied
        if applied.inner_hash:
            self._inner[applied.inner_hash] = applied.hash
        return applied

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
            seq = self._state.accounts[root_id].seq_num
            tx = (TransactionBuilder(SdkAccount(root_id, seq), self.passphrase, self.config.base_fee)
                  .append_create_account_op(account_id, format_amount(self.config.friendbot_amount))
                  .add_time_bounds(0, 0).build())
            tx.sign(self.root)
            return tx.to_xdr()

    # ----------------------------------------------------------------- lookups
    def transaction(self, tx_hash: str) -> AppliedTx | None:
        """The applied transaction with this hash, or the fee bump whose inner hash it is (as Horizon)."""
        with self._lock:
            return self._lookup(tx_hash.lower())

    def _lookup(self, tx_hash: str) -> AppliedTx | None:
        found = self._outcomes.get(tx_hash)
        if found is None and tx_hash in self._inner:
            found = self._outcomes.get(self._inner[tx_hash])
        return found

    def is_pending(self, tx_hash: str) -> bool:
        with self._lock:
            return tx_hash.lower() in self._queue

    def queued_for(self, account_id: str) -> str | None:
        """Hash of the transaction the account has queued, if any (at most one, as in stellar-core)."""
        with self._lock:
            ptx = self._queue.queued_for(account_id)
            return ptx.hash_hex if ptx is not None else None

    def pending_count(self) -> int:
        with self._lock:
            return len(self._queue)

    def account(self, account_id: str) -> Account | None:
        with self._lock:
            account = self._state.accounts.get(account_id)
            return account.clone() if account is not None else None

    def trustlines(self, account_id: str) -> list[TrustLine]:
        """The account's trustlines (copies), ordered by asset."""
        with self._lock:
            return [t.clone() for t in self._state.trustlines_of(account_id)]

    def issued(self, asset: str) -> int:
        """Stroops of a credit asset its issuer has in circulation (trustlines + claimable balances)."""
        with self._lock:
            return self._state.issued.get(asset, 0)

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

    def with_state(self, fn: Callable[[LedgerState, LedgerHeader], Any]) -> Any:
        """Run `fn(state, latest header)` under the ledger's lock (read-only users: Soroban RPC, simulation)."""
        with self._lock:
            return fn(self._state, self._headers[-1])

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
