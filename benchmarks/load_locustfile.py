"""Locust side of `python -m benchmarks load` (run as `python -m locust -f` this file, never imported elsewhere).

Closed-loop users (no wait) on one cheap loopback endpoint; each request is recorded the way a harness
run records it: one `scenarios.recording.RecordWriter` row per request, flushed, one file per Locust
process in `$BENCH_LOAD_OUT`. So the rate measured is Locust's plus the harness's per-request recording.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from locust import FastHttpUser, constant, events, task

from scenarios.recording import RecordWriter

_WRITERS: list[RecordWriter] = []


def writer() -> RecordWriter:
    """This process's record file, opened at the first request (a distributed master never opens one)."""
    if not _WRITERS:
        _WRITERS.append(RecordWriter(Path(os.environ["BENCH_LOAD_OUT"])))
    return _WRITERS[0]


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self) -> None:
        sent = time.time()
        t0 = time.perf_counter()
        with self.client.get("/", name="loopback", catch_response=True) as resp:
            latency_ms = (time.perf_counter() - t0) * 1000.0
            resp.success()
            status = int(resp.status_code or 0)
        writer().write({"intended_s": sent, "sent_s": sent, "endpoint": "loopback", "method": "GET", "path": "/",
                        "status": status, "latency_ms": latency_ms, "latency_from_intended_ms": latency_ms,
                        "user_kind": "hammer"})


@events.test_stop.add_listener
def _close(**_kwargs: object) -> None:
    for w in _WRITERS:
        w.close()
