"""The pieces that keep judging a large run in bounded memory give the figures the plain ways give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.judges.context import records_frame
from harness.judges.observability import server_timing_counts
from harness.judges.rate_limits import per_client
from harness.outputs import ENDPOINT_METRICS
from harness.records_store import RecordStore, records_table, write_parquet
from tests.fixtures.synthetic import make_evidence


def test_per_client_walks_the_groups_pandas_would_give() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"identity": rng.choice(["k-b", "k-a", "anonymous (one address)", "k-c"], 500),
                          "sent_s": rng.uniform(0, 60, 500), "done_s": rng.uniform(0, 60, 500)})
    got = [(k, list(s), list(d)) for k, s, d in per_client(frame["identity"], frame["sent_s"], frame["done_s"])]
    want = [(k, list(g["sent_s"]), list(g["done_s"])) for k, g in frame.groupby("identity", sort=True)]
    assert got == want
    assert list(per_client(frame["identity"][:0], frame["sent_s"][:0], frame["done_s"][:0])) == []


def test_server_timing_is_counted_alike_in_a_store_and_a_frame(tmp_path: Path) -> None:
    records = make_evidence(seed=3).records
    frame = records_frame(records)
    write_parquet(tmp_path / "r.parquet", [records_table(records)])
    target = frame[frame["endpoint"].isin(list(ENDPOINT_METRICS))]
    ok = target[target["status"] // 100 == 2]
    want = (len(ok), int((ok["server_ms"] >= 0).sum()))
    assert want[0] > 0
    assert server_timing_counts(frame) == server_timing_counts(RecordStore([tmp_path / "r.parquet"])) == want


@pytest.mark.timeout(60)
def test_tune_allocators_puts_arrow_on_the_system_allocator() -> None:
    code = ("import pyarrow as pa; from harness.memory import tune_allocators; before = pa.default_memory_pool()"
            ".backend_name; tune_allocators(); print(before, pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50, check=True)
    before, after = out.stdout.split()
    assert after == "system" and before != "system"
