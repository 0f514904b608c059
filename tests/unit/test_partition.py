"""Splitting the arrival schedule over Locust workers (scenarios/partition.py) and merging their records
exactly (harness/run/collect.py `record_parts`, `check_worker_records`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.profiles import load_profile
from harness.run.collect import check_worker_records, merge_records, record_parts
from harness.run.load import auto_workers
from scenarios.arrivals import build_schedules, pool_sizes
from scenarios.partition import PartitionError, build_allocation, first_index, share, single_process
from scenarios.recording import RecordWriter, write_counters

ShareFn = Callable[[Sequence[float], Sequence[int], int], list[float]]


def check_partition(share_fn: ShareFn, times: Sequence[float], users: Sequence[int]) -> None:
    """The shares are disjoint, in order, add up to the schedule, and follow the users (none without users)."""
    shares = [share_fn(times, users, w) for w in range(len(users))]
    assert sorted(t for s in shares for t in s) == sorted(times)
    assert sum(len(s) for s in shares) == len(times)
    total = sum(users)
    for w, part in enumerate(shares):
        assert part == sorted(part)
        if users[w] == 0:
            assert part == []
        elif total:
            assert abs(len(part) - len(times) * users[w] / total) <= users[w]


def round_robin_by_worker(times: Sequence[float], users: Sequence[int], worker: int) -> list[float]:
    """A broken variant: every n-th arrival, whatever the users (a worker without users of a kind loses its share)."""
    return [t for j, t in enumerate(times) if j % len(users) == worker]


times_st = st.lists(st.floats(0, 1000, allow_nan=False), max_size=300).map(sorted)
users_st = st.lists(st.integers(0, 7), min_size=1, max_size=6).filter(lambda u: sum(u) > 0)


@given(times_st, users_st)
def test_shares_are_disjoint_and_add_up_to_the_schedule(times: list[float], users: list[int]) -> None:
    check_partition(share, times, users)


def test_the_check_fails_a_partition_that_ignores_where_the_users_are() -> None:
    with pytest.raises(AssertionError):
        check_partition(round_robin_by_worker, [float(i) for i in range(10)], [3, 0])


def test_same_seed_and_allocation_give_the_same_shares_and_their_union_is_the_single_process_schedule() -> None:
    profile = load_profile("smoke")
    single = build_schedules(profile.phases, profile.mix, profile.seed)
    pools = pool_sizes(profile.phases, profile.mix, profile.pools)
    allocation = {kind: [users - users // 3, users // 3] for kind, users in pools.items()}
    again = build_schedules(profile.phases, profile.mix, profile.seed)
    for kind, times in single.items():
        parts = [share(times, allocation[kind], w) for w in (0, 1)]
        assert parts == [share(again[kind], allocation[kind], w) for w in (0, 1)]
        assert sorted(parts[0] + parts[1]) == times and not set(parts[0]) & set(parts[1])
    assert single_process(pools) == {kind: [users] for kind, users in sorted(pools.items())}


@given(users_st)
def test_user_indices_are_unique_over_the_run(users: list[int]) -> None:
    indices = [first_index(users, w) + i for w in range(len(users)) for i in range(users[w])]
    assert sorted(indices) == list(range(sum(users)))


def test_allocation_from_the_workers_spawn_reports() -> None:
    kind_of = {"Settler": "settler", "Decider": "decider"}
    reports = {1: {"Settler": 2, "Decider": 0}, 0: {"Settler": 1, "Decider": 3, "Other": 9}}
    assert build_allocation(reports, kind_of) == {"decider": [3, 0], "settler": [1, 2]}
    with pytest.raises(PartitionError, match="0..1"):
        build_allocation({0: {}, 2: {}}, kind_of)
    with pytest.raises(PartitionError):
        build_allocation({0: {"Settler": -1}}, kind_of)
    with pytest.raises(PartitionError):
        share([1.0], [1, 1], 2)


def test_auto_workers_leaves_a_core_and_needs_users() -> None:
    profile = load_profile("smoke")
    assert auto_workers(profile, cores=2) == 1
    assert auto_workers(profile, cores=8) == 7
    assert auto_workers(profile, cores=1) == 1


def _worker(load_dir: Path, index: int, rows: int, scheduled: int, final: bool = True) -> None:
    folder = load_dir / f"worker-{index}"
    writer = RecordWriter(folder, pid=100 + index)
    for i in range(rows):
        writer.write({"intended_s": float(i), "sent_s": float(i), "endpoint": "decision", "method": "POST",
                      "path": "/agent/decisions", "status": 200, "latency_ms": 1.0, "latency_from_intended_ms": 1.0,
                      "user_kind": "decider"})
    writer.close()
    if final:
        write_counters(folder, {"decider": {"scheduled": scheduled, "sent": rows, "late": 0, "dropped": 0}},
                       rows, pid=100 + index)


def test_merge_is_exact_and_counts_each_worker(tmp_path: Path) -> None:
    _worker(tmp_path, 0, 3, 3)
    _worker(tmp_path, 1, 2, 2)
    merged = check_worker_records(tmp_path, workers=2, schedule={"decider": 5})
    assert merged.problems == []
    assert merged.records == 5 == sum(w["sent"] for w in merged.workers.values())
    assert [p.parent.name for p in record_parts(tmp_path)] == ["worker-0", "worker-1"]
    assert len(merge_records(tmp_path, [])) == 5
    assert merged.workers["worker-0"]["records"] == 3 and merged.workers["worker-1"]["records"] == 2


def test_merge_reports_a_worker_killed_before_its_final_count(tmp_path: Path) -> None:
    _worker(tmp_path, 0, 3, 3)
    _worker(tmp_path, 1, 2, 2, final=False)
    merged = check_worker_records(tmp_path, workers=2, schedule={"decider": 5})
    assert merged.records == 5 and len(merge_records(tmp_path, [])) == 5  # what it wrote is kept
    assert any("worker-1 stopped before the end" in p for p in merged.problems)


def test_merge_reports_shares_that_do_not_add_up_to_the_schedule(tmp_path: Path) -> None:
    _worker(tmp_path, 0, 5, 5)  # two workers that each ran the whole schedule: every arrival sent twice
    _worker(tmp_path, 1, 5, 5)
    merged = check_worker_records(tmp_path, workers=2, schedule={"decider": 5})
    assert any("add up to 10 arrivals, the schedule has 5" in p for p in merged.problems)
    missing = check_worker_records(tmp_path, workers=3, schedule={"decider": 10})
    assert any("no records from worker-2" in p for p in missing.problems)


def test_merge_reports_a_records_file_that_disagrees_with_its_count(tmp_path: Path) -> None:
    _worker(tmp_path, 0, 3, 3)
    write_counters(tmp_path / "worker-0", {"decider": {"scheduled": 3, "sent": 3, "late": 0, "dropped": 0}}, 4, pid=100)
    merged = check_worker_records(tmp_path, workers=1, schedule={"decider": 3})
    assert merged.problems == ["worker-0 wrote 4 records but requests-100.csv holds 3"]
