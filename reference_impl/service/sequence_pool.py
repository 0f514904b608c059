"""Channel-account pool: at most ONE transaction in flight per account, as stellar-core admits.

stellar-core's transaction queue holds at most one pending transaction per source account
(src/herder/TransactionQueue.cpp `canAdd`: a second one is TRY_AGAIN_LATER) and accepts only the
sequence number current + 1 (`TransactionFrame::isBadSeq`), so throughput comes from more accounts,
never from pipelining one (the channel-accounts pattern). Rules: a lease lends a free account (the
one idle longest) to one submission; its next sequence number comes from a locally tracked counter
loaded from the ledger on first use (an account whose counter is known is lent first). A transaction known not to be applied gives its number back
(or, after `tx_bad_seq`, the counter reloads). A transaction whose outcome is unknown quarantines
its account: no lease until the outcome is resolved, because the same signed bytes may still be
queued and anything newer from that account would be refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
    leased: bool = False
    unresolved: str = ""  # hash of a transaction whose outcome is unknown: quarantined until resolved
    released_at: int = 0  # lease generation when last released (the oldest is lent first)

    @property
    def account_id(self) -> str:
        return self.keypair.public_key

    @property
    def free(self) -> bool:
        return not self.leased and not self.unresolved

    def __repr__(self) -> str:  # never show the secret
        return f"PoolAccount({self.account_id}, sequence={self.sequence}, leased={self.leased})"


SequenceLoader = Callable[[str], Awaitable[int | None]]


class SequencePool:
    """A fixed set of accounts; `lease` lends a free one, `allocate` hands out its next sequence number."""

    def __init__(self, keypairs: Sequence[Keypair]) -> None:
        if not keypairs:
            raise ConfigurationError("the account pool needs at least one account")
        self.accounts = [PoolAccount(kp) for kp in keypairs]
        self._by_id = {a.account_id: a for a in self.accounts}
        self._changed = asyncio.Condition()
        self._generation = 0

    @property
    def public_keys(self) -> list[str]:
        return [a.account_id for a in self.accounts]

    def quarantined(self) -> int:
        return sum(1 for a in self.accounts if a.unresolved)

    def _free(self) -> PoolAccount | None:
        """A free account whose counter is known (no ledger read needed), idle longest first."""
        free = [a for a in self.accounts if a.free]
        return min(free, key=lambda a: (a.sequence is None, a.released_at)) if free else None

    @asynccontextmanager
    async def lease(self, timeout: float) -> AsyncIterator[PoolAccount]:
        """Borrow a free account for the block (waits at most `timeout` seconds for one)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self._free() is not None), timeout)
            except TimeoutError:
                raise PoolExhaustedError(f"no pool account free within {timeout:.1f}s") from None
            account = self._free()
            assert account is not None
            account.leased = True
        try:
            yield account
        finally:
            async with self._changed:
                account.leased = False
                self._generation += 1
                account.released_at = self._generation
                self._changed.notify_all()

    @staticmethod
    async def allocate(account: PoolAccount, load: SequenceLoader) -> int:
        """The sequence number for the account's next transaction (loading the counter when unknown)."""
        if account.sequence is None:
            current = await load(account.account_id)
            if current is None:
                raise UnknownAccountError(f"pool account {account.account_id} does not exist on the ledger")
            account.sequence = current
        account.sequence += 1
        return account.sequence

    @staticmethod
    def not_applied(account: PoolAccount, sequence: int, bad_seq: bool = False) -> None:
        """The transaction with `sequence` will never be applied (refused, or never sent)."""
        account.sequence = sequence - 1 if not bad_seq and account.sequence == sequence else None

    @staticmethod
    def quarantine(account: PoolAccount, tx_hash: str) -> None:
        """The outcome of `tx_hash` is unknown: lend the account to nobody until `resolved`."""
        account.unresolved = tx_hash

    async def resolved(self, account_id: str, tx_hash: str, sequence: int, applied: bool) -> None:
        """The quarantining transaction's outcome is known: free the account (giving the number back
        when it was never applied)."""
        account = self._by_id.get(account_id)
        if account is None or account.unresolved != tx_hash:
            return
        if not applied:
            self.not_applied(account, sequence)
        async with self._changed:
            account.unresolved = ""
            self._changed.notify_all()
