"""Workers' records streamed to the Locust master (scenarios/record_stream.py): batching, the bounded buffer
and window, the master's in-order writes, and the final count that makes the merge exact or flags it
(harness/run/collect.py `check_worker_records`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.outputs import RECORD_FIELDS
from harness.run.collect import check_worker_records, record_parts
from harness.run.ingest import ingest_parts
from scenarios.record_stream import RecordSink, RecordStream, StreamError, StreamStalled
from scenarios.wire import Sealer, SealError

KINDS = {"decider": {"scheduled": 7, "sent": 7, "late": 0, "dropped": 0}}


class FakeClock:
    """Virtual time: `sleep` advances `now` and runs `on_sleep` (what other greenlets would do meanwhile)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for action in self.on_sleep:
            action()


def record(i: int) -> dict[str, Any]:
    return {"intended_s": float(i), "sent_s": float(i), "endpoint": "decision", "method": "POST",
            "path": "/agent/decisions", "status": 200, "latency_ms": 1.0, "latency_from_intended_ms": 1.0,
            "user_kind": "decider"}


def test_rows_go_out_in_numbered_batches_and_a_partial_one_once_it_ages() -> None:
    sent: list[dict[str, Any]] = []
    clock = FakeClock()
    stream = RecordStream(sent.append, worker=1, pid=42, batch_rows=3, window=4, max_age_s=0.5, clock=clock,
                          sleep=clock.sleep)
    for i in range(7):
        stream.write(record(i))
    assert [(b["seq"], len(b["rows"])) for b in sent] == [(1, 3), (2, 3)] and stream.buffered == 1
    assert all(len(row) == len(RECORD_FIELDS) for b in sent for row in b["rows"])
    stream.tick()
    assert len(sent) == 2  # not old enough yet
    clock.now += 0.5
    stream.tick()
    assert [(b["seq"], len(b["rows"])) for b in sent][-1] == (3, 1) and stream.buffered == 0
    stream.close(KINDS)
    assert sent[-1] == {"worker": 1, "pid": 42, "seq": 4, "final": {"kinds": KINDS, "records": 7}}


def test_a_full_window_holds_the_buffer_and_a_full_buffer_waits_for_an_ack() -> None:
    sent: list[dict[str, Any]] = []
    clock = FakeClock()
    stream = RecordStream(sent.append, worker=0, pid=7, batch_rows=2, window=1, wait_limit_s=5.0, clock=clock,
                          sleep=clock.sleep)
    for i in range(4):
        stream.write(record(i))
    assert len(sent) == 1 and stream.in_flight == 1 and stream.buffered == 2  # window full: nothing more sent
    clock.on_sleep.append(lambda: stream.ack(1) if clock.now > 1.0 else None)  # the master acks after 1 s
    stream.write(record(4))  # waited for the ack, which sent the held batch
    assert clock.now > 1.0 and [b["seq"] for b in sent] == [1, 2] and stream.buffered == 1
    assert stream.count == 5


def test_without_acks_the_buffer_never_grows_past_one_batch() -> None:
    sent: list[dict[str, Any]] = []
    clock = FakeClock()
    stream = RecordStream(sent.append, worker=0, pid=7, batch_rows=10, window=2, wait_limit_s=3.0, clock=clock,
                          sleep=clock.sleep)
    peak = 0
    with pytest.raises(StreamStalled):
        for i in range(1000):
            stream.write(record(i))
            peak = max(peak, stream.buffered)
    assert peak == 10 and len(sent) == 2  # 2 batches in flight + 1 held, no more
    assert stream.count == 31  # the record that could not be buffered is counted: the final count shows it lost


def test_an_ack_out_of_range_changes_nothing() -> None:
    stream = RecordStream(lambda _: None, worker=0, pid=7, batch_rows=1, window=2)
    stream.write(record(0))
    stream.ack(5)
    stream.ack(0)
    assert stream.in_flight == 1


def connected(sink: RecordSink, worker: int, pid: int, **kw: Any) -> RecordStream:
    """A worker's stream wired to the master's sink through sealed messages; the sink acks each batch."""
    sealer = Sealer("a-join-token-for-tests")
    box: list[RecordStream] = []

    def send(payload: dict[str, Any]) -> None:
        box[0].ack(sink.receive(sealer.open(sealer.seal(payload)), worker))

    box.append(RecordStream(send, worker=worker, pid=pid, **kw))
    return box[0]


def test_streamed_records_make_an_exact_merge(tmp_path: Path) -> None:
    sink = RecordSink(tmp_path, 2)
    for worker, rows in ((0, 7), (1, 1234)):
        stream = connected(sink, worker, 100 + worker, batch_rows=50, window=2)
        for i in range(rows):
            stream.write(record(i))
        stream.close({"decider": {"scheduled": rows, "sent": rows, "late": 0, "dropped": 0}})
        assert sink.complete() == (worker == 1)  # once both workers sent their final count
    check = check_worker_records(tmp_path, workers=2, schedule={"decider": 1241})
    assert check.problems == [] and check.records == 1241
    assert check.workers["worker-1"]["records"] == 1234
    assert ingest_parts(record_parts(tmp_path), tmp_path / "requests.parquet") == 1241


def test_a_lost_batch_or_a_missing_final_count_is_a_problem(tmp_path: Path) -> None:
    sealer = Sealer("a-join-token-for-tests")
    sink = RecordSink(tmp_path, 2)
    lossy = RecordStream(lambda p: None if p.get("seq") == 2 else sink.receive(sealer.open(sealer.seal(p)), 0),
                         worker=0, pid=10, batch_rows=5, window=100)
    for i in range(20):
        lossy.write(record(i))
    lossy.close(KINDS)
    killed = RecordStream(lambda p: sink.receive(p, 1), worker=1, pid=11, batch_rows=5, window=100)
    for i in range(8):
        killed.write(record(i))  # the worker dies here: no final count
    assert not sink.complete()
    problems = check_worker_records(tmp_path, workers=2).problems
    assert problems == ["worker-0 wrote 20 records but requests-10.csv holds 15",
                        "worker-1 stopped before the end of the load (no final count beside requests-11.csv): "
                        "its records may be incomplete"]


def test_the_sink_writes_in_order_drops_duplicates_and_says_when_every_worker_finished(tmp_path: Path) -> None:
    sink = RecordSink(tmp_path, 1)
    batch = {"worker": 0, "pid": 5, "seq": 1, "rows": [[*map(str, range(len(RECORD_FIELDS)))]]}
    assert sink.receive(batch, 0) == 1
    assert sink.receive(batch, 0) == 1  # a duplicate: acknowledged, not written again
    assert not sink.complete()
    assert sink.receive({"worker": 0, "pid": 5, "seq": 2, "final": {"kinds": {}, "records": 1}}, 0) == 2
    assert sink.complete()
    two = RecordSink(tmp_path / "two", 2)
    two.receive({"worker": 1, "pid": 6, "seq": 1, "final": {"kinds": {}, "records": 0}}, 1)
    assert not two.complete() and two.complete([1]) and not two.complete([0, 1])  # waiting only for worker 1
    lines = (tmp_path / "worker-0" / "requests-5.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].endswith(",0")  # header + one row, its row index last


@pytest.mark.parametrize("payload, sender, match", [
    ({"worker": 1, "pid": 5, "seq": 1, "rows": []}, 0, "from worker 0"),
    ({"worker": 0, "pid": 5, "seq": 1, "rows": []}, None, "from worker None"),
    ({"worker": 3, "pid": 5, "seq": 1, "rows": []}, 3, "of 2"),
    ({"worker": 0, "pid": 5, "seq": 1, "rows": [["too", "short"]]}, 0, "cells"),
    ({"worker": 0, "pid": "5", "seq": 1, "rows": []}, 0, "integer"),
    ({"worker": 0, "pid": 0, "seq": 1, "rows": []}, 0, "non-positive"),
    ({"worker": 0, "pid": 5, "seq": 1, "final": {"records": 3}}, 0, "arrival counters"),
    ([1, 2], 0, "mapping"),
])
def test_the_sink_refuses_bad_messages_and_writes_nothing(tmp_path: Path, payload: Any, sender: int | None,
                                                          match: str) -> None:
    with pytest.raises(StreamError, match=match):
        RecordSink(tmp_path, 2).receive(payload, sender)
    assert not any(tmp_path.rglob("load-*.json")) and all(
        len(p.read_text().splitlines()) <= 1 for p in tmp_path.rglob("requests-*.csv"))


def test_the_sink_bounds_the_files_one_worker_opens(tmp_path: Path) -> None:
    sink = RecordSink(tmp_path, 1, max_parts=2)
    for pid in (1, 2):
        sink.receive({"worker": 0, "pid": pid, "seq": 1, "rows": []}, 0)
    with pytest.raises(StreamError, match="already has 2"):
        sink.receive({"worker": 0, "pid": 3, "seq": 1, "rows": []}, 0)
    sink.close()


def test_a_payload_sealed_with_another_token_or_altered_is_refused() -> None:
    sealed = Sealer("the-run-join-token-1").seal({"rows": []})
    with pytest.raises(SealError):
        Sealer("another-join-token-2").open(sealed)
    with pytest.raises(SealError):
        Sealer("the-run-join-token-1").open(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(SealError):
        Sealer("the-run-join-token-1").open("not bytes")
    assert Sealer("the-run-join-token-1").open(sealed) == {"rows": []}
