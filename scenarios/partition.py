"""Splitting one run's load over Locust workers: arrivals, user indices and who holds which users.

The arrival schedule of every traffic kind is built once from the seed (`scenarios.arrivals`), the
same list in every process. Locust's master decides how many users of each kind each worker runs;
the allocation (kind -> users on worker 0, 1, ... N-1, from the workers' own spawn reports) is sent
to every worker, and each takes its share: arrival j of a kind belongs to the worker owning slot
`j mod users` of that kind, slots numbered worker by worker. So the workers' shares are disjoint,
their union is exactly the single-process schedule (the same verdicts), each worker gets arrivals
in proportion to its users, and a worker without users of a kind gets none of its arrivals. The
same allocation gives every user a run-wide index (`first_index` + its local count), so payers,
channels, agent DIDs and idempotency keys never collide across workers. No Locust import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Allocation = dict[str, list[int]]  # kind -> users of that kind on worker 0, 1, ... N-1


class PartitionError(ValueError):
    """An allocation that cannot split the load (a negative count, a worker outside it)."""


def build_allocation(users_by_worker: Mapping[int, Mapping[str, int]], kind_of: Mapping[str, str]) -> Allocation:
    """Allocation from each worker's user counts by class name (`kind_of`: class name -> traffic kind).

    Workers are numbered 0..N-1 by their Locust index; a missing index is an error (its share would be lost).
    """
    count = len(users_by_worker)
    if sorted(users_by_worker) != list(range(count)):
        raise PartitionError(f"worker indices must be 0..{count - 1}, got {sorted(users_by_worker)}")
    out: Allocation = {kind: [0] * count for kind in sorted(set(kind_of.values()))}
    for index, classes in users_by_worker.items():
        for class_name, users in classes.items():
            if class_name in kind_of:
                if users < 0:
                    raise PartitionError(f"worker {index} reports {users} users of {class_name}")
                out[kind_of[class_name]][index] += int(users)
    return out


def single_process(pools: Mapping[str, int]) -> Allocation:
    """The allocation of a run without workers: every user in the one process."""
    return {kind: [int(users)] for kind, users in sorted(pools.items())}


def share(times: Sequence[float], users: Sequence[int], worker: int) -> list[float]:
    """The arrivals (intended times, in order) that `worker` sends of one kind's schedule."""
    _check(users, worker)
    total = sum(users)
    if total == 0 or users[worker] == 0:
        return []
    low = sum(users[:worker])
    high = low + users[worker]
    return [t for j, t in enumerate(times) if low <= j % total < high]


def first_index(users: Sequence[int], worker: int) -> int:
    """The run-wide index of `worker`'s first user of a kind (users are numbered worker by worker)."""
    _check(users, worker)
    return sum(users[:worker])


def _check(users: Sequence[int], worker: int) -> None:
    if not 0 <= worker < len(users):
        raise PartitionError(f"worker {worker} is not in an allocation of {len(users)} worker(s)")
    if any(u < 0 for u in users):
        raise PartitionError(f"negative user count in {list(users)}")
