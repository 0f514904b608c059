"""Locust entry point of `harness run` (run as a child process: `python -m locust -f` this file).

Locust is never imported into the harness process: gevent's monkey-patching must come before
urllib3 (stack-notes.md), and a separate process keeps the load generator's CPU use away from the
harness's own timing. The run-config file named by `$HARNESS_RUN_CONFIG` decides which traffic
kinds run and how many users each gets (a pool sized from its peak arrival rate; users only
execute the open-model arrival schedule, so the pool size does not set the load). `RunShape`
keeps the pools up until the profile's end, lets in-flight requests drain, then stops the run.
User classes given with `harness run --scenarios PATH` (scenarios/plugins.py) add traffic kinds or replace
built-in ones by their `kind`; the profile's `mix` names the kinds that run.

Start handshake: once every user has spawned (and run `setup`, e.g. key loading) the locustfile
writes the ready file; the harness then fixes t = 0 a moment ahead and writes it into the start
file, which users wait for. So a slow start of the load generator never eats into the profile.

Distributed (`harness run --workers N`, `$HARNESS_LOCUST_ROLE` master/worker): the shape runs on the
master; once every worker has spawned, the master sends each the allocation (who holds which users,
scenarios/partition.py), from which each worker takes its share of the arrivals, then writes the
ready file and broadcasts t = 0 as soon as the harness fixes it. Workers report their pending
arrivals with their stats, so the master knows when the queues have drained.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import LoadTestShape, events

from scenarios.arrivals import pool_sizes
from scenarios.partition import build_allocation
from scenarios.plugins import load_user_classes
from scenarios.users import (
    abuser,
    base,
    channel_updater,
    decider,
    escrow_user,
    flooders,
    fuzzer,
    patient,
    paying_agent,
    paying_agent_v2,
    settler,
    slow_client,
    tamperer,
    tamperer_v2,
)

USER_CLASSES = {
    "paying_agent": paying_agent.PayingAgent,
    "channel_updater": channel_updater.ChannelUpdater,
    "settler": settler.Settler,
    "decider": decider.Decider,
    "escrow_user": escrow_user.EscrowUser,
    "abuser": abuser.Abuser,
    "fuzzer": fuzzer.Fuzzer,
    "tamperer": tamperer.Tamperer,
    "key_rotator": abuser.KeyRotator,
    "patient": patient.Patient,
    "nonce_flooder": flooders.NonceFlooder,
    "channel_flooder": flooders.ChannelFlooder,
    "slow_client": slow_client.SlowClient,
    "paying_agent_v2": paying_agent_v2.PayingAgentV2,
    "tamperer_v2": tamperer_v2.TampererV2,
}
DRAIN_S = 10.0

CTX = base.get_context()
USER_CLASSES.update(load_user_classes(CTX.config.get("scenarios") or ()))

POOLS = pool_sizes(CTX.profile.phases, CTX.profile.mix, CTX.profile.pools)
_UNKNOWN = sorted(set(POOLS) - set(USER_CLASSES))
if _UNKNOWN:
    raise SystemExit(f"profile mix names {', '.join(_UNKNOWN)} but no user class has that kind "
                     f"(known: {', '.join(sorted(USER_CLASSES))}; add yours with --scenarios)")
ACTIVE = {kind: cls for kind, cls in USER_CLASSES.items() if kind in POOLS}
for _kind, _cls in ACTIVE.items():
    _cls.fixed_count = POOLS[_kind]
    _cls.weight = 1
    globals()[_cls.__name__] = _cls
del _kind, _cls  # Locust collects every User class bound to a module name: keep one name per class
TOTAL_USERS = sum(cls.fixed_count for cls in ACTIVE.values())
KIND_OF = {cls.__name__: kind for kind, cls in ACTIVE.items()}
ALLOCATION_MSG, START_MSG = "harness_allocation", "harness_start"
_PENDING_BY_WORKER: dict[str, int] = {}  # master: each worker's pending arrivals, from its last stats report
_RUNNER: list[Any] = []  # the Locust runner of this process, once created


def pending() -> int:
    """Arrivals not yet taken: this process's own, or on the master the workers' last reports."""
    return sum(_PENDING_BY_WORKER.values()) if CTX.role == "master" else CTX.pending()


class RunShape(LoadTestShape):
    """Full pools during the profile; after its end, wait for the queues to drain (bounded)."""

    def tick(self) -> tuple[int, float] | None:
        start = CTX.run_start_epoch
        if start is None:  # spawning; the harness announces t = 0 once every user is up
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        t = time.time() - start
        if t < CTX.profile.duration_s:
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        if pending() and t < CTX.profile.duration_s + DRAIN_S:
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        return None


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: object) -> None:
    runner = environment.runner
    _RUNNER.append(runner)
    if CTX.role == "worker":
        runner.register_message(ALLOCATION_MSG, lambda msg, **_: CTX.allocate(msg.data, runner.worker_index))
        runner.register_message(START_MSG, lambda msg, **_: CTX.set_run_start(float(msg.data)))


@events.spawning_complete.add_listener
def _on_spawned(**_kwargs: object) -> None:
    if CTX.role == "worker":
        return
    if CTX.role == "master":
        runner = _RUNNER[0]
        allocation = _complete_allocation(runner)
        if allocation is None:  # no ready file: the harness reports that Locust never became ready
            return
        runner.send_message(ALLOCATION_MSG, allocation)
        CTX.write_allocation(allocation)
        gevent.spawn(_broadcast_start, runner)
    CTX.announce_ready()


def _complete_allocation(runner: Any, limit_s: float = 30.0) -> dict[str, list[int]] | None:
    """Master: the workers' user counts once every user of every kind is reported (a late spawn report would
    give a stale allocation, hence colliding user indices); None if they never add up to the pools."""
    for _ in range(int(limit_s / 0.1)):
        users = {runner.get_worker_index(c.id): dict(c.user_classes_count) for c in runner.clients.values()}
        allocation = build_allocation(users, KIND_OF)
        if all(sum(allocation.get(kind, [])) == pool for kind, pool in POOLS.items()):
            return allocation
        gevent.sleep(0.1)
    return None


def _broadcast_start(runner: Any, limit_s: float = 300.0) -> None:
    """Master: send t = 0 to every worker as soon as the harness writes it (bounded wait)."""
    for _ in range(int(limit_s / 0.02)):
        if CTX.run_start_epoch is not None:
            runner.send_message(START_MSG, CTX.run_start_epoch)
            return
        gevent.sleep(0.02)


@events.report_to_master.add_listener
def _on_report(data: dict[str, Any], **_kwargs: object) -> None:
    data["harness_pending"] = CTX.pending()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: object) -> None:
    if "harness_pending" in data:
        _PENDING_BY_WORKER[client_id] = int(data["harness_pending"])


@events.test_stop.add_listener
def _on_test_stop(**_kwargs: object) -> None:
    CTX.flush_counters()


@events.quitting.add_listener
def _on_quitting(environment: object, **_kwargs: object) -> None:
    environment.process_exit_code = 0  # type: ignore[attr-defined]
