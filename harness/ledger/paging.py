"""Horizon's ids and paging: TOIDs, page queries (`cursor`/`order`/`limit`) and HAL page links.

Sources: stellar/go `toid/main.go` (ids), Horizon `internal/actions/helpers.go` (`getCursor`, `getLimit`,
`GetPageQuery`, `validateAndAdjustCursor`), `internal/db2/page_query.go` (`NewPageQuery`, cursor pairs) and
stellar/go `support/render/hal/page.go` (`PopulateLinks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from harness.ledger.errors import LedgerError

LEDGER_SHIFT, TX_SHIFT = 32, 12
TX_MASK, OP_MASK = (1 << 20) - 1, (1 << 12) - 1
INT64_MAX = 2**63 - 1
DEFAULT_LIMIT, MAX_LIMIT = 10, 200  # db2.DefaultPageSize, db2.MaxPageSize
_GO_INT = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.ParseInt(s, 10, 64) accepts (no spaces, no "_")


def go_int(text: str) -> int | None:
    """`text` as Go's strconv.ParseInt(text, 10, 64) reads it, or None when Go would refuse it."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value <= INT64_MAX else None


def toid(ledger: int, tx: int = 0, op: int = 0) -> int:
    """Total order id: ledger << 32 | transaction order << 12 | operation order (toid.New(...).ToInt64())."""
    if not (0 <= ledger <= 0xFFFFFFFF and 0 <= tx <= TX_MASK and 0 <= op <= OP_MASK):
        raise ValueError(f"toid out of range: ledger {ledger}, tx {tx}, op {op}")
    return ledger << LEDGER_SHIFT | tx << TX_SHIFT | op


def parse_toid(value: int) -> tuple[int, int, int]:
    """(ledger, transaction order, operation order) of a TOID (toid.Parse)."""
    return value >> LEDGER_SHIFT & 0xFFFFFFFF, value >> TX_SHIFT & TX_MASK, value & OP_MASK


def after_ledger(sequence: int) -> int:
    """The TOID after every record of ledger `sequence` (toid.AfterLedger), what `cursor=now` means."""
    return toid(sequence, TX_MASK, OP_MASK)


class ProblemError(LedgerError):
    """A request Horizon answers with a problem: `slug` (resources.problem), optional extras and detail."""

    def __init__(self, slug: str, extras: dict[str, Any] | None = None, detail: str | None = None) -> None:
        super().__init__(slug if detail is None else f"{slug}: {detail}")
        self.slug, self.extras, self.detail = slug, extras, detail


def invalid_field(name: str, reason: str) -> ProblemError:
    """Horizon's problem.MakeInvalidFieldProblem: 400 bad_request with `invalid_field` and `reason`."""
    return ProblemError("bad_request", {"invalid_field": name, "reason": reason})


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A validated page request: `cursor` as given (after `now` and Last-Event-ID), order, limit."""

    cursor: str
    order: str
    limit: int

    @property
    def descending(self) -> bool:
        return self.order == "desc"

    def int_cursor(self) -> int:
        """PageQuery.CursorInt64: "" -> 0 (asc) or INT64_MAX (desc); a pair cursor is a plain 400."""
        if self.cursor == "":
            return INT64_MAX if self.descending else 0
        value = go_int(self.cursor)
        if value is None or value < 0:
            raise ProblemError("bad_request")  # db2.ErrInvalidCursor, registered as problem.BadRequest
        return value

    def pair_cursor(self) -> tuple[int, int]:
        """PageQuery.CursorInt64Pair("-"): "a-b"; a single number n means (n, INT64_MAX)."""
        if self.cursor == "":
            return (INT64_MAX, INT64_MAX) if self.descending else (0, 0)
        return _pair(self.cursor)


def _pair(cursor: str) -> tuple[int, int]:
    parts = cursor.split("-", 1)
    first = go_int(parts[0])
    second = go_int(parts[1]) if len(parts) == 2 else INT64_MAX
    if first is None or second is None or first < 0 or second < 0:
        raise invalid_field("cursor", "cursor: invalid value")
    return first, second


def page_query(query: Mapping[str, str], last_event_id: str | None, latest_ledger: int, *,
               validate_cursor: bool = True) -> PageQuery:
    """GetPageQuery: cursor (`now`, Last-Event-ID, negative check), order, limit, then NewPageQuery's checks
    (`validate_cursor=False` is DisableCursorValidation, for cursors that are not TOIDs)."""
    cursor = query.get("cursor", "")
    if cursor == "now":
        cursor = str(after_ledger(latest_ledger))
    if last_event_id:
        cursor = last_event_id
    number = go_int(cursor)
    if number is not None and number < 0:
        raise invalid_field("cursor", f"the cursor {number} is a negative number: ")
    order = query.get("order", "")
    limit = _limit(query.get("limit", ""))
    if order not in ("", "asc", "desc"):
        raise invalid_field("order", "order: invalid value")
    if cursor and validate_cursor:
        _pair(cursor)
    return PageQuery(cursor, order or "asc", limit)


def _limit(text: str) -> int:
    if text == "":
        return DEFAULT_LIMIT
    value = go_int(text)
    if value is None:
        raise invalid_field("limit", "unparseable value")
    if value <= 0:
        raise invalid_field("limit", "invalid limit: non-positive value provided")
    if value > MAX_LIMIT:
        raise invalid_field("limit", f"invalid limit: value provided that is over limit max of {MAX_LIMIT}")
    return value


def adjust_cursor(pq: PageQuery, elder_ledger: int) -> PageQuery:
    """validateAndAdjustCursor: asc starts at the oldest ledger; desc at or before it is 410 before_history."""
    first = pq.pair_cursor()[0] if "-" in pq.cursor else pq.int_cursor()
    before_history = first <= toid(elder_ledger)
    if not pq.descending and (pq.cursor == "" or before_history):
        return replace(pq, cursor=str(after_ledger(max(0, elder_ledger - 1))))
    if before_history:
        raise ProblemError("before_history")
    return pq


def page_links(base_url: str, path: str, query: Sequence[tuple[str, str]], pq: PageQuery,
               tokens: Sequence[str]) -> dict[str, dict[str, str]]:
    """hal.Page.PopulateLinks: self re-encodes the query; next = last token, same order; prev = first token,
    inverted order. Parameters are sorted by name, as Go's url.Values.Encode does."""
    others = [(k, v) for k, v in query if k not in ("cursor", "order", "limit")]

    def href(cursor: str, order: str) -> str:
        items = sorted([*others, ("cursor", cursor), ("limit", str(pq.limit)), ("order", order)],
                       key=lambda item: item[0])
        return f"{base_url}{path}?{urlencode(items)}"

    inverted = "asc" if pq.descending else "desc"
    return {"self": {"href": href(pq.cursor, pq.order)},
            "next": {"href": href(tokens[-1] if tokens else pq.cursor, pq.order)},
            "prev": {"href": href(tokens[0] if tokens else pq.cursor, inverted)}}
