"""Two copies of one x402 payment sent at once: the service serves at most one (the other is a replay),
and the deliberate fault `x402-consumes-late` (the replay check before an await, the mark after it)
serves both, which only concurrent copies show (copies one after the other are refused either way)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_service_support import running_stack, x402_header

pytestmark = pytest.mark.timeout(120)
ATTEMPTS = 4


def race(stack, payer_index: int) -> list[int]:
    """Statuses of two simultaneous copies of one fresh payment by `stack.keys[payer_index]`."""
    payer = stack.keys[payer_index]
    req = stack.http.get("/resources/race", headers={"X-API-Key": "race-tests"}).json()["accepts"][0]
    header = x402_header(req, payer, stack.sequence(payer.public_key) + 1)
    start = threading.Barrier(2)

    def send() -> int:
        start.wait(timeout=10)
        return stack.http.get("/resources/race", headers={"X-PAYMENT": header, "X-API-Key": "race-tests"}).status_code

    with ThreadPoolExecutor(2) as pool:
        return sorted(pool.map(lambda _: send(), range(2)))


def sequential_replay(stack, payer_index: int) -> list[int]:
    payer = stack.keys[payer_index]
    req = stack.http.get("/resources/seq", headers={"X-API-Key": "race-tests"}).json()["accepts"][0]
    header = x402_header(req, payer, stack.sequence(payer.public_key) + 1)
    return [stack.http.get("/resources/seq", headers={"X-PAYMENT": header, "X-API-Key": "race-tests"}).status_code
            for _ in range(2)]


def test_the_service_serves_one_of_two_concurrent_copies():
    with running_stack() as stack:
        for attempt in range(ATTEMPTS):
            assert race(stack, 4 + attempt) == [200, 402]


def test_consuming_late_serves_concurrent_copies_twice_but_refuses_a_later_copy():
    with running_stack(fault="x402-consumes-late") as stack:
        outcomes = [race(stack, 4 + attempt) for attempt in range(ATTEMPTS)]
        assert [200, 200] in outcomes, outcomes
        assert sequential_replay(stack, 4 + ATTEMPTS) == [200, 402]
