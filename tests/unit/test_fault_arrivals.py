"""Pure arrival-log evidence helpers: page parsing, joining pages, windows (harness.faults.arrivals)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults.arrivals import Arrival, ArrivalPage, ArrivalsUnavailable, parse_page, read_all, within
from harness.toxiproxy.arrivals import ArrivalLog


def test_parse_page_reads_what_the_server_writes_and_rejects_other_shapes() -> None:
    log = ArrivalLog(10, lambda: 100.0)
    conn = log.connection(4000)
    log.request(conn, 101.5, "GET", "/accounts/G")
    log.unparsed(conn, 102.0, "not HTTP/1.x")
    page = parse_page("p", log.read(0))
    assert page.records == (Arrival(0, 100.0, "connection", 1, client_port=4000),
                            Arrival(1, 101.5, "request", 1, method="GET", path="/accounts/G"),
                            Arrival(2, 102.0, "unparsed", 1, reason="not HTTP/1.x"))
    assert (page.next, page.dropped, page.started, page.observable) == (3, 0, 100.0, True)
    for bad in ({}, {"records": [{"kind": "meteor"}], "next": 0, "dropped": 0, "started": 0},
                {"records": [], "next": -1, "dropped": 0, "started": 0}, [], None):
        with pytest.raises(ValueError, match="not an arrivals page"):
            parse_page("p", bad)


def _pages(log: ArrivalLog, limit: int, calls: list[int]) -> Any:
    def fetch(since: int) -> ArrivalPage:
        calls.append(since)
        return parse_page("p", log.read(since, limit))
    return fetch


def test_read_all_joins_pages_until_one_is_empty() -> None:
    log = ArrivalLog(4, lambda: 1.0)
    for port in range(7):
        log.connection(port)
    calls: list[int] = []
    page = read_all(_pages(log, 2, calls), since=0)
    assert isinstance(page, ArrivalPage)
    assert [r.client_port for r in page.records] == [3, 4, 5, 6]
    assert (page.dropped, page.next, calls) == (3, 7, [0, 5, 7])


def test_read_all_refuses_a_log_replaced_while_reading_and_passes_unavailable_through() -> None:
    old, new = ArrivalLog(10, lambda: 1.0), ArrivalLog(10, lambda: 2.0)
    for log in (old, new):
        log.connection(1)
        log.connection(2)
    logs = [old, new]

    def fetch(since: int) -> ArrivalPage:
        return parse_page("p", logs.pop(0).read(since, 1))

    with pytest.raises(ValueError, match="replaced"):
        read_all(fetch)
    unavailable = ArrivalsUnavailable("p", "http://x", "no extension")
    assert read_all(lambda since: unavailable) is unavailable and not unavailable.observable


def test_within_picks_kinds_in_a_half_open_window() -> None:
    records = [Arrival(0, 1.0, "connection", 1), Arrival(1, 1.0, "request", 1, method="GET", path="/a"),
               Arrival(2, 2.0, "unparsed", 1, reason="x"), Arrival(3, 3.0, "request", 2, method="GET", path="/b")]
    assert [r.seq for r in within(records, 1.0, 3.0)] == [1]
    assert [r.seq for r in within(records, 1.0, 3.0, kinds=("request", "unparsed"))] == [1, 2]
