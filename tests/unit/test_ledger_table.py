"""The applied-ledger table the money judges join to the records (harness/ledger_table.py): normalisation of
history records, streaming across pages, and the same verdicts from a ledger_applied.parquet as from dicts."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.judges.context import JudgeContext, JudgingError
from harness.judges.fees import account_fees
from harness.judges.nothing_lost import reconcile
from harness.judges.x402_ledger import reconcile_x402
from harness.ledger_table import AppliedWriter, applied_row, applied_table
from harness.outputs import RequestRecord


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def tx(h: str, key: str = "", ok: bool | None = True, ledger: int = 3, index: int = 0, dest: str = "GPOOL",
       fee: int = 100) -> dict:
    entry = {"kind": "applied", "hash": h, "ledger": ledger, "index": index, "fee_charged": fee,
             "operations": [{"type": "payment", "destination": dest}]}
    if ok is not None:
        entry["successful"] = ok
    if key:
        entry["memo"] = {"type": "hash", "value": digest(key)}
    return entry


def settle(key: str, status: int, h: str = "") -> RequestRecord:
    return RequestRecord(1.0, 1.0, "settlement", "POST", "/settlements", status, 900.0, 900.0,
                         idempotency_key=key, tx_hash=h)


def pay(status: int, h: str) -> RequestRecord:
    return RequestRecord(1.0, 1.0, "x402", "GET", "/resources/report", status, 10.0, 10.0, tx_hash=h)


def test_an_applied_record_keeps_what_the_judges_read() -> None:
    memo_b64 = base64.b64encode(bytes.fromhex(digest("k"))).decode()  # Horizon's memo encoding
    entry = {"hash": "AB" * 32, "successful": False, "memo": {"type": "hash", "value": memo_b64}, "ledger": "7",
             "fee_charged": "200", "operations": [
                 {"type": "payment", "destination": "GA"}, {"type": "create_account", "destination": "GX"},
                 {"type": "invoke_host_function", "function": "transfer", "destination": "GB"},
                 {"type": "payment", "destination": "GA"}]}
    assert applied_row(5, entry) == {"pos": 5, "hash": "ab" * 32, "successful": 0, "memo_hash": digest("k"),
                                     "ledger": 7, "index": 0, "fee_charged": 200, "credited": ["GA", "GB"]}
    assert applied_row(0, {"kind": "applied", "hash": "cc"})["successful"] == -1  # not stated is not success


def test_only_applied_records_enter_the_table_in_history_order() -> None:
    history = [{"kind": "close", "ledger": 2}, tx("aa" * 32), {"kind": "submission", "hash": "bb" * 32},
               {"hash": "cc" * 32, "successful": True}, {"kind": "close", "hash": "dd" * 32, "successful": True}]
    table = applied_table(history)
    assert table.column("hash").to_pylist() == ["aa" * 32, "cc" * 32] and table.column("pos").to_pylist() == [1, 3]


def test_the_writer_numbers_positions_across_pages(tmp_path: Path) -> None:
    with AppliedWriter(tmp_path / "applied.parquet") as writer:
        writer.write([{"kind": "close"}, tx("aa" * 32)])
        writer.write([])
        writer.write([{"kind": "submission"}, {"kind": "submission"}, tx("bb" * 32)])
    table = pq.read_table(tmp_path / "applied.parquet")
    assert table.column("pos").to_pylist() == [1, 4] and (writer.records, writer.applied) == (5, 2)


RECORDS = [settle("a", 200, "aa" * 32), settle("b", 200), settle("c", 200), settle("d", 504),
           settle("f", 200), settle("f", 200), pay(200, "11" * 32), pay(200, "22" * 32), pay(504, "33" * 32)]
HISTORY = [tx("aa" * 32, "a"), tx("b1" * 32, "b"), tx("b2" * 32, "b", ledger=4), tx("d0" * 32, "d"),
           tx("f0" * 32, "f", ok=False), tx("f1" * 32, "f", ledger=5), tx("11" * 32, dest="GPAYEE"),
           tx("33" * 32, dest="GPAYEE"), tx("44" * 32, dest="GPAYEE"), {"kind": "close", "ledger": 6}]


def test_a_ledger_table_file_judges_like_the_history_it_came_from(tmp_path: Path) -> None:
    with AppliedWriter(tmp_path / "applied.parquet") as writer:
        writer.write(HISTORY[:4])
        writer.write(HISTORY[4:])
    from_dicts = JudgeContext.build(RECORDS, ledger_history=HISTORY)
    from_file = JudgeContext.build(RECORDS, ledger_history=tmp_path / "applied.parquet")
    for fn in (reconcile, reconcile_x402, account_fees):
        assert fn(from_file) == fn(from_dicts)
    money = reconcile(from_file)
    assert (money["lost_keys"], money["duplicated_keys"], money["unknown_resolved"]) == (["c"], ["b"], 1)
    assert money["duplicated_txs"] == {"b": ["b1" * 32, "b2" * 32]}
    x402 = reconcile_x402(from_file)
    assert (x402["lost_hashes"], x402["unserved_hashes"], x402["unknown_resolved"]) == (["22" * 32], ["44" * 32], 1)
    fees = account_fees(from_file)
    assert fees["resubmitted"] == {"f": ["f0" * 32, "f1" * 32]} and fees["wasted_fees_stroops"] == 100


def test_history_given_wrong_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(JudgingError, match="no ledger table"):
        JudgeContext.build([], ledger_history=tmp_path / "absent.parquet")
    with pytest.raises(JudgingError, match="must be a mapping"):
        JudgeContext.build([], ledger_history=["not a record"])
    assert not JudgeContext.build([], ledger_history=[]).has_ledger_history
    assert JudgeContext.build([], ledger_history=[{"kind": "close"}]).has_ledger_history
