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
scenarios/partition.py) and its index in it (its rank among the workers by Locust index), from which
each worker takes its share of the arrivals, then writes the ready file and broadcasts t = 0 as soon as
the harness fixes it. Workers report their pending arrivals with their stats, so the master knows when
the queues have drained; it then tells them to finish (each waits for its requests in flight and sends
its final count) and ends the run once every worker's final count arrived (bounded). Workers stream
their records to the master, which writes them into the run's load folder (scenarios/record_stream.py);
a worker on another machine got the run itself from the master (scenarios/wire.py, scenarios/join.py).
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.runners import STATE_MISSING

from scenarios.arrivals import pool_sizes
from scenarios.partition import build_allocation
from scenarios.plugins import load_user_classes
from scenarios.record_stream import ACK_MSG, FINISH_MSG, RECORDS_MSG, RecordSink, RecordStream, StreamError
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
from scenarios.wire import BUNDLE_MSG, BUNDLE_REQUEST_MSG, TOKEN_ENV, Sealer, SealError, build_bundle

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
FINISH_LIMIT_S = 40.0  # after the drain: how long the master waits for every worker's final count
IN_FLIGHT_LIMIT_S = 12.0  # a finishing worker waits this long for its requests in flight (Locust's stop timeout)
MAX_REFUSALS_SHOWN = 10
MAX_BUNDLES = 64  # joining workers the master sends the run to at most (once each; a bound on its state)

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
_RANKS: dict[str, int] = {}  # master: Locust client id -> the worker's index in the allocation
_SINK: list[RecordSink] = []  # master: writes the workers' records, once the allocation is known
_FINISH: list[float] = []  # master: when the workers were told to finish
_BUNDLES: set[str] = set()  # master: the joining clients it sent the run to
_REFUSED: list[int] = [0]  # master: records messages refused (the first MAX_REFUSALS_SHOWN are printed)
_SEALER = Sealer(os.environ[TOKEN_ENV]) if CTX.role != "local" and os.environ.get(TOKEN_ENV) else None
if CTX.role != "local" and _SEALER is None:
    raise SystemExit(f"a distributed run needs the run's join token in ${TOKEN_ENV}")


def pending() -> int:
    """Arrivals not yet taken: this process's own, or on the master the last reports of the workers still there."""
    if CTX.role != "master":
        return CTX.pending()
    alive = _alive()
    return sum(n for client_id, n in _PENDING_BY_WORKER.items() if client_id in alive)


def _alive() -> set[str]:
    """Master: the workers Locust has not marked missing (a lost worker sends no heartbeat, nor anything else)."""
    return {c.id for c in _RUNNER[0].clients.all if c.state != STATE_MISSING} if _RUNNER else set()


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
        if CTX.role == "master" and not _finished():
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        return None


def _finished(clock: Any = time.monotonic) -> bool:
    """Master: tell the workers to finish (once); true when the final count of every worker still there arrived,
    or the wait is over (a lost worker's missing count is the harness's to report: exit 4)."""
    if not _FINISH:
        _FINISH.append(clock())
        _RUNNER[0].send_message(FINISH_MSG, None)
    alive = _alive()
    waiting = [rank for client_id, rank in _RANKS.items() if client_id in alive]
    return (bool(_SINK) and _SINK[0].complete(waiting)) or clock() - _FINISH[0] > FINISH_LIMIT_S


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: object) -> None:
    runner = environment.runner
    _RUNNER.append(runner)
    if CTX.role == "worker":
        assert _SEALER is not None
        CTX.stream_send = lambda payload: runner.send_message(RECORDS_MSG, _SEALER.seal(payload))
        runner.register_message(ALLOCATION_MSG, lambda msg, **_: _allocated(msg.data))
        runner.register_message(START_MSG, lambda msg, **_: CTX.set_run_start(float(msg.data)))
        runner.register_message(ACK_MSG, lambda msg, **_: _stream().ack(int(msg.data)))
        runner.register_message(FINISH_MSG, lambda msg, **_: gevent.spawn(_finish_worker))
    elif CTX.role == "master":
        runner.register_message(BUNDLE_REQUEST_MSG, _send_bundle)
        runner.register_message(RECORDS_MSG, _receive_records)


def _stream() -> RecordStream:
    assert isinstance(CTX.writer, RecordStream)
    return CTX.writer


def _allocated(data: dict[str, Any]) -> None:
    """Worker: take the share the master allocated to it (once), and send partial batches as they age."""
    if CTX.allocation is not None:
        return
    CTX.allocate(data["allocation"], int(data["worker"]))
    gevent.spawn(_tick_stream)


def _tick_stream() -> None:
    stream = _stream()
    while not stream.finished:
        stream.tick()
        gevent.sleep(0.1)


def _finish_worker() -> None:
    """Worker: the load is over: no more arrivals, wait (bounded) for requests in flight, send the final count."""
    for queue in CTX.queues.values():
        queue.drop_remaining()
    for _ in range(int(IN_FLIGHT_LIMIT_S / 0.05)):
        if CTX.in_flight <= 0:
            break
        gevent.sleep(0.05)
    CTX.flush_counters()


def _send_bundle(environment: Any, msg: Any, **_kwargs: object) -> None:
    """Master: a joining worker asked for the run (sealed: only holders of the join token can read it)."""
    if msg.node_id in _BUNDLES or len(_BUNDLES) >= MAX_BUNDLES:  # asked again while the answer travels
        return
    _BUNDLES.add(msg.node_id)
    assert _SEALER is not None
    environment.runner.send_message(BUNDLE_MSG, _SEALER.seal(build_bundle(CTX.config)), client_id=msg.node_id)


def _receive_records(environment: Any, msg: Any, **_kwargs: object) -> None:
    """Master: write a worker's batch of records and acknowledge it; a refused message is reported, never its data."""
    assert _SEALER is not None
    try:
        if not _SINK:
            raise StreamError("records before the allocation")
        seq = _SINK[0].receive(_SEALER.open(msg.data), _RANKS.get(msg.node_id))
    except (SealError, StreamError) as exc:
        _REFUSED[0] += 1
        if _REFUSED[0] <= MAX_REFUSALS_SHOWN:
            print(f"harness: records message from {msg.node_id} refused: {exc}", flush=True)
        return
    environment.runner.send_message(ACK_MSG, seq, client_id=msg.node_id)


@events.spawning_complete.add_listener
def _on_spawned(**_kwargs: object) -> None:
    if CTX.role == "worker":
        return
    if CTX.role == "master":
        if _SINK:  # Locust re-dispatched users (a worker lost): the shares stay; the merge check tells the loss
            return
        runner = _RUNNER[0]
        allocation = _complete_allocation(runner)
        if allocation is None:  # no ready file: the harness reports that Locust never became ready
            return
        _SINK.append(RecordSink(CTX.out_dir, len(_RANKS)))
        for client_id, rank in _RANKS.items():
            runner.send_message(ALLOCATION_MSG, {"allocation": allocation, "worker": rank}, client_id=client_id)
        CTX.write_allocation(allocation)
        gevent.spawn(_broadcast_start, runner)
    CTX.announce_ready()


def _complete_allocation(runner: Any, limit_s: float = 30.0) -> dict[str, list[int]] | None:
    """Master: the workers' user counts once every user of every kind is reported (a late spawn report would
    give a stale allocation, hence colliding user indices); None if they never add up to the pools. Workers
    are ranked 0..N-1 by their Locust index (which has gaps when a joining worker fetched the run first)."""
    for _ in range(int(limit_s / 0.1)):
        clients = sorted(runner.clients.values(), key=lambda c: runner.get_worker_index(c.id))
        users = {rank: dict(c.user_classes_count) for rank, c in enumerate(clients)}
        allocation = build_allocation(users, KIND_OF)
        if all(sum(allocation.get(kind, [])) == pool for kind, pool in POOLS.items()):
            _RANKS.update({c.id: rank for rank, c in enumerate(clients)})
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
    for sink in _SINK:
        sink.close()


@events.quitting.add_listener
def _on_quitting(environment: object, **_kwargs: object) -> None:
    environment.process_exit_code = 0  # type: ignore[attr-defined]
