"""The merge's row order is total and deterministic (harness/run/ingest.py, harness/run/collect.py
`merge_records`): send time, then worker index, pid and row in the part; and the parts are removed only
once requests.parquet holds exactly their rows (`ingest.remove_parts`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.outputs import REQUESTS_PARQUET, read_records
from harness.records_store import RecordStore
from harness.run.collect import merge_records, record_parts
from harness.run.ingest import ingest_parts, remove_parts
from scenarios.recording import RecordWriter, part_identity


def _tied_parts(load_dir: Path) -> list[tuple[float, int, int, int, str]]:
    """Parts of three processes whose records share send times; within a part the intended times fall (so an
    order by intended time, the old tie-breaker, is not the row order). Returns the expected order's keys."""
    keys = []
    for worker, pid in ((1, 30), (0, 20), (0, 10)):
        writer = RecordWriter(load_dir / f"worker-{worker}", pid=pid)
        for row in range(6):
            sent = float(row // 3)  # three records per send time in each part
            path = f"/w{worker}/p{pid}/r{row}"
            writer.write({"intended_s": 100.0 - row, "sent_s": sent, "endpoint": "decision", "method": "POST",
                          "path": path, "status": 200, "latency_ms": 1.0, "latency_from_intended_ms": 1.0})
            keys.append((sent, worker, pid, row, path))
        writer.close()
    return sorted(keys)


def test_ties_are_broken_by_worker_pid_and_row_the_same_every_time(tmp_path: Path) -> None:
    want = [k[-1] for k in _tied_parts(tmp_path)]
    old_key = [k[-1] for k in sorted((r.sent_s, r.intended_s, str(p), r.path) for p in record_parts(tmp_path)
                                     for r in read_records(p))]
    assert old_key != want  # the data tells the old tie-breaker (intended time, file name) from this one
    orders = []
    for attempt in range(3):
        out = tmp_path / f"{attempt}-{REQUESTS_PARQUET}"
        assert ingest_parts(record_parts(tmp_path), out) == 18
        orders.append(list(RecordStore([out]).frame()["path"]))
    assert orders == [want] * 3
    assert [r.path for r in merge_records(tmp_path, [])] == want


def test_part_identity_reads_worker_and_pid_from_the_path(tmp_path: Path) -> None:
    assert part_identity(tmp_path / "worker-12" / "requests-345.csv") == (12, 345)
    assert part_identity(tmp_path / "load" / "requests-9.csv") == (-1, 9)


def test_parts_are_removed_only_when_the_parquet_file_holds_their_rows(tmp_path: Path) -> None:
    _tied_parts(tmp_path)
    parts = record_parts(tmp_path)
    out = tmp_path / REQUESTS_PARQUET
    assert not remove_parts(parts, out, 18)  # no Parquet file yet
    ingest_parts(parts, out)
    assert not remove_parts(parts, out, 19) and all(p.is_file() for p in parts)  # a count that does not match
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) // 2])  # cut short: no footer
    assert not remove_parts(parts, out, 18) and all(p.is_file() for p in parts)
    out.write_bytes(whole)
    assert pq.read_metadata(out).num_rows == 18
    assert remove_parts(parts, out, 18) and not any(p.exists() for p in parts)


@pytest.mark.parametrize("name", ["requests.csv", "requests-x.csv"])
def test_an_unnumbered_part_has_no_pid(tmp_path: Path, name: str) -> None:
    assert part_identity(tmp_path / name)[1] == -1
