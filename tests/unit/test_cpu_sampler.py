"""Per-process CPU sampling of a run (harness/run/cpu.py): shares of a core and the saturated process."""

from __future__ import annotations

import os

import pytest

from harness.report.html import load_section
from harness.run.cpu import CpuSampler, _proc_cpu_seconds, cpu_seconds, finding, wait_seconds, window


class FakeCpu:
    """CPU seconds that grow at a set share of a core per clock second."""

    def __init__(self, rates: dict[int, float]) -> None:
        self.rates, self.now = rates, 0.0

    def clock(self) -> float:
        return self.now

    def cpu(self, pid: int, _descendants: bool) -> tuple[float, float] | None:
        return (self.rates[pid] * self.now, 0.25 * self.now) if pid in self.rates else None


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
    assert summary["processes"]["ledger"]["mean_wait"] == pytest.approx(0.25)
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
    assert wait_seconds(os.getpid()) is not None and wait_seconds(2**22 + 12345) is None


def test_finding_names_the_limit_over_the_knee_windows() -> None:
    samples = [{"t": float(t), "share": {"service": 0.95 if t >= 100 else 0.2, "locust": 0.3},
                "wait": {"service": 0.05, "locust": 0.6 if t < 100 else 0.0}} for t in range(0, 200, 2)]
    summary = {"processes": {}, "cores": 2, "load_average_end": [5.1]}
    assert window(samples, 100, 120)["service"] == {"share": 0.95, "wait": 0.05}
    assert finding(summary, window(samples, 100, 120)).startswith("service saturated its core (95%")
    early = finding(summary, window(samples, 0, 20))
    assert "locust waited 60% of the time for a CPU (load average 5.1 on 2 cores)" in early
    idle = [{"t": 1.0, "share": {"service": 0.3}, "wait": {"service": 0.1}}]
    assert "the limit is not CPU" in finding(summary, window(idle, 0, 2))
    whole = {**summary, "processes": {"service": {"peak_share": 0.3, "peak_wait": 0.1}}}
    assert finding(whole) == "no process saturated a core (busiest: service at 30%) and none waited long for a CPU"
    assert finding(summary) == "no CPU samples"


def test_the_report_states_the_finding_and_each_workers_counts() -> None:
    summary = {"load": {"workers": {"worker-0": {"sent": 5, "records": 7, "dropped": 0}},
                        "cpu": {"interval_s": 2.0, "cores": 2, "processes": {"service": {"mean_share": 0.5}},
                                "finding": {"over": "the knee, 95-115 s", "text": "service saturated its core"}}}}
    html = load_section(summary)
    assert "<td>worker-0</td><td>5</td><td>7</td>" in html
    assert "over the knee, 95-115 s: <b>service saturated its core</b>" in html
    assert "not sampled" in load_section({"load": {}})
