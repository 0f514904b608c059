"""Per-process CPU sampling of a run (harness/run/cpu.py): shares of a core and the saturated process."""

from __future__ import annotations

import os

import pytest

from harness.run.cpu import CpuSampler, _proc_cpu_seconds, cpu_seconds


class FakeCpu:
    """CPU seconds that grow at a set share of a core per clock second."""

    def __init__(self, rates: dict[int, float]) -> None:
        self.rates, self.now = rates, 0.0

    def clock(self) -> float:
        return self.now

    def cpu(self, pid: int, _descendants: bool) -> float | None:
        return self.rates[pid] * self.now if pid in self.rates else None


def test_shares_and_the_saturated_process() -> None:
    fake = FakeCpu({1: 0.97, 2: 0.4, 3: 0.1})
    procs = {"service": (1, True), "locust": (2, True), "ledger": (3, True), "gone": (9, True)}
    sampler = CpuSampler(lambda: procs, lambda: fake.now, cpu=fake.cpu, clock=fake.clock)
    for _ in range(4):
        sampler.sample()
        fake.now += 2.0
    summary = sampler.summary()
    assert summary["processes"]["service"]["mean_share"] == pytest.approx(0.97)
    assert summary["processes"]["locust"]["peak_share"] == pytest.approx(0.4)
    assert "gone" not in summary["processes"]
    assert summary["saturated"] == "service"
    assert summary["first_saturated"] == {"t": 2.0, "process": "service", "share": 0.97}


def test_no_process_saturated_below_the_threshold() -> None:
    fake = FakeCpu({1: 0.5})
    sampler = CpuSampler(lambda: {"service": (1, True)}, lambda: fake.now, cpu=fake.cpu, clock=fake.clock)
    for _ in range(3):
        sampler.sample()
        fake.now += 1.0
    assert sampler.summary()["saturated"] is None and sampler.summary()["first_saturated"] is None


def test_proc_and_psutil_read_this_process() -> None:
    own = _proc_cpu_seconds(os.getpid())
    assert own is not None and own > 0
    assert cpu_seconds(os.getpid(), descendants=False) >= own - 0.05
    assert _proc_cpu_seconds(2**22 + 12345) is None
