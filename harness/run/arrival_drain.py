"""Draining the fault proxies' arrival logs during a run, so a long run's arrivals outlive the logs' rings.

The embedded fault proxy keeps each proxy's arrivals in a ring of `capacity` records (harness/toxiproxy/
arrivals.py, 100,000 by default, about 11 minutes at 150 req/s): read once after the load, a longer run's oldest
arrivals are gone. `ArrivalDrain` reads every proxy's log page by page with its `since` cursor from a background
thread every `interval_s`, appending each page's request arrivals (access-log entries: t, listener, method,
path, conn, source) to one JSONL file per proxy, so memory holds one page at a time; `finish` reads the
remainder after the load. What it could not see makes the arrivals unprovable, with the reason (`problem`):
records overwritten before they were read (`dropped`), connections whose bytes were not HTTP/1.x
(`unparsed`), a log replaced during the run (the proxy re-created), or a log unreadable after the load.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.faults.api import FaultControlError
from harness.faults.arrivals import ArrivalPage, ArrivalsUnavailable
from harness.faults.client import ARRIVALS_PAGE, FaultController

PAGES_PER_PASS = 100  # pages read per proxy in one background pass (the next pass goes on from the cursor)
MAX_FINAL_PAGES = 10_000  # pages read per proxy after the load, at most
STOP_JOIN_S = 30.0


@dataclass
class ProxyLog:
    """What the drain has read of one proxy's arrival log."""

    proxy: str
    listener: int  # access-log listener: 0 behind horizon-primary, 1 behind horizon-secondary
    path: Path  # JSONL of the request arrivals read so far
    next: int = 0  # the cursor: the seq to ask for next
    started: float | None = None  # the log's identity (changes when the proxy is re-created)
    pages: int = 0
    records: int = 0
    requests: int = 0
    dropped: int = 0
    dropped_before_run: int = 0  # overwritten before a first read that ended before the run's start
    unparsed: int = 0
    unparsed_reason: str = ""
    replaced: bool = False
    absent_reason: str = ""  # the server keeps no arrival log (a real Toxiproxy)
    final_error: str = ""  # the log could not be read to its end after the load

    @property
    def done(self) -> bool:
        return self.replaced or bool(self.absent_reason)


class ArrivalDrain:
    """Reads each proxy's arrival log into `folder` while the run goes on; `finish` after the load."""

    def __init__(self, toxiproxy_url: str, listeners: Mapping[str, int], folder: Path, interval_s: float = 1.0,
                 page_limit: int = ARRIVALS_PAGE, wall: Callable[[], float] = time.time) -> None:
        if not toxiproxy_url:
            raise ValueError("an arrival drain needs the fault proxy's API URL")
        folder.mkdir(parents=True, exist_ok=True)
        self.logs = {proxy: ProxyLog(proxy, listener, folder / f"arrivals-{proxy}.jsonl")
                     for proxy, listener in listeners.items()}
        for log in self.logs.values():
            log.path.write_text("")
        self.interval_s = interval_s
        self.page_limit = page_limit
        self.wall = wall
        self.read_errors = 0  # failed reads during the run (the cursor stays; the next pass retries)
        self.last_error = ""
        self._controller = FaultController(url=toxiproxy_url)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arrival-drain", daemon=True)
        self._finished = False

    def start(self, pre_run_until: float | None = None) -> ArrivalDrain:
        """Start the background loop. With `pre_run_until` (epoch s), first read every log now: what its ring
        had overwritten, if that read ends before `pre_run_until`, predates the run (e.g. borrowed worlds that
        served earlier runs) and is not counted as missing; otherwise it is."""
        if pre_run_until is not None:
            self.drain()
            if self.wall() < pre_run_until:
                for log in self.logs.values():
                    log.dropped_before_run, log.dropped = log.dropped, 0
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the background loop (no further reads); safe to call more than once, or before `start`."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_JOIN_S)

    def close(self) -> None:
        self.stop()
        self._controller.close()

    def finish(self) -> ArrivalDrain:
        """Stop the loop, read every proxy's log to its end (bounded), and close; idempotent."""
        self.stop()
        try:
            with self._lock:
                if not self._finished:
                    self._finished = True
                    for log in self.logs.values():
                        try:
                            if not log.done and not self._read(log, MAX_FINAL_PAGES):
                                log.final_error = f"more than {MAX_FINAL_PAGES} pages left after the load"
                        except FaultControlError as exc:
                            log.final_error = str(exc)
        finally:
            self._controller.close()
        return self

    def drain(self, max_pages: int = PAGES_PER_PASS) -> None:
        """One pass: each proxy's new records, up to `max_pages` pages each."""
        with self._lock:
            if self._finished:
                return
            for log in self.logs.values():
                try:
                    if not log.done:
                        self._read(log, max_pages)
                except FaultControlError as exc:
                    self.read_errors += 1
                    self.last_error = str(exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.drain()

    def _read(self, log: ProxyLog, max_pages: int) -> bool:
        """Read pages until an empty one (True) or `max_pages` (False: more may remain)."""
        for _ in range(max_pages):
            page = self._controller.arrivals_page(log.proxy, log.next, self.page_limit)
            if isinstance(page, ArrivalsUnavailable):
                log.absent_reason = page.reason
                return True
            if log.started is None:
                log.started = page.started
            elif page.started != log.started:
                log.replaced = True
                return True
            self._append(log, page)
            if not page.records:
                return True
        return False

    @staticmethod
    def _append(log: ProxyLog, page: ArrivalPage) -> None:
        lines = []
        for r in page.records:
            if r.kind == "request":
                lines.append(json.dumps({"t": r.t, "listener": log.listener, "method": r.method or "",
                                         "path": r.path or "", "conn": r.conn, "source": "proxy"}) + "\n")
            elif r.kind == "unparsed":
                log.unparsed += 1
                log.unparsed_reason = log.unparsed_reason or str(r.reason)
        if lines:
            with log.path.open("a", encoding="utf-8") as out:
                out.writelines(lines)
        log.pages += 1
        log.records += len(page.records)
        log.requests += len(lines)
        log.dropped += page.dropped
        log.next = page.next

    def absent(self) -> str | None:
        """Why some proxy keeps no arrival log (a real Toxiproxy), or None when every proxy has one."""
        return next((log.absent_reason for log in self.logs.values() if log.absent_reason), None)

    def problem(self) -> str | None:
        """Why the arrivals read cannot prove what reached the proxies, or None when they can."""
        for log in self.logs.values():
            if log.dropped:
                return (f"the arrival log of {log.proxy} overflowed ({log.dropped} records dropped before the "
                        "harness read them)")
            if log.unparsed:
                return (f"{log.unparsed} connection(s) through {log.proxy} were not HTTP/1.x ({log.unparsed_reason}): "
                        "requests on them are not visible")
            if log.replaced:
                return f"the arrival log of {log.proxy} was replaced during the run (the proxy was re-created)"
            if log.final_error:
                return f"cannot read the arrival log of {log.proxy} after the load: {log.final_error}"
            if not self._finished and not log.absent_reason:
                return "the arrival logs were not read after the load"
        return None

    def entries(self) -> Iterator[dict[str, Any]]:
        """The request arrivals read, as access-log entries, proxy by proxy in the order of `listeners`."""
        for log in self.logs.values():
            with log.path.open(encoding="utf-8") as lines:
                for line in lines:
                    yield json.loads(line)

    def summary(self) -> str:
        retried = (f"; {self.read_errors} reads failed during the run and were retried from the cursor "
                   f"(last: {self.last_error})" if self.read_errors else "")
        return ", ".join(f"{log.proxy}: {log.requests} requests in {log.pages} pages" + (
            f", {log.dropped_before_run} records overwritten before the run" if log.dropped_before_run else "")
            for log in self.logs.values()) + retried
