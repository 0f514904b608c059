"""A load client's own payer account under stellar-core's rules, as a real agent on testnet meets them.

stellar-core queues at most one transaction per source account and only the sequence number
current + 1 (src/herder/TransactionQueue.cpp `canAdd`, src/transactions/TransactionFrame.cpp
`isBadSeq`). The service answers an x402 payment before it settles it (in the background), so an
agent that paid must not sign its next payment until the previous one is in a ledger: `settle_wait`
polls the ledger (Horizon's GET /transactions/{hash}) until the hash is applied, or until its time
bounds passed and it can never be (then the sequence number is reloaded). Pure apart from the
injected `get`, `sleep` and `now`, so it is testable without Locust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stellar_sdk import Keypair

Get = Callable[[str], tuple[int, dict | None]]  # ledger path -> (HTTP status, JSON body or None)
POLL_S = 0.2
EXPIRY_MARGIN_S = 5.0  # a dropped transaction is gone a few closes after its max_time


@dataclass(slots=True)
class Payment:
    tx_hash: str
    max_time: float  # unix seconds: after this (+ margin) the transaction can never be applied


class PayerAccount:
    """Next sequence number and the payment still settling for one payer key."""

    def __init__(self, keypair: Keypair, get: Get, sleep: Callable[[float], None], now: Callable[[], float]) -> None:
        self.keypair = keypair
        self._get = get
        self._sleep = sleep
        self._now = now
        self.next_seq = 0  # 0: unknown, read from the ledger before the next payment
        self.in_flight: Payment | None = None

    def sequence(self) -> int:
        """The sequence number for the next payment (the account's current + 1 when unknown)."""
        if not self.next_seq:
            status, body = self._get(f"/accounts/{self.keypair.public_key}")
            if status == 200 and body is not None:
                self.next_seq = int(body["sequence"]) + 1
        return self.next_seq

    def paid(self, tx_hash: str, max_time: float) -> None:
        """The service accepted the payment (it settles it later): the number is used, the account busy."""
        self.in_flight = Payment(tx_hash, max_time)
        self.next_seq += 1

    def refused(self) -> None:
        """The payment was not accepted: nothing was submitted; read the sequence number again."""
        self.next_seq = 0

    def settle_wait(self, limit_s: float) -> str:
        """Wait until the payment in flight is applied (`applied`), can never be (`expired`: the number
        is reloaded) or `limit_s` passed (`waiting`: still in flight). `idle` when nothing is in flight."""
        payment = self.in_flight
        if payment is None:
            return "idle"
        deadline = self._now() + limit_s
        while True:
            status, _ = self._get(f"/transactions/{payment.tx_hash}")
            if status == 200:
                self.in_flight = None
                return "applied"
            if self._now() > payment.max_time + EXPIRY_MARGIN_S:
                self.in_flight, self.next_seq = None, 0
                return "expired"
            if self._now() >= deadline:
                return "waiting"
            self._sleep(POLL_S)
