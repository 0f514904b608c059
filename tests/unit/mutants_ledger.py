"""Deliberately lenient variants of the offline network's queue (test helpers only): each undoes one
stellar-core rule that the old simulator lacked. tests/unit/test_ledger_queue.py must fail every one.
Never imported by production code."""

from __future__ import annotations

from dataclasses import replace

from harness.ledger import queue as queue_module
from harness.ledger.envelope import ParsedTx
from harness.ledger.queue import AddResult, AddStatus, TxQueue
from harness.ledger.state import LedgerState
from harness.ledger.validity import Check


class AdmitsBusyAccounts(TxQueue):
    """Answers PENDING to a second transaction of a busy account (the old pipelining leniency)."""

    def try_add(self, ptx: ParsedTx, state: LedgerState, now: int) -> AddResult:
        result = super().try_add(ptx, state, now)
        busy = result.status is AddStatus.TRY_AGAIN_LATER and self.queued_for(ptx.source) is not None
        return AddResult(AddStatus.PENDING) if busy else result


class ForgetsAppliedEnvelopes(TxQueue):
    """Never bans: an applied envelope resubmitted async goes straight to checkValid."""

    def is_banned(self, full_hash: bytes) -> bool:
        return False


def tolerate_gaps(check: object) -> object:
    """checkValid that only refuses sequence numbers already used (gaps pass, as the old `max_seq_gap`)."""

    def lenient(state: LedgerState, ptx: ParsedTx, now: int) -> Check:
        account = state.accounts.get(ptx.source)
        if account is not None and ptx.seq > account.seq_num + 1:
            return check(state, replace(ptx, seq=account.seq_num + 1), now)  # type: ignore[operator]
        return check(state, ptx, now)  # type: ignore[operator]

    return lenient


QUEUE_MUTANTS = {"admits-busy-accounts": AdmitsBusyAccounts, "forgets-applied-envelopes": ForgetsAppliedEnvelopes}
VALIDITY_MUTANTS = {"tolerates-gaps": (queue_module, "check_transaction", tolerate_gaps)}
