"""Channel-account pool with pipelined sequence numbers, so concurrent submissions from the service
never collide and one account is not limited to one transaction per ledger close.

Rules: an account is leased to at most `max_in_flight` submissions at once (the least busy account
is chosen); sequence numbers are handed out under a per-account lock from a locally tracked counter
loaded from the ledger on first use. When a transaction is known not to be applied (refused, or never
sent): if it holds the last number handed out, the counter steps back; otherwise (a hole behind
later transactions, or `tx_bad_seq`: the counter is wrong) the account is marked stale, gets no new
lease until its in-flight transactions drain, and reloads its counter from the ledger. An unknown
outcome keeps the counter: the same signed bytes are resubmitted until the outcome is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from stellar_sdk import Keypair

from reference_impl.errors import ConfigurationError, ReferenceImplError


class PoolExhaustedError(ReferenceImplError):
    """No pool account became free before the deadline."""


class UnknownAccountError(ReferenceImplError):
    """The ledger does not know a pool account (the accounts file and the network disagree)."""


@dataclass(slots=True, repr=False)
class PoolAccount:
    keypair: Keypair
    sequence: int | None = None  # last sequence number handed out; None = reload from the ledger
    in_flight: int = 0
    stale: bool = False  # reload the counter once nothing of this account is in flight
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def account_id(self) -> str:
        return self.keypair.public_key

    def __repr__(self) -> str:  # never show the secret
        return f"PoolAccount({self.account_id}, sequence={self.sequence}, in_flight={self.in_flight})"


SequenceLoader = Callable[[str], Awaitable[int | None]]


class SequencePool:
    """A fixed set of accounts; `lease` lends the least busy one, `allocate` hands out sequences."""

    def __init__(self, keypairs: Sequence[Keypair], max_in_flight: int = 1) -> None:
        if not keypairs:
            raise ConfigurationError("the account pool needs at least one account")
        if max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be >= 1")
        self.accounts = [PoolAccount(kp) for kp in keypairs]
        self.max_in_flight = max_in_flight
        self._changed = asyncio.Condition()

    @property
    def public_keys(self) -> list[str]:
        return [a.account_id for a in self.accounts]

    def _least_busy(self) -> PoolAccount | None:
        eligible = [
            a for a in self.accounts if a.in_flight < self.max_in_flight and not (a.stale and a.in_flight)
        ]
        return min(eligible, key=lambda a: a.in_flight) if eligible else None

    @asynccontextmanager
    async def lease(self, timeout: float) -> AsyncIterator[PoolAccount]:
        """Borrow an account for the block (waits at most `timeout` seconds for capacity)."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._least_busy() is not None), timeout
                )
            except TimeoutError:
                raise PoolExhaustedError(f"no pool account free within {timeout:.1f}s") from None
            account = self._least_busy()
            assert account is not None
            account.in_flight += 1
        try:
            yield account
        finally:
            async with self._changed:
                account.in_flight -= 1
                self._changed.notify_all()

    @staticmethod
    async def allocate(account: PoolAccount, load: SequenceLoader) -> int:
        """The sequence number for the account's next transaction (loading the counter when unknown)."""
        async with account.lock:
            if account.stale and account.in_flight <= 1:
                account.sequence, account.stale = None, False
            if account.sequence is None:
                current = await load(account.account_id)
                if current is None:
                    raise UnknownAccountError(
                        f"pool account {account.account_id} does not exist on the ledger"
                    )
                account.sequence = current
            account.sequence += 1
            return account.sequence

    @staticmethod
    def not_applied(account: PoolAccount, sequence: int, bad_seq: bool = False) -> None:
        """The transaction with `sequence` will never be applied (refused, or never sent)."""
        if not bad_seq and account.sequence == sequence:
            account.sequence = sequence - 1
        else:
            account.stale = True
