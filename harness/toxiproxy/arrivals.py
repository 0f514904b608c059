"""Per-proxy arrival log (an extension; a real Toxiproxy has none): what reached the proxy, and when.

Record kinds (all with `seq`, `t` = wall-clock epoch seconds, `kind`, `conn` = connection id):
  * `connection`: a client connection was accepted (`client_port`);
  * `request`: an HTTP/1.x request started on that connection's client->upstream bytes (`method`, `path`;
    `t` is when the proxy read the request line's first byte);
  * `unparsed`: the connection's bytes stopped being parseable as HTTP/1.x (`reason`); later requests on it
    are not seen, only the connection is.
A disabled proxy has no listener (connects are refused), so nothing arrives and nothing is logged.

Memory is bounded: a ring of `capacity` records. `read(since, limit)` returns records with `seq >= since`,
the `next` seq to ask for, and `dropped`: how many records in [since, oldest kept) were overwritten, so a
reader always knows whether it saw everything. `started` (epoch s) changes when a proxy of that name is
deleted and created again (a new log, seqs from 0).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

DEFAULT_CAPACITY = 100_000
DEFAULT_READ_LIMIT = 1000
MAX_READ_LIMIT = 10_000
MAX_TEXT = 2048  # longest path or reason kept


class ArrivalLog:
    """Ring buffer of arrival records for one proxy; used on the server's event loop only."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, wall: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError(f"arrival log capacity must be >= 1, got {capacity}")
        self.wall = wall
        self.capacity = capacity
        self.started = wall()
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._next_seq = 0
        self._conn_ids = itertools.count(1)

    def _append(self, record: dict[str, Any]) -> None:
        self._records.append({"seq": self._next_seq, **record})
        self._next_seq += 1

    def connection(self, client_port: int | None) -> int:
        """Log an accepted connection now; returns its connection id."""
        conn = next(self._conn_ids)
        self._append({"t": self.wall(), "kind": "connection", "conn": conn, "client_port": client_port})
        return conn

    def request(self, conn: int, t: float, method: str, path: str) -> None:
        self._append({"t": t, "kind": "request", "conn": conn, "method": method[:MAX_TEXT],
                      "path": path[:MAX_TEXT]})

    def unparsed(self, conn: int, t: float, reason: str) -> None:
        self._append({"t": t, "kind": "unparsed", "conn": conn, "reason": reason[:MAX_TEXT]})

    def read(self, since: int, limit: int = DEFAULT_READ_LIMIT) -> dict[str, Any]:
        """`{"records", "next", "dropped", "started"}` for records with seq >= since (at most `limit`)."""
        oldest = self._next_seq - len(self._records)
        start = min(max(since, oldest), self._next_seq)
        records = list(itertools.islice(self._records, start - oldest, start - oldest + limit))
        return {"records": records, "next": start + len(records), "dropped": max(0, oldest - since),
                "started": self.started}
