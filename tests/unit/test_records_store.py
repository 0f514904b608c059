"""Columnar evidence: judges on requests.parquet give the very figures they give on the in-memory frame;
runs stream the load parts into it; old requests.csv folders still read; `harness export --csv` round-trips."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness import records_store
from harness.cli import main as cli_main
from harness.judges import judge, rate_limits, reconcile
from harness.judges.context import JudgeContext, RateLimit, records_frame
from harness.outputs import RECORD_FIELDS, REQUESTS_FILE, REQUESTS_PARQUET, read_records, write_records
from harness.records_store import (
    SCHEMA,
    RecordStore,
    read_csv_frame,
    records_table,
    run_records,
    write_parquet,
)
from harness.report import render_report
from harness.report.compare import compare_runs
from harness.run.collect import ActualFault, CollectionError, merge_records, record_parts
from harness.run.ingest import ingest_parts
from scenarios.recording import RecordWriter
from tests.fixtures.synthetic import make_evidence
from tests.unit.test_judges_capacity import ctx_for, ramp_records
from tests.unit.test_judges_properties import BUG_BREAKS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
TRUTH_COLUMNS = ("error_field", "ratelimit_remaining", "ratelimit_reset_s", "retry_after_s")  # issue 16A's


def _columnar(ctx: JudgeContext, path: Path, store_cls: type[RecordStore] = RecordStore) -> JudgeContext:
    """The same context with its records read from a Parquet file instead of memory."""
    write_parquet(path, [pa.Table.from_pandas(ctx.records[list(RECORD_FIELDS)], schema=SCHEMA, preserve_index=False)])
    return replace(ctx, source=store_cls([path]))


def _figures(ctx: JudgeContext) -> str:
    return json.dumps([c.to_dict() for c in judge(ctx)] + [reconcile(ctx)], sort_keys=True, default=str)


@pytest.mark.parametrize("bug", ["", *sorted(BUG_BREAKS)])
def test_columnar_judges_give_the_in_memory_figures(bug: str, tmp_path: Path) -> None:
    mem = make_evidence(seed=5, bugs={bug} if bug else set()).context(run_dir=tmp_path / "absent")
    col = _columnar(mem, tmp_path / REQUESTS_PARQUET)
    assert isinstance(col.source, RecordStore) and col.num_records == mem.num_records
    assert _figures(col) == _figures(mem)


def test_columnar_capacity_and_percentiles_match(tmp_path: Path) -> None:
    mem = ctx_for(ramp_records(random.Random(4), slow_channel={6, 7}))
    col = _columnar(mem, tmp_path / REQUESTS_PARQUET)
    assert _figures(col) == _figures(mem)
    target = next(c for c in judge(col) if c.id == "target.channel.latency")
    assert isinstance(target.figures["p95_ms"], float)


class _IgnoresWhere(RecordStore):
    """Broken variant: returns every row whatever the condition."""

    def select(self, columns, during=None, **where):  # type: ignore[no-untyped-def]
        return super().select(columns)


class _DropsLast(RecordStore):
    """Broken variant: loses the last record of every selection."""

    def select(self, columns, during=None, **where):  # type: ignore[no-untyped-def]
        return super().select(columns, during, **where).iloc[:-1]


@pytest.mark.parametrize("broken", [_IgnoresWhere, _DropsLast])
def test_the_comparison_catches_a_broken_store(broken: type[RecordStore], tmp_path: Path) -> None:
    mem = make_evidence(seed=5).context(run_dir=tmp_path / "absent")
    assert _figures(_columnar(mem, tmp_path / "x.parquet", broken)) != _figures(mem)


def test_select_reads_rows_and_columns_like_the_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_store, "ROW_GROUP_ROWS", 97)  # many row groups: rows are taken group by group
    frame = records_frame(make_evidence(seed=2).records)
    write_parquet(tmp_path / "r.parquet", [records_table(make_evidence(seed=2).records)])
    store = RecordStore([tmp_path / "r.parquet"])
    assert pq.ParquetFile(tmp_path / "r.parquet").metadata.num_row_groups > 3
    cols = ["sent_s", "status", "tx_hash", "endpoint"]
    got = store.select(cols, endpoint=["settlement", "escrow"], status=[200])
    want = frame.loc[frame["endpoint"].isin(["settlement", "escrow"]) & (frame["status"] == 200), cols]
    pd.testing.assert_frame_equal(got, want, check_index_type=False)
    assert list(got.index) == list(want.index)  # row positions of the whole table, as in memory
    spans = [(10.0, 20.0), (50.0, 51.5)]
    inside = (frame["sent_s"].between(10.0, 20.0, "left") | frame["sent_s"].between(50.0, 51.5, "left"))
    pd.testing.assert_frame_equal(store.select(["path", "latency_ms"], spans), frame.loc[inside, ["path", "latency_ms"]],
                                  check_index_type=False)


def _write_parts(directory: Path, rows: int = 600) -> None:
    rng = random.Random(9)
    writers = [RecordWriter(directory, pid=pid) for pid in (11, 12, 13)]
    for i in range(rows):
        sent = i * 0.05 + rng.random() * 0.01
        writers[rng.randrange(3)].write({
            "intended_s": i * 0.05, "sent_s": sent, "endpoint": rng.choice(["settlement", "channel", "x402"]),
            "method": "POST", "path": '/p,"q"', "status": rng.choice([200, 503, 0]),
            "latency_ms": rng.random() * 4000, "latency_from_intended_ms": 9.5, "error": rng.choice(["", "a, b\nc"]),
            "server_ms": rng.random(), "tx_hash": rng.choice(["", "ab" * 32])})
    for w in writers:
        w.close()


def test_ingest_merges_parts_like_the_in_memory_merge(tmp_path: Path) -> None:
    _write_parts(tmp_path)
    faults = [ActualFault("d", "horizon-primary", "down", 5.0, 12.0),
              ActualFault("l", "horizon-secondary", "latency", 10.0, 20.0, attributes={"latency": 800})]
    out = tmp_path / REQUESTS_PARQUET
    assert ingest_parts(record_parts(tmp_path), out, faults) == 600
    want = records_frame(merge_records(tmp_path, faults))
    pd.testing.assert_frame_equal(RecordStore([out]).frame(), want, check_dtype=False)
    assert want["fault_active"].str.contains(";").any()  # overlapping faults were tagged together


def test_ingest_refuses_a_part_cut_short(tmp_path: Path) -> None:
    _write_parts(tmp_path, rows=20)
    part = record_parts(tmp_path)[0]
    part.write_text(part.read_text() + "1.0,1.0,settle")
    with pytest.raises(CollectionError, match="cannot merge"):
        ingest_parts(record_parts(tmp_path), tmp_path / REQUESTS_PARQUET)


def test_parts_of_older_writers_read_with_defaults(tmp_path: Path) -> None:
    records = make_evidence(seed=2).records[:50]
    write_parquet(tmp_path / "new.parquet", [records_table(records)])
    old = records_table(records).drop_columns(["server_ms", "key_issued", *TRUTH_COLUMNS])
    pq.write_table(old, tmp_path / "old.parquet")
    store = RecordStore([tmp_path / "new.parquet", tmp_path / "old.parquet"])
    frame = store.select(["server_ms", "key_issued", *TRUTH_COLUMNS])
    assert len(store) == 100 and list(frame.index) == list(range(100))
    assert (frame["server_ms"].iloc[50:] == -1.0).all() and (frame["key_issued"].iloc[50:] == -1).all()
    assert (frame["error_field"].iloc[50:] == "").all() and (frame["ratelimit_remaining"].iloc[50:] == -1).all()
    assert (frame[["ratelimit_reset_s", "retry_after_s"]].iloc[50:] == -1.0).all().all()


def test_ingest_reads_csv_parts_of_an_older_writer_with_defaults(tmp_path: Path) -> None:
    """Parts written before the 16A columns existed (no header names them) ingest; the columns read as their
    RequestRecord defaults, the other columns as written."""
    _write_parts(tmp_path, rows=20)
    for part in record_parts(tmp_path):
        frame = pd.read_csv(part, dtype=str, keep_default_na=False)
        frame.drop(columns=list(TRUTH_COLUMNS)).to_csv(part, index=False)
    out = tmp_path / REQUESTS_PARQUET
    assert ingest_parts(record_parts(tmp_path), out) == 20
    got = RecordStore([out]).frame()
    assert (got["error_field"] == "").all() and (got["ratelimit_remaining"] == -1).all()
    assert (got[["ratelimit_reset_s", "retry_after_s"]] == -1.0).all().all()
    want = records_frame(merge_records(tmp_path, []))
    kept = [c for c in RECORD_FIELDS if c not in TRUTH_COLUMNS]
    pd.testing.assert_frame_equal(got[kept], want[kept], check_dtype=False)


def test_an_old_requests_csv_run_folder_still_judges_reports_and_compares(tmp_path: Path) -> None:
    old = FIXTURES / "pass"
    assert (old / REQUESTS_FILE).is_file() and not (old / REQUESTS_PARQUET).exists()
    frame = run_records(old)
    assert isinstance(frame, pd.DataFrame) and len(frame) and tuple(frame.columns) == RECORD_FIELDS
    ctx = JudgeContext.build(frame)
    assert ctx.frame(["status"], endpoint=["settlement"])["status"].size == (frame["endpoint"] == "settlement").sum()
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    for name in ("summary.json", REQUESTS_FILE, "events.jsonl", "manifest.json"):
        if (old / name).exists():
            (run_dir / name).write_bytes((old / name).read_bytes())
    assert render_report(run_dir).is_file()
    assert compare_runs([old, run_dir]).regressions == []


def test_export_csv_round_trips_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = make_evidence(seed=2).records
    write_parquet(tmp_path / REQUESTS_PARQUET, [records_table(records)])
    assert cli_main(["export", str(tmp_path), "--csv"]) == 0
    assert [r for r in read_records(tmp_path / REQUESTS_FILE)] == records
    pd.testing.assert_frame_equal(read_csv_frame(tmp_path / REQUESTS_FILE), records_frame(records), check_dtype=False)
    assert cli_main(["export", str(tmp_path), "--csv"]) == 4  # the CSV exists: not overwritten
    assert cli_main(["export", str(tmp_path / "nowhere"), "--csv"]) == 4
    assert "holds no requests.parquet" in capsys.readouterr().err


def test_write_records_csv_reads_back_through_the_csv_reader(tmp_path: Path) -> None:
    records = make_evidence(seed=2).records[:30]
    write_records(tmp_path / REQUESTS_FILE, records)
    pd.testing.assert_frame_equal(read_csv_frame(tmp_path / REQUESTS_FILE), records_frame(records), check_dtype=False)


def _max_excess_one_by_one(sent, done, limit):  # type: ignore[no-untyped-def]
    """The per-request scan max_excess replaced (reference for the vectorised one)."""
    order = np.argsort(sent, kind="stable")
    s, d = sent[order], done[order]
    rate, worst, reach = limit.limit / limit.window_s, (0, 0.0, 0.0), 4 * limit.limit + 2
    for i in range(len(s)):
        span = np.maximum.accumulate(d[i:i + reach]) - s[i]
        counts = np.arange(1, span.size + 1)
        if limit.algorithm == "token-bucket":
            excess = np.where(span < limit.window_s, counts - np.floor(limit.limit + rate * span + 1e-9), 0)
        else:
            excess = np.where(span < limit.window_s, counts - limit.limit, 0)
        k = int(np.argmax(excess))
        if excess[k] > worst[0]:
            worst = (int(excess[k]), float(s[i]), float(span[k]))
    return worst


@pytest.mark.parametrize("algorithm", ["sliding-window", "token-bucket"])
def test_vectorised_excess_scan_equals_the_one_by_one_scan(algorithm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limits, "EXCESS_BLOCK_CELLS", 64)  # many blocks: their seams are exercised
    rng = np.random.default_rng(3)
    for trial in range(40):
        n = int(rng.integers(0, 60))
        sent = np.sort(rng.uniform(0, 20, n)).round(2)
        done = sent + rng.exponential(0.3, n)
        limit = RateLimit(int(rng.integers(1, 6)), float(rng.choice([1.0, 2.5, 5.0])), algorithm)
        assert rate_limits.max_excess(sent, done, limit) == _max_excess_one_by_one(sent, done, limit), trial
