"""The read side's history index: Timeline paging against a brute-force model, catch-up from a restored
snapshot, header_xdr, and Horizon's SSE framing bytes.

Sources: Horizon `internal/db2/page_query.go` (ApplyToUsingCursor: `> cursor` ascending, `< cursor`
descending, then LIMIT), `internal/render/sse/main.go` (helloEvent, goodbyeEvent, WriteEvent),
stellar-core's `txSetResultHash` (SHA-256 of the TransactionResultSet XDR).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import xdr as X

from harness.ledger.genesis import generated_keypair
from harness.ledger.header_xdr import header_xdr
from harness.ledger.history_index import HistoryIndex, Timeline
from harness.ledger.ledger import Ledger
from harness.ledger.paging import PageQuery
from harness.ledger.streaming import GOODBYE, HELLO, sse_error, sse_frame
from tests.unit.test_ledger_queue import SEED, make_ledger, next_seq, payment


@given(keys=st.lists(st.integers(0, 60), unique=True).map(sorted), cursor=st.integers(-1, 61),
       descending=st.booleans(), limit=st.integers(1, 8),
       bounds=st.tuples(st.none() | st.integers(0, 61), st.none() | st.integers(0, 61)))
def test_timeline_pages_like_the_sql_it_replaces(keys: list[int], cursor: int, descending: bool, limit: int,
                                                 bounds: tuple[int | None, int | None]) -> None:
    line: Timeline[tuple[int, str]] = Timeline(lambda item: item[0])
    for key in keys:
        line.append((key, f"item{key}"))
    lo, hi = bounds
    inside = [k for k in keys if (lo is None or k >= lo) and (hi is None or k < hi)]
    model = sorted((k for k in inside if k < cursor), reverse=True) if descending else [k for k in inside if k > cursor]
    assert line.page(cursor, descending, limit, lo, hi) == [(k, f"item{k}") for k in model[:limit]]
    assert all(line.find(k) == (k, f"item{k}") for k in keys) and line.find(61) is None


def test_timeline_refuses_keys_out_of_order() -> None:
    line: Timeline[tuple[int, int]] = Timeline(lambda pair: pair)
    line.append((5, 1))
    with pytest.raises(ValueError):
        line.append((5, 1))


def busy_ledger() -> Ledger:
    ledger = make_ledger()
    a, b = generated_keypair(SEED, 0), generated_keypair(SEED, 2)
    for _ in range(3):
        ledger.submit(payment(ledger, a, next_seq(ledger, a)))
        ledger.submit(payment(ledger, b, next_seq(ledger, b), amount="100000"))  # fails: underfunded
        ledger.close_ledger()
    return ledger


def everything(index: HistoryIndex) -> tuple[list[str], ...]:
    pq = PageQuery("", "asc", 200)
    return ([t.paging_token for t in index.transactions(pq, include_failed=True)],
            [o.paging_token for o in index.operations(pq, include_failed=True)],
            [e.paging_token + e.effect.type for e in index.effects(pq)],
            [index.header_xdr(n) for n in range(1, index.latest_ledger() + 1)])


def test_an_index_built_from_a_restored_snapshot_equals_the_live_one() -> None:
    ledger = busy_ledger()
    live = HistoryIndex(ledger)
    live.sync()
    restored = HistoryIndex(Ledger.restore(ledger.snapshot(), ledger.config, ledger.clock))
    assert everything(restored) == everything(live)
    txs, ops, effects, _ = everything(live)
    assert len(txs) == 6 and len(ops) == 6 and len(effects) == 6  # credited + debited per successful payment
    ok_only = live.transactions(PageQuery("", "asc", 200))
    assert [t.applied.successful for t in ok_only] == [True] * 3


def test_header_xdr_hashes_the_results_as_stellar_core_does() -> None:
    ledger = busy_ledger()
    index = HistoryIndex(ledger)
    index.sync()
    sequence = ledger.latest().sequence
    applied = [t.applied for t in index.in_ledger(sequence)]
    decoded = X.LedgerHeader.from_xdr(index.header_xdr(sequence))
    result_set = X.TransactionResultSet([X.TransactionResultPair(X.Hash(bytes.fromhex(t.hash)),
                                                                 X.TransactionResult.from_xdr(t.result_xdr))
                                         for t in applied])
    assert decoded.tx_set_result_hash.hash == hashlib.sha256(result_set.to_xdr_bytes()).digest()
    header = ledger.header(sequence)
    assert header is not None and header_xdr(header, applied) == index.header_xdr(sequence)
    assert (decoded.ledger_seq.uint32, decoded.scp_value.close_time.time_point.uint64, decoded.fee_pool.int64) == \
        (sequence, header.close_time, header.fee_pool)
    envelopes = b"".join(base64.b64decode(t.envelope_xdr) for t in sorted(applied, key=lambda t: t.hash))
    assert decoded.scp_value.tx_set_hash.hash == hashlib.sha256(bytes.fromhex(header.prev_hash) + envelopes).digest()


def test_sse_framing_is_horizons() -> None:
    assert HELLO == b'retry: 1000\nevent: open\ndata: "hello"\n\n'
    assert GOODBYE == b'retry: 10\nevent: close\ndata: "byebye"\n\n'
    assert sse_frame({"a": 1}, "42-1") == b'id: 42-1\ndata: {"a":1}\n\n'
    assert sse_error("problem: not_found. full details: x") == b"event: error\ndata: problem: not_found. full details: x\n\n"
