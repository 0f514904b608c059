"""A load client's payer account never signs a second payment while the first may still be queued
(stellar-core admits one queued transaction per source account: TransactionQueue::canAdd)."""

from __future__ import annotations

from stellar_sdk import Keypair

from reference_impl.clock import ManualClock
from scenarios.users.payer import EXPIRY_MARGIN_S, PayerAccount

KP = Keypair.from_raw_ed25519_seed(bytes([7]) * 32)


class FakeLedger:
    """The two Horizon reads a payer makes, answering from a dict; every read is counted."""

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence
        self.applied: set[str] = set()
        self.reads: list[str] = []

    def get(self, path: str) -> tuple[int, dict | None]:
        self.reads.append(path)
        if path.startswith("/accounts/"):
            return 200, {"sequence": str(self.sequence)}
        tx_hash = path.rsplit("/", 1)[1]
        return (200, {"hash": tx_hash}) if tx_hash in self.applied else (404, None)


def payer(ledger: FakeLedger, clock: ManualClock) -> PayerAccount:
    return PayerAccount(KP, ledger.get, clock.sleep, clock.time)


def test_waits_until_the_payment_is_in_a_ledger() -> None:
    clock, ledger = ManualClock(wall_start=1000.0), FakeLedger(41)
    account = payer(ledger, clock)
    assert account.sequence() == 42
    account.paid("aa" * 32, clock.time() + 60)
    assert account.sequence() == 43 and account.in_flight is not None
    original_sleep = clock.sleep

    def sleep_and_apply(seconds: float) -> None:  # the payment lands one poll later
        original_sleep(seconds)
        ledger.applied.add("aa" * 32)

    account._sleep = sleep_and_apply
    assert account.settle_wait(30) == "applied" and account.in_flight is None
    assert account.sequence() == 43  # no reload: the number was consumed


def test_expired_payment_reloads_the_sequence_number() -> None:
    clock, ledger = ManualClock(wall_start=1000.0), FakeLedger(41)
    account = payer(ledger, clock)
    account.sequence()
    account.paid("bb" * 32, clock.time() + 3)
    assert account.settle_wait(120) == "expired"
    assert clock.time() > 1003 + EXPIRY_MARGIN_S and account.next_seq == 0
    assert account.sequence() == 42  # reread: the number was never consumed


def test_bounded_wait_and_refusals() -> None:
    clock, ledger = ManualClock(wall_start=1000.0), FakeLedger(9)
    account = payer(ledger, clock)
    assert account.settle_wait(5) == "idle"
    account.sequence()
    account.paid("cc" * 32, clock.time() + 600)
    assert account.settle_wait(2) == "waiting" and account.in_flight is not None
    assert 2 <= clock.time() - 1000 < 3
    account.refused()
    assert account.sequence() == 10
