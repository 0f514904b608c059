"""The admin event feed: breaker transitions, alerts, error records and refused-submission retries
(TRY_AGAIN_LATER), with a cursor."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ConfigurationError

EVENT_KINDS = ("breaker.transition", "alert", "error.record", "submission.retry")
FEED_VERSION = 1  # /admin/events schema version (docs/evidence-contract.md)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    seq: int
    t: float  # unix time
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "t": self.t, "kind": self.kind, "data": self.data}


class EventFeed:
    """Bounded, thread-safe, append-only feed; `since(cursor)` pages through it in order."""

    def __init__(self, capacity: int = 100_000, clock: Clock = SYSTEM_CLOCK) -> None:
        if capacity < 1:
            raise ConfigurationError("event feed capacity must be >= 1")
        self._events: deque[FeedEvent] = deque(maxlen=capacity)
        self._next_seq = 1
        self._lock = threading.Lock()
        self._clock = clock

    def publish(self, kind: str, data: dict[str, Any]) -> FeedEvent:
        if kind not in EVENT_KINDS:
            raise ConfigurationError(f"unknown event kind {kind!r}")
        with self._lock:
            event = FeedEvent(self._next_seq, self._clock.time(), kind, dict(data))
            self._next_seq += 1
            self._events.append(event)
        return event

    def since(self, cursor: int, limit: int = 1000) -> tuple[list[FeedEvent], int]:
        """Events with seq >= cursor (at most `limit`) and the cursor for the next call."""
        with self._lock:
            if not self._events:
                return [], max(cursor, self._next_seq)
            first = self._events[0].seq
            start = max(0, cursor - first)
            out = [self._events[i] for i in range(start, min(len(self._events), start + limit))]
            nxt = out[-1].seq + 1 if out else max(cursor, self._next_seq)
        return out, nxt

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for e in self._events if kind is None or e.kind == kind)
