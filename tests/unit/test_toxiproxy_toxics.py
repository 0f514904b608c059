"""Toxic behaviour in virtual time: each toxic's `pipe` driven by a scripted stub (no sockets, no waiting)."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest

from harness.toxiproxy.api_models import ApiError, bad_body
from harness.toxiproxy.link import INTERRUPTED, TIMED_OUT, Chunk
from harness.toxiproxy.toxics import (
    TOXICS,
    BandwidthToxic,
    LatencyToxic,
    LimitDataToxic,
    NoopToxic,
    ResetPeerToxic,
    SlicerToxic,
    SlowCloseToxic,
    TimeoutToxic,
    Toxic,
)


class ScriptedStub:
    """A ToxicStub stand-in: inputs arrive at scripted virtual times; sleeps advance virtual time."""

    def __init__(self, inputs: list[tuple[float, bytes | None]], interrupt_at: float | None = None,
                 seed: int = 1) -> None:
        self.t = 0.0
        self.inputs = deque(inputs)
        self.out: list[tuple[float, bytes | None]] = []
        self.state: dict[str, Any] = {}
        self.rng = random.Random(seed)
        self.interrupt_at = interrupt_at
        self.closed = False

    def now(self) -> float:
        return self.t

    def _interrupt_due(self, until: float) -> bool:
        if self.interrupt_at is not None and until >= self.interrupt_at:
            self.t = max(self.t, self.interrupt_at)
            self.interrupt_at = None
            return True
        return False

    async def recv(self, timeout: float | None = None) -> Any:
        next_at = self.inputs[0][0] if self.inputs else float("inf")
        if timeout is not None and next_at > self.t + timeout and not self._interrupt_due(self.t + timeout):
            self.t += timeout
            return TIMED_OUT
        if self._interrupt_due(next_at):
            return INTERRUPTED
        if not self.inputs:
            return INTERRUPTED  # script exhausted: end the pipe
        at, data = self.inputs.popleft()
        self.t = max(self.t, at)
        return None if data is None else Chunk(data, at)

    async def sleep(self, seconds: float) -> bool:
        if self._interrupt_due(self.t + seconds):
            return False
        if seconds == float("inf"):
            raise AssertionError("would sleep forever")
        self.t += max(0.0, seconds)
        return True

    async def sleep_through(self, seconds: float) -> None:
        self.t += seconds

    async def send(self, chunk: Chunk | None) -> None:
        assert not self.closed, "sent after close"
        self.out.append((round(self.t, 9), None if chunk is None else chunk.data))

    async def close(self) -> None:
        await self.send(None)
        self.closed = True


def run(toxic: Toxic, stub: ScriptedStub) -> ScriptedStub:
    asyncio.run(toxic.pipe(stub))  # type: ignore[arg-type]
    return stub


def test_registry_has_every_toxiproxy_type() -> None:
    assert set(TOXICS) == {"latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
                           "limit_data", "noop"}
    for name, cls in TOXICS.items():
        assert cls.type_name == name


def test_attributes_default_to_zero_and_are_all_emitted() -> None:
    assert LatencyToxic.parse(None).attributes() == {"latency": 0, "jitter": 0}
    assert SlicerToxic.parse({"average_size": 10}).attributes() == {"average_size": 10, "size_variation": 0, "delay": 0}
    assert NoopToxic.parse({"anything": 1}).attributes() == {}


def test_parse_merges_field_wise_and_matches_keys_case_insensitively() -> None:
    current = LatencyToxic(latency=100, jitter=5)
    assert LatencyToxic.parse({"Jitter": 7}, current) == LatencyToxic(latency=100, jitter=7)
    assert LatencyToxic.parse({"latency": None}, current) == current


@pytest.mark.parametrize(("cls", "attrs", "text"), [
    (LatencyToxic, {"latency": 1.5}, "cannot unmarshal number into Go struct field LatencyToxic.latency"),
    (LatencyToxic, {"latency": "10"}, "cannot unmarshal string"),
    (LatencyToxic, {"latency": True}, "cannot unmarshal bool"),
    (LatencyToxic, [1], "cannot unmarshal array"),
    (BandwidthToxic, {"rate": -1}, "negative index"),
    (BandwidthToxic, {"rate": 2**61}, "negative index"),  # 2**61 * 100 wraps to -2**63 in int64
    (SlicerToxic, {"average_size": 0}, "recurse forever"),
    (SlicerToxic, {"average_size": 3, "size_variation": -3}, "recurse forever"),
    (SlicerToxic, {"average_size": 8, "size_variation": 10}, "19-byte chunk outside its bounds"),
    (SlicerToxic, {"average_size": -2**62, "size_variation": 2**62}, "rand.Intn"),
])
def test_invalid_attributes_are_400(cls: type[Toxic], attrs: Any, text: str) -> None:
    with pytest.raises(ApiError) as info:
        cls.parse(attrs)
    assert info.value.status == 400
    assert info.value.message.startswith("bad request body: ")
    assert text in info.value.message


@pytest.mark.parametrize("attrs", [
    {"average_size": 4, "size_variation": 4},  # equal: Toxiproxy accepts and runs it
    {"average_size": 9, "size_variation": 10},  # average = variation - 1: cuts stay within bounds
    {"average_size": 10, "size_variation": -3},  # negative variation: pieces of at most 7 bytes
    {"average_size": 0, "size_variation": 40_000},  # no 32 KiB chunk is ever split
    {"average_size": 10, "delay": -1},  # time.After(negative) fires at once
    {"average_size": -2**63, "size_variation": 0},  # (end-start)-average wraps negative: never split
])
def test_slicer_values_toxiproxy_survives_are_accepted(attrs: dict[str, int]) -> None:
    toxic = SlicerToxic.parse(attrs)
    assert isinstance(toxic, SlicerToxic)
    data = bytes(range(256)) * 3
    for size in (0, 1, 2, 3, 17, 100, len(data)):
        points = toxic.cut_points(0, size, random.Random(size))
        assert points[0] == 0 and points[-1] == size and points == sorted(points)


def _go_slicer_can_crash(average: int, variation: int, longest: int) -> bool:
    """Oracle: Toxiproxy v2.12.0 toxics/slicer.go `chunk()` transliterated, every random draw explored.

    True if some chunk of 1..`longest` bytes makes it recurse forever (variation <= 0) or cut outside
    the chunk (a slice-bounds panic). A split that repeats itself (an empty piece) is not a crash: Go
    draws again and ends with probability 1.
    """
    memo: dict[int, bool] = {}

    def crash(n: int) -> bool:
        if n < 0:
            return True
        if n - average <= variation:
            return False
        if n in memo:
            return memo[n]
        memo[n] = False  # a repeat of n in its own recursion: the draw that repeats it, not a crash
        half = n // 2
        if variation <= 0:
            result = n <= 1 or crash(half) or crash(n - half)
        else:
            cuts = [half + r for r in range(-variation, variation)]
            result = any(m < 0 or m > n or crash(m) or crash(n - m) for m in cuts)
        memo[n] = result
        return result

    return any(crash(n) for n in range(1, longest + 1))


def _disagreements(cls: type[SlicerToxic]) -> list[tuple[int, int]]:
    """(average, variation) pairs in a small grid where `cls` refuses iff the oracle does not crash."""
    out = []
    for average in range(-6, 14):
        for variation in range(-6, 14):
            try:
                cls.parse({"average_size": average, "size_variation": variation})
                refused = False
            except ApiError:
                refused = True
            if refused != _go_slicer_can_crash(average, variation, 64):
                out.append((average, variation))
    return out


@dataclass(frozen=True, slots=True)
class _StrictSlicer(SlicerToxic):
    """Broken variant: the earlier bound (1 <= average, 0 <= variation < average) refuses values Go runs."""

    def validate(self) -> None:
        if self.average_size < 1 or not 0 <= self.size_variation < self.average_size:
            raise bad_body("too strict")


@dataclass(frozen=True, slots=True)
class _LenientSlicer(SlicerToxic):
    """Broken variant: checks only the recursion bound and misses the out-of-bounds cuts."""

    def validate(self) -> None:
        if self.size_variation <= 0 and self.average_size + self.size_variation < 1:
            raise bad_body("too lenient")


def test_slicer_refuses_exactly_what_crashes_toxiproxy() -> None:
    assert _disagreements(SlicerToxic) == []
    assert (4, 4) in _disagreements(_StrictSlicer)  # equal average and variation: Go runs it
    assert (8, 10) in _disagreements(_LenientSlicer)  # Go can cut a 19-byte chunk at -1 and panic


def test_bandwidth_rate_that_wraps_to_a_zero_slice_stalls_like_rate_zero() -> None:
    toxic = BandwidthToxic.parse({"rate": 2**62})  # 2**62 * 100 is a multiple of 2**64
    assert isinstance(toxic, BandwidthToxic) and toxic.piece() == 0
    stub = run(toxic, ScriptedStub([(0.0, b"a")], interrupt_at=5.0))
    assert stub.out == [(5.0, b"a")]


def test_latency_is_fifo_and_counts_queue_time() -> None:
    stub = run(LatencyToxic(latency=100), ScriptedStub([(0.0, b"a"), (0.01, b"b"), (0.02, b"c"), (0.05, None)]))
    assert stub.out == [(0.1, b"a"), (0.11, b"b"), (0.12, b"c"), (0.12, None)]


def test_latency_jitter_stays_in_range_and_varies() -> None:
    stub = run(LatencyToxic(latency=100, jitter=20), ScriptedStub([(float(i), b"x") for i in range(300)]))
    delays = [round((t - i) * 1000) for i, (t, _d) in enumerate(stub.out)]
    assert min(delays) >= 80 and max(delays) <= 119
    assert max(delays) - min(delays) >= 30


def test_latency_releases_held_chunk_at_once_when_interrupted() -> None:
    stub = run(LatencyToxic(latency=1000), ScriptedStub([(0.0, b"held")], interrupt_at=0.25))
    assert stub.out == [(0.25, b"held")]


def test_bandwidth_480000_bytes_at_1000_kbps_take_480_ms() -> None:
    data = bytes(range(256)) * 1875  # 480 000 B
    chunks = [(0.0, data[i:i + 32768]) for i in range(0, len(data), 32768)]
    stub = run(BandwidthToxic(rate=1000), ScriptedStub(chunks))
    assert b"".join(d for _t, d in stub.out if d) == data
    assert stub.out[-1][0] == pytest.approx(0.48, abs=1e-6)


def test_bandwidth_splits_chunks_larger_than_100_ms_of_rate() -> None:
    stub = run(BandwidthToxic(rate=100), ScriptedStub([(0.0, b"z" * 32768)]))
    sizes = [len(d) for _t, d in stub.out if d]
    assert sizes == [10000, 10000, 10000, 2768]
    assert [t for t, _d in stub.out] == pytest.approx([0.1, 0.2, 0.3, 0.32768])


def test_bandwidth_rate_zero_stalls_until_interrupted() -> None:
    stub = run(BandwidthToxic(rate=0), ScriptedStub([(0.0, b"stuck")], interrupt_at=5.0))
    assert stub.out == [(5.0, b"stuck")]


def test_slow_close_delays_only_the_close() -> None:
    stub = run(SlowCloseToxic(delay=200), ScriptedStub([(0.0, b"a"), (1.0, None)]))
    assert stub.out == [(0.0, b"a"), (1.2, None)]


def test_timeout_drops_data_and_closes_after_idle_period() -> None:
    stub = run(TimeoutToxic(timeout=100), ScriptedStub([(0.0, b"a"), (0.05, b"b"), (1.0, b"c")]))
    assert stub.out == [(0.15, None)]  # the timer restarted at 0.05


def test_timeout_zero_drops_forever() -> None:
    stub = run(TimeoutToxic(timeout=0), ScriptedStub([(0.0, b"a"), (10.0, b"b")]))
    assert stub.out == []
    assert TimeoutToxic.closes_on_remove


def test_reset_peer_waits_for_first_data_then_closes_after_timeout() -> None:
    stub = run(ResetPeerToxic(timeout=100), ScriptedStub([(0.3, b"a"), (0.31, b"b")]))
    assert stub.out == [(0.4, None)]


def test_slicer_piece_counts_and_bytes_intact() -> None:
    data = random.Random(7).randbytes(480_000)
    stub = run(SlicerToxic(average_size=1024, size_variation=512, delay=10), ScriptedStub([(0.0, data)]))
    pieces = [d for _t, d in stub.out if d]
    assert 240 <= len(pieces) <= 720
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= 1024 + 512
    assert stub.t == pytest.approx((len(pieces) - 1) * 10e-6)


def test_slicer_average_one_variation_zero_gives_single_bytes() -> None:
    stub = run(SlicerToxic(average_size=1, size_variation=0), ScriptedStub([(0.0, b"x" * 24)]))
    assert [d for _t, d in stub.out] == [b"x"] * 24


def test_limit_data_cuts_the_crossing_chunk_then_closes() -> None:
    stub = run(LimitDataToxic(bytes=100), ScriptedStub([(0.0, b"a" * 90), (0.1, b"b" * 20), (0.2, b"c")]))
    assert stub.out == [(0.0, b"a" * 90), (0.1, b"b" * 10), (0.1, None)]


def test_limit_data_zero_closes_at_first_chunk_and_count_survives_restart() -> None:
    assert run(LimitDataToxic(bytes=0), ScriptedStub([(0.0, b"a")])).out == [(0.0, None)]
    stub = ScriptedStub([(0.0, b"a" * 60)])
    run(LimitDataToxic(bytes=100), stub)
    assert stub.state["bytes_transmitted"] == 60
    stub.inputs.extend([(1.0, b"b" * 60)])
    run(LimitDataToxic(bytes=100), stub)  # restarted (an update): only 40 more pass
    assert stub.out[-2:] == [(1.0, b"b" * 40), (1.0, None)]


def test_noop_passes_everything() -> None:
    stub = run(NoopToxic(), ScriptedStub([(0.0, b"a"), (0.5, b"b"), (0.6, None)]))
    assert stub.out == [(0.0, b"a"), (0.5, b"b"), (0.6, None)]
