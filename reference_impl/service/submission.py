"""Ledger submissions with idempotency: build from a pool account, sign, submit, record the outcome,
and resolve unknown outcomes by transaction-hash lookup so a retry never pays twice.

Used by settlements, escrow and (for client-signed transactions) the x402 path. A record is
`pending` while in flight, then `success` / `failed` (final) or `unknown` (no endpoint answered).
An unknown record's pool account is quarantined (stellar-core would refuse anything newer from it
while the same bytes may still be queued) and a background task looks the hash up (resubmitting the
*same* signed bytes while the time bounds allow) until the outcome is known, then frees it.
TRY_AGAIN_LATER on every retry applied nothing: the sequence number is given back and the request
answers 503, like a submission that could not be sent.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import Account, Keypair, TransactionBuilder, TransactionEnvelope

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.error_logger import ErrorLogger, ErrorSeverity
from reference_impl.errors import ReferenceImplError
from reference_impl.service.sequence_pool import PoolAccount, SequencePool
from reference_impl.service.stellar_client import (
    FailoverStellarClient,
    NotAppliedError,
    StellarUnavailableError,
    SubmitOutcome,
)

FINAL = ("success", "failed")
Build = Callable[[TransactionBuilder], TransactionBuilder]
Describe = Callable[[TransactionEnvelope], dict[str, Any]]
MAX_BAD_SEQ_REBUILDS = 2
MAX_RESOLVE_ROUNDS = 600


class IdempotencyConflictError(ReferenceImplError):
    """An Idempotency-Key was reused with a different request."""


class OutcomeUnknownError(ReferenceImplError):
    """No endpoint confirmed the outcome; `record` is stored as unknown and can be retried by key.
    `sent` is False when this request itself sent nothing (a retry while every endpoint is down)."""

    def __init__(self, record: SubmissionRecord, cause: StellarUnavailableError, sent: bool = True) -> None:
        super().__init__(f"outcome of {record.kind} {record.settlement_id} is unknown")
        self.record = record
        self.cause = cause
        self.sent = sent


@dataclass(slots=True)
class SubmissionRecord:
    settlement_id: str
    kind: str  # settlement, escrow, x402
    agent_did: str
    idempotency_key: str | None
    fingerprint: str
    started: float  # monotonic seconds (clock.now) when the request arrived
    status: str = "pending"
    source: str = ""
    tx_hash: str = ""
    envelope: TransactionEnvelope | None = None
    max_time: int = 0
    sequence: int = 0
    ledger: int | None = None
    finality_ms: float | None = None
    result_codes: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "settlement_id": self.settlement_id,
            "kind": self.kind,
            "status": self.status,
            "tx_hash": self.tx_hash,
            "ledger": self.ledger,
            "finality_ms": self.finality_ms,
            "source": self.source,
            "agent_did": self.agent_did,
            "idempotency_key": self.idempotency_key,
            "result_codes": self.result_codes,
            **self.details,
        }


class SubmissionStore:
    """Records by id and by idempotency key; bounded (oldest final records are evicted first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._by_id: OrderedDict[str, SubmissionRecord] = OrderedDict()
        self._by_key: dict[str, str] = {}
        self._capacity = capacity

    def get(self, settlement_id: str) -> SubmissionRecord | None:
        return self._by_id.get(settlement_id)

    def by_key(self, key: str) -> SubmissionRecord | None:
        sid = self._by_key.get(key)
        return None if sid is None else self._by_id.get(sid)

    def add(self, record: SubmissionRecord) -> None:
        self._by_id[record.settlement_id] = record
        if record.idempotency_key is not None:
            self._by_key[record.idempotency_key] = record.settlement_id
        while len(self._by_id) > self._capacity:
            _, old = self._by_id.popitem(last=False)
            if old.idempotency_key is not None:
                self._by_key.pop(old.idempotency_key, None)

    def discard(self, record: SubmissionRecord) -> None:
        self._by_id.pop(record.settlement_id, None)
        if (
            record.idempotency_key is not None
            and self._by_key.get(record.idempotency_key) == record.settlement_id
        ):
            del self._by_key[record.idempotency_key]

    def __len__(self) -> int:
        return len(self._by_id)


class KeyedLocks:
    """One asyncio lock per key while anyone holds or waits for it (memory bounded by in-flight keys)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class SubmissionEngine:
    """Builds, signs and submits through the failover client; one outcome per idempotency key."""

    def __init__(
        self,
        client: FailoverStellarClient,
        passphrase: str,
        error_logger: ErrorLogger,
        *,
        clock: Clock = SYSTEM_CLOCK,
        base_fee: int = 100,
        tx_timeout: float = 60.0,
        close_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.passphrase = passphrase
        self.error_logger = error_logger
        self.clock = clock
        self.base_fee = base_fee
        self.tx_timeout = tx_timeout
        self.close_interval = close_interval
        self.store = SubmissionStore()
        self._key_locks = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self._quarantined: dict[str, SequencePool] = {}  # settlement id -> pool whose account waits for it

    @staticmethod
    def new_id(kind: str) -> str:
        return f"{'stl' if kind == 'settlement' else kind}_{secrets.token_hex(12)}"

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(
        self,
        record: SubmissionRecord,
        pool: SequencePool,
        build: Build,
        deadline: float,
        describe: Describe | None = None,
        signers: tuple[Keypair, ...] = (),
    ) -> tuple[SubmissionRecord, bool]:
        """Settle `record` (or return the stored outcome of its idempotency key): (record, replayed).
        The pool account is the transaction's source; `signers` sign too (e.g. an operation source)."""
        key = record.idempotency_key
        if key is None:
            self.store.add(record)
            await self._submit_new(record, pool, build, deadline, describe, signers)
            return record, False
        async with self._key_locks.hold(key):
            existing = self.store.by_key(key)
            if existing is None:
                self.store.add(record)
                await self._submit_new(record, pool, build, deadline, describe, signers)
                return record, False
            if existing.fingerprint != record.fingerprint or existing.kind != record.kind:
                raise IdempotencyConflictError("Idempotency-Key was used for a different request")
            if existing.status not in FINAL:
                await self._retry_unknown(existing, pool, build, deadline, describe, signers)
            return existing, True

    async def _submit_new(
        self,
        record: SubmissionRecord,
        pool: SequencePool,
        build: Build,
        deadline: float,
        describe: Describe | None,
        signers: tuple[Keypair, ...] = (),
    ) -> None:
        end = self.clock.now() + deadline
        try:
            async with pool.lease(timeout=max(0.01, end - self.clock.now())) as account:
                for rebuild in range(MAX_BAD_SEQ_REBUILDS + 1):
                    sequence, outcome = await self._attempt(record, pool, account, build, describe, signers, end)
                    if outcome.status == "rejected":
                        bad_seq = outcome.result_codes.get("transaction") == "tx_bad_seq"
                        SequencePool.not_applied(account, sequence, bad_seq)
                        if bad_seq and rebuild < MAX_BAD_SEQ_REBUILDS:
                            continue
                    self._finish(record, outcome)
                    return
        except BaseException:
            if record.status == "pending":
                self.store.discard(record)
            raise

    async def _attempt(
        self, record: SubmissionRecord, pool: SequencePool, account: PoolAccount, build: Build,
        describe: Describe | None, signers: tuple[Keypair, ...], end: float,
    ) -> tuple[int, SubmitOutcome]:
        """One transaction for `record`: build and sign it on the leased account, submit it."""
        sequence = await self._build(record, account, build, describe, signers)
        return sequence, await self._submit(record, pool, account, sequence, end)

    async def _build(
        self, record: SubmissionRecord, account: PoolAccount, build: Build, describe: Describe | None,
        signers: tuple[Keypair, ...] = (),
    ) -> int:
        sequence = await SequencePool.allocate(account, self.client.sequence)
        max_time = int(self.clock.time() + self.tx_timeout)
        try:  # anything failing before the submission leaves a hole: give the number back
            builder = TransactionBuilder(
                Account(account.account_id, sequence - 1), self.passphrase, self.base_fee
            )
            envelope = build(builder.add_time_bounds(0, max_time)).build()
            for signer in (account.keypair, *signers):
                envelope.sign(signer)
            tx_hash = envelope.hash_hex()
            details = describe(envelope) if describe is not None else {}
        except BaseException:
            SequencePool.not_applied(account, sequence)
            raise
        record.source, record.max_time, record.sequence = account.account_id, max_time, sequence
        record.tx_hash, record.envelope = tx_hash, envelope
        record.details.update(details)
        return sequence

    async def _submit(
        self, record: SubmissionRecord, pool: SequencePool, account: PoolAccount, sequence: int, end: float
    ) -> SubmitOutcome:
        try:
            return await self._send(record, max(0.01, end - self.clock.now()))
        except NotAppliedError:
            SequencePool.not_applied(account, sequence)  # never sent, or TRY_AGAIN_LATER: 503, no record kept
            raise
        except StellarUnavailableError as error:
            record.status = "unknown"  # the counter stays: the same bytes are resubmitted until known
            self._hold_unknown(record, pool, account)
            raise OutcomeUnknownError(record, error) from None
        except Exception:
            SequencePool.not_applied(account, sequence, bad_seq=True)  # unexpected: reload the counter
            raise

    async def _send(self, record: SubmissionRecord, deadline: float) -> SubmitOutcome:
        """Submit the record's signed bytes (the client resends the same bytes on failover and retry)."""
        return await self.client.submit(self._envelope(record), record.tx_hash, deadline=deadline)

    def _hold_unknown(self, record: SubmissionRecord, pool: SequencePool, account: PoolAccount) -> None:
        """An unknown outcome: the account waits (quarantined) while the hash is looked up in the background."""
        SequencePool.quarantine(account, record.tx_hash)
        self._quarantined[record.settlement_id] = pool
        self._spawn(self._resolve(record))

    async def _retry_unknown(
        self,
        record: SubmissionRecord,
        pool: SequencePool,
        build: Build,
        deadline: float,
        describe: Describe | None,
        signers: tuple[Keypair, ...] = (),
    ) -> None:
        """A client retry of an unknown outcome: look the hash up, else resubmit the same bytes."""
        envelope = self._envelope(record)  # kept: a concurrent resolution may finish the record meanwhile
        try:
            outcome = await self.client.lookup(record.tx_hash)
            if outcome is None:
                outcome = await self.client.submit(envelope, record.tx_hash, deadline=deadline)
        except StellarUnavailableError as error:
            raise OutcomeUnknownError(record, error, sent=not isinstance(error, NotAppliedError)) from None
        self._finish(record, outcome)

    async def submit_presigned(self, record: SubmissionRecord) -> None:
        """Background settlement of a client-signed transaction (x402): submit, resolve if unknown."""
        self.store.add(record)
        self._spawn(self._settle_presigned(record))

    async def _settle_presigned(self, record: SubmissionRecord) -> None:
        envelope = self._envelope(record)
        try:
            self._finish(record, await self.client.submit(envelope, record.tx_hash))
        except StellarUnavailableError:
            record.status = "unknown"
            await self._resolve(record)

    async def _resolve(self, record: SubmissionRecord) -> None:
        """Look the hash up (resubmitting the same bytes) until the ledger knows it or it expired."""
        envelope = self._envelope(record)
        for _ in range(MAX_RESOLVE_ROUNDS):
            await self.clock.sleep_async(self.close_interval)
            if record.status in FINAL:
                return
            expired = self.clock.time() > record.max_time + 2 * self.close_interval
            try:
                outcome = await self.client.lookup(record.tx_hash)
                if outcome is None and expired:
                    outcome = SubmitOutcome("rejected", record.tx_hash, None, {"transaction": "tx_too_late"})
                elif outcome is None:
                    outcome = await self.client.submit(envelope, record.tx_hash)
                if outcome.status == "rejected":  # not queued anywhere now; applied in between, or never
                    outcome = await self.client.lookup(record.tx_hash) or outcome
            except StellarUnavailableError:  # TRY_AGAIN_LATER included: look again next round
                continue
            self._finish(record, outcome)
            return

    @staticmethod
    def _envelope(record: SubmissionRecord) -> TransactionEnvelope:
        assert record.envelope is not None, "a record is submitted only after its envelope is built"
        return record.envelope

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finish(self, record: SubmissionRecord, outcome: SubmitOutcome) -> None:
        """Store the final outcome once. A transaction the ledger applied and failed gets exactly one
        HIGH transaction-failure record; one it refused (never in a ledger, no fee charged) gets a
        MEDIUM `transaction_refused` record: the client sees both as a failed settlement."""
        if record.status in FINAL:
            return
        pool = self._quarantined.pop(record.settlement_id, None)
        if pool is not None:  # the account waited for this outcome: free it (a number never used comes back)
            self._spawn(pool.resolved(record.source, record.tx_hash, record.sequence, outcome.status != "rejected"))
        record.status = "success" if outcome.status == "success" else "failed"
        record.ledger = outcome.ledger
        record.result_codes = dict(outcome.result_codes)
        record.finality_ms = round((self.clock.now() - record.started) * 1000, 3)
        record.envelope = None  # only unknown outcomes need the signed bytes again
        if record.status != "success":
            self._log_failure(record, outcome)

    def _log_failure(self, record: SubmissionRecord, outcome: SubmitOutcome) -> None:
        context = {"settlement_id": record.settlement_id, "tx_hash": record.tx_hash,
                   "result_codes": record.result_codes, "source": record.source}
        cause = _codes_text(record.result_codes)
        if outcome.status == "failed":
            self.error_logger.log_transaction_failure(record.tx_hash, agent_did=record.agent_did,
                                                      operation=record.kind, cause=cause, context=context)
        else:
            self.error_logger.log_error(f"transaction refused by the ledger: {cause}", ErrorSeverity.MEDIUM,
                                        "transaction_refused", record.kind,
                                        {**context, "agent_did": record.agent_did})


def _codes_text(codes: dict[str, Any]) -> str:
    ops = codes.get("operations") or []
    return str(codes.get("transaction", "unknown")) + (f" ({', '.join(map(str, ops))})" if ops else "")
