"""Horizon ids and paging: TOIDs, transaction order within a ledger, page queries and HAL page links.

Pinned against stellar/go `toid/main.go`, Horizon `internal/actions/helpers.go` (getCursor, getLimit,
GetPageQuery, validateAndAdjustCursor), `internal/db2/page_query.go` and stellar/go
`support/render/hal/page.go` (PopulateLinks).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.ledger.paging import (
    INT64_MAX,
    OP_MASK,
    TX_MASK,
    PageQuery,
    ProblemError,
    adjust_cursor,
    after_ledger,
    page_links,
    page_query,
    parse_toid,
    toid,
)
from harness.ledger.snapshot import restore_ledger
from tests.unit.test_ledger_queue import SEED, make_ledger, next_seq, payment


def test_toid_layout_matches_stellar_go() -> None:
    # toid/main_test.go: op 1 -> 1, max op -> 4095, tx 1 -> 4096, max tx -> 4294963200, ledger 1 -> 4294967296
    assert (toid(0, 0, 1), toid(0, 0, OP_MASK), toid(0, 1), toid(0, TX_MASK), toid(1)) == \
        (1, 4095, 4096, 4294963200, 4294967296)
    assert toid(2**31 - 1) == 9223372032559808512
    assert after_ledger(5) == (5 << 32) | (TX_MASK << 12) | OP_MASK
    with pytest.raises(ValueError):
        toid(1, TX_MASK + 1)


@given(st.integers(0, 2**31 - 1), st.integers(0, TX_MASK), st.integers(0, OP_MASK))
def test_toid_round_trips(ledger: int, tx: int, op: int) -> None:
    assert parse_toid(toid(ledger, tx, op)) == (ledger, tx, op)


def test_transactions_are_numbered_from_one_within_each_ledger() -> None:
    """Horizon's TOID transaction order is the 1-based application index in the ledger (ingest's tx.Index)."""
    from harness.ledger.genesis import generated_keypair

    ledger = make_ledger()
    a, b = generated_keypair(SEED, 0), generated_keypair(SEED, 2)
    ledger.submit(payment(ledger, a, next_seq(ledger, a)))
    ledger.submit(payment(ledger, b, next_seq(ledger, b)))
    first = ledger.close_ledger()
    ledger.submit(payment(ledger, a, next_seq(ledger, a)))
    second = ledger.close_ledger()
    assert [t.application_order for t in first.applied] == [1, 2]
    assert [t.application_order for t in second.applied] == [1]
    restored = restore_ledger(type(ledger), ledger.snapshot(), ledger.config, ledger.clock)
    assert [restored.transaction(t.hash).application_order for t in (*first.applied, *second.applied)] == [1, 2, 1]


def pq(**query: str) -> PageQuery:
    return page_query(query, None, latest_ledger=7)


def problem_of(**query: str) -> tuple[str, dict | None]:
    with pytest.raises(ProblemError) as info:
        pq(**query)
    return info.value.slug, info.value.extras


def test_page_query_defaults_and_now() -> None:
    assert pq() == PageQuery("", "asc", 10)
    assert pq(cursor="now", order="desc", limit="200") == PageQuery(str(after_ledger(7)), "desc", 200)
    # Last-Event-ID wins over the query's cursor (getCursor)
    assert page_query({"cursor": "5"}, "12-3", 7).cursor == "12-3"


@pytest.mark.parametrize(("query", "field", "reason"), [
    ({"limit": "0"}, "limit", "invalid limit: non-positive value provided"),
    ({"limit": "201"}, "limit", "invalid limit: value provided that is over limit max of 200"),
    ({"limit": "ten"}, "limit", "unparseable value"),
    ({"limit": " 5"}, "limit", "unparseable value"),
    ({"order": "up"}, "order", "order: invalid value"),
    ({"cursor": "-3"}, "cursor", "the cursor -3 is a negative number: "),
    ({"cursor": "abc"}, "cursor", "cursor: invalid value"),
    ({"cursor": "1_000"}, "cursor", "cursor: invalid value"),
    ({"cursor": "5-x"}, "cursor", "cursor: invalid value"),
])
def test_bad_page_parameters_are_horizon_invalid_field_problems(query: dict, field: str, reason: str) -> None:
    assert problem_of(**query) == ("bad_request", {"invalid_field": field, "reason": reason})


def test_cursor_adjustment_and_before_history() -> None:
    # ascending from nothing starts after ledger elder-1; descending at or below the elder ledger is 410
    assert adjust_cursor(pq(), 1).cursor == str(after_ledger(0))
    assert adjust_cursor(pq(cursor="3"), 1).cursor == str(after_ledger(0))
    assert adjust_cursor(pq(cursor=str(toid(3))), 1).cursor == str(toid(3))
    assert adjust_cursor(pq(order="desc"), 1).cursor == ""
    with pytest.raises(ProblemError) as info:
        adjust_cursor(pq(order="desc", cursor=str(toid(1))), 1)
    assert info.value.slug == "before_history"
    assert adjust_cursor(pq(order="desc", cursor=str(toid(1) + 1)), 1).cursor == str(toid(1) + 1)


def test_cursor_forms() -> None:
    assert pq(order="desc").int_cursor() == INT64_MAX
    assert pq().pair_cursor() == (0, 0)
    assert pq(cursor="17").pair_cursor() == (17, INT64_MAX)  # a lone number skips that operation's effects
    assert pq(cursor="17-2").pair_cursor() == (17, 2)
    with pytest.raises(ProblemError) as info:
        pq(cursor="17-2").int_cursor()  # transactions/operations: db2.ErrInvalidCursor -> plain 400
    assert (info.value.slug, info.value.extras) == ("bad_request", None)


def test_page_links_follow_hal_populate_links() -> None:
    query = pq(cursor="100", limit="3")
    links = page_links("http://h:1", "/accounts/G/payments", [("cursor", "100"), ("limit", "3"), ("x", "y"),
                                                               ("include_failed", "true")], query, ["101", "102"])
    parsed = {k: (urlsplit(v["href"]).path, parse_qsl(urlsplit(v["href"]).query)) for k, v in links.items()}
    assert parsed["self"] == ("/accounts/G/payments", [("cursor", "100"), ("include_failed", "true"), ("limit", "3"),
                                                       ("order", "asc"), ("x", "y")])
    assert dict(parsed["next"][1]) == {"cursor": "102", "include_failed": "true", "limit": "3", "order": "asc",
                                       "x": "y"}
    assert dict(parsed["prev"][1]) == {"cursor": "101", "include_failed": "true", "limit": "3", "order": "desc",
                                       "x": "y"}
    assert links["self"]["href"].startswith("http://h:1/accounts/G/payments?")
    # an empty page keeps the cursor: following `next` again gives the same empty page, never a loop back
    empty = page_links("http://h:1", "/ledgers", [], query, [])
    assert "cursor=100" in empty["next"]["href"] and "order=desc" in empty["prev"]["href"]
