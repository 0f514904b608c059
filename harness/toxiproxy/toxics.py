"""The toxics of Toxiproxy 2.12, one class each, and the registry `TOXICS` (type name -> class).

A toxic holds its attributes (validated, immutable) and a `pipe(stub)` coroutine that moves chunks from
the stub's input to its output until the stub is interrupted (update/removal) or closed, exactly as the
Go `Pipe` functions do. Units follow Toxiproxy: milliseconds, KB/s (1 KB = 1000 B), bytes, and
microseconds for the slicer's delay.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from harness.toxiproxy.api_models import bad_body, fields_of, format_number, take_int
from harness.toxiproxy.link import INTERRUPTED, TIMED_OUT, Chunk, ToxicStub

INF = float("inf")
INT64_MAX = 2**63 - 1
GO_MAX_CHUNK = 32 * 1024  # the largest chunk a toxic receives: io.Copy's buffer (Toxiproxy link.go `read`)


def go_int64(value: int) -> int:
    """`value` wrapped to int64, as Go's integer arithmetic overflows."""
    return (value + 2**63) % 2**64 - 2**63


@dataclass(frozen=True, slots=True)
class Toxic(ABC):
    """Base: attributes are the dataclass fields (all int64 in Go)."""

    type_name: ClassVar[str] = ""
    buffer_size: ClassVar[int] = 1
    closes_on_remove: ClassVar[bool] = False

    @classmethod
    def parse(cls, raw: Any, current: Toxic | None = None) -> Toxic:
        """Decode `attributes` (merged field-wise over `current`, else zero defaults) and validate."""
        base = current if isinstance(current, cls) else cls()
        if raw is None:
            return base
        obj = fields_of(raw, f"toxics.{cls.__name__}")
        name = cls.__name__
        values = {f.name: take_int(obj, f.name, getattr(base, f.name), f"{name}.{f.name}") for f in fields(cls)}
        toxic = replace(base, **values)
        toxic.validate()
        return toxic

    def validate(self) -> None:  # noqa: B027 - most toxics accept every integer; a hook, not abstract
        """Reject values that would crash or hang upstream Toxiproxy (400)."""

    def attributes(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @abstractmethod
    async def pipe(self, stub: ToxicStub) -> None:
        """Move chunks from `stub.input` to `stub.output` until interrupted or closed."""


@dataclass(frozen=True, slots=True)
class NoopToxic(Toxic):
    """Passes data through untouched."""

    type_name: ClassVar[str] = "noop"

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.close()
                return
            await stub.send(chunk)


@dataclass(frozen=True, slots=True)
class LatencyToxic(Toxic):
    """Each chunk leaves at arrival + latency ± jitter (FIFO, queue time counts)."""

    type_name: ClassVar[str] = "latency"
    buffer_size: ClassVar[int] = 1024
    latency: int = 0
    jitter: int = 0

    def delay_ms(self, rng: Any) -> int:
        delay = self.latency
        if self.jitter > 0:
            delay += rng.randrange(-self.jitter, self.jitter)
        return delay

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.close()
                return
            delay = self.delay_ms(stub.rng) / 1000.0
            wait = delay - (stub.now() - chunk.ts)
            if delay > 0:
                if not await stub.sleep(wait):
                    await stub.send(chunk)  # released at once on update/removal
                    return
                chunk.ts += delay
            await stub.send(chunk)


@dataclass(frozen=True, slots=True)
class BandwidthToxic(Toxic):
    """Limits a link to `rate` KB/s; rate 0 stalls the data."""

    type_name: ClassVar[str] = "bandwidth"
    rate: int = 0

    def piece(self) -> int:
        """Go's `t.Rate*100` (int64): the bytes sent per 100 ms slice of a large chunk."""
        return go_int64(self.rate * 100)

    def validate(self) -> None:
        """Toxiproxy v2.12.0 `toxics/bandwidth.go` slices `p.Data[:t.Rate*100]`: a negative value panics."""
        if self.rate < 0 or self.piece() < 0:
            raise bad_body(f"bandwidth rate {self.rate} would make Toxiproxy slice data at a negative index")

    async def pipe(self, stub: ToxicStub) -> None:
        debt = 0.0  # seconds owed by data already accepted
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.close()
                return
            piece = self.piece()
            if piece == 0:  # rate 0 (or a multiple of 2**62): Go slices empty pieces forever, data stalls
                await stub.sleep(INF)
                await stub.send(chunk)
                return
            debt += len(chunk.data) / (self.rate * 1000.0)
            data = chunk.data
            while len(data) > piece:
                if not await stub.sleep(0.1):
                    await stub.send(Chunk(data, chunk.ts))
                    return
                await stub.send(Chunk(data[:piece], chunk.ts))
                data = data[piece:]
                debt -= 0.1
            start = stub.now()
            if not await stub.sleep(debt):
                await stub.send(Chunk(data, chunk.ts))
                return
            debt -= stub.now() - start  # timer overshoot is credited; idle time is not
            await stub.send(Chunk(data, chunk.ts))


@dataclass(frozen=True, slots=True)
class SlowCloseToxic(Toxic):
    """Delays the close by `delay` ms after the source's EOF."""

    type_name: ClassVar[str] = "slow_close"
    delay: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.sleep(self.delay / 1000.0)
                await stub.close()
                return
            await stub.send(chunk)


@dataclass(frozen=True, slots=True)
class TimeoutToxic(Toxic):
    """Drops all data; closes after `timeout` ms without data (0: never). Removal closes the link."""

    type_name: ClassVar[str] = "timeout"
    closes_on_remove: ClassVar[bool] = True
    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        limit = self.timeout / 1000.0 if self.timeout > 0 else None
        while True:
            chunk = await stub.recv(limit)
            if chunk is INTERRUPTED:
                return
            if chunk is None or chunk is TIMED_OUT:
                await stub.close()
                return


@dataclass(frozen=True, slots=True)
class ResetPeerToxic(Toxic):
    """On the first data or EOF, drops everything and resets the connection after `timeout` ms."""

    type_name: ClassVar[str] = "reset_peer"
    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        chunk = await stub.recv()
        if chunk is INTERRUPTED:
            return
        await stub.sleep_through(self.timeout / 1000.0)  # not interruptible, as in Toxiproxy
        await stub.close()


@dataclass(frozen=True, slots=True)
class SlicerToxic(Toxic):
    """Cuts chunks into pieces of about `average_size` ± `size_variation` bytes, `delay` µs apart."""

    type_name: ClassVar[str] = "slicer"
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def is_piece(self, size: int) -> bool:
        """Go's base case `(end-start)-t.AverageSize <= t.SizeVariation`, in int64 arithmetic."""
        return go_int64(size - self.average_size) <= self.size_variation

    def validate(self) -> None:
        """Refuse exactly the values on which Toxiproxy v2.12.0 `toxics/slicer.go` `chunk()` crashes.

        Go's chunk(start, end) keeps a piece when `is_piece(end-start)`; otherwise it splits at
        start + (end-start)/2, moved by `rand.Intn(2*var) - var` when var > 0, and recurses. Chunks of 1 to
        32 KiB reach it (io.Copy's buffer in link.go `read`). It crashes when, for some such length n:
          * var <= 0 and a 1-byte chunk is not a piece: it splits into 0 + 1 bytes forever (stack overflow);
          * var >= 2**62 and n is split: 2*var overflows and rand.Intn panics;
          * var > 0, n is split and n < 2*var: the cut can fall outside [start, end] (slice-bounds panic).
        Everything else terminates (e.g. size_variation equal to average_size, or a negative variation
        with average_size + size_variation >= 1).
        """
        avg, var = self.average_size, self.size_variation
        if var <= 0:
            if not self.is_piece(1):
                raise bad_body(f"slicer average_size + size_variation must be at least 1 (got {avg} + {var}): "
                               "Toxiproxy's slicer would recurse forever")
            return
        split = range(max(1, avg + var + 1), min(GO_MAX_CHUNK, INT64_MAX + avg) + 1)  # lengths Go splits
        if split and var >= 2**62:
            raise bad_body(f"slicer size_variation {var} is too large: Toxiproxy's rand.Intn(2*size_variation) "
                           "overflows and panics")
        if split and split.start < 2 * var:
            raise bad_body(f"slicer average_size {avg} is too small for size_variation {var}: Toxiproxy can cut a "
                           f"{split.start}-byte chunk outside its bounds and panic (it needs average_size >= "
                           f"size_variation - 1, or average_size + size_variation >= {GO_MAX_CHUNK})")

    def cut_points(self, start: int, end: int, rng: Any) -> list[int]:
        """Offsets delimiting the pieces of [start, end) by recursive bisection (Go's algorithm).

        A split can leave an empty piece and its twin as long as the whole (Go then draws again), so the
        number of splits is bounded only in probability; past `64 * (end - start + 1)` splits (probability
        below 2**-60) the rest goes out unsplit.
        """
        points = [start]
        stack = [(start, end)]
        for _ in range(64 * (end - start + 1)):
            if not stack:
                return points
            lo, hi = stack.pop()
            if self.is_piece(hi - lo):
                points.append(hi)
                continue
            mid = lo + (hi - lo) // 2
            if self.size_variation > 0:
                mid += rng.randrange(self.size_variation * 2) - self.size_variation
            stack.append((mid, hi))
            stack.append((lo, mid))
        return [*points, end]

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.close()
                return
            points = self.cut_points(0, len(chunk.data), stub.rng)
            for i in range(1, len(points)):
                await stub.send(Chunk(chunk.data[points[i - 1]:points[i]], chunk.ts))
                if i + 1 < len(points) and not await stub.sleep(self.delay / 1e6):
                    await stub.send(Chunk(chunk.data[points[i]:], chunk.ts))
                    return


@dataclass(frozen=True, slots=True)
class LimitDataToxic(Toxic):
    """Forwards at most `bytes` bytes on the link, then closes it (count survives updates)."""

    type_name: ClassVar[str] = "limit_data"
    bytes: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        sent = stub.state.setdefault("bytes_transmitted", 0)
        while True:
            remaining = max(0, self.bytes - sent)
            chunk = await stub.recv()
            if chunk is INTERRUPTED:
                return
            if chunk is None:
                await stub.close()
                return
            data = chunk.data[:remaining]
            if data:
                await stub.send(Chunk(data, chunk.ts))
                sent += len(data)
                stub.state["bytes_transmitted"] = sent
            if self.bytes - sent <= 0:
                await stub.close()
                return


TOXICS: dict[str, type[Toxic]] = {
    cls.type_name: cls
    for cls in (LatencyToxic, BandwidthToxic, SlowCloseToxic, TimeoutToxic, ResetPeerToxic, SlicerToxic,
                LimitDataToxic, NoopToxic)
}


@dataclass(slots=True)
class ToxicWrapper:
    """A toxic as the API knows it: name, stream, toxicity and the current attributes."""

    name: str
    stream: str
    toxicity: float
    toxic: Toxic

    @property
    def type(self) -> str:
        return self.toxic.type_name

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": format_number(self.toxicity),
        }
