"""Reading a proxy's arrival log (the embedded server's extension; docs/faults.md "Arrival logs").

Pure evidence helpers: the record and page types, parsing the API's JSON, joining pages, and picking
the records inside a time window. `ArrivalsUnavailable` is what a server without the extension (a real
Toxiproxy) yields, so a judge can say "not observable" instead of reading an empty log as "no traffic".
Times are wall-clock epoch seconds; subtract the run's start epoch for run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

KINDS = ("connection", "request", "unparsed")
MAX_PAGES = 10_000  # bound on pages joined by `read_all` (a log holds at most its capacity anyway)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One record: a connection accepted, a request started, or a connection no longer parseable."""

    seq: int
    t: float
    kind: str
    conn: int
    client_port: int | None = None
    method: str | None = None
    path: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ArrivalPage:
    """Records with seq in [since, next); `dropped` were overwritten before they could be read."""

    proxy: str
    records: tuple[Arrival, ...]
    next: int
    dropped: int
    started: float
    observable = True


@dataclass(frozen=True, slots=True)
class ArrivalsUnavailable:
    """The server keeps no arrival log (a real Toxiproxy): arrivals are not observable there."""

    proxy: str
    url: str
    reason: str
    observable = False


def parse_page(proxy: str, body: Any) -> ArrivalPage:
    """An API answer `{"records", "next", "dropped", "started"}` as a page; ValueError on any other shape."""
    try:
        records = tuple(_record(item) for item in body["records"])
        page = ArrivalPage(proxy, records, int(body["next"]), int(body["dropped"]), float(body["started"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an arrivals page: {type(exc).__name__}: {exc}") from None
    if page.next < 0 or page.dropped < 0:
        raise ValueError("not an arrivals page: negative next or dropped")
    return page


def _record(item: Any) -> Arrival:
    if item["kind"] not in KINDS:
        raise ValueError(f"unknown record kind {item['kind']!r}")
    return Arrival(seq=int(item["seq"]), t=float(item["t"]), kind=str(item["kind"]), conn=int(item["conn"]),
                   client_port=item.get("client_port"), method=item.get("method"), path=item.get("path"),
                   reason=item.get("reason"))


def read_all(fetch: Callable[[int], ArrivalPage | ArrivalsUnavailable], since: int = 0) -> ArrivalPage | ArrivalsUnavailable:
    """Join pages from `since` until a page is empty: one page holding every record, dropped summed.

    ValueError if the log was replaced while reading (its `started` changed: the proxy was re-created).
    """
    first = fetch(since)
    if isinstance(first, ArrivalsUnavailable):
        return first
    records, dropped, page = list(first.records), first.dropped, first
    for _ in range(MAX_PAGES):
        if not page.records:
            break
        nxt = fetch(page.next)
        if isinstance(nxt, ArrivalsUnavailable) or nxt.started != first.started:
            raise ValueError(f"the arrival log of {first.proxy!r} was replaced while it was read")
        records.extend(nxt.records)
        dropped += nxt.dropped
        page = nxt
    return ArrivalPage(first.proxy, tuple(records), page.next, dropped, first.started)


def within(records: Iterable[Arrival], start: float, end: float, kinds: Iterable[str] = ("request",)) -> list[Arrival]:
    """Records of the given kinds with start <= t < end (epoch seconds)."""
    wanted = set(kinds)
    return [r for r in records if r.kind in wanted and start <= r.t < end]
