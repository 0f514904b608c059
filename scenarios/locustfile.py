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
"""

from __future__ import annotations

import time

from locust import LoadTestShape, events

from scenarios.arrivals import pool_sizes
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


class RunShape(LoadTestShape):
    """Full pools during the profile; after its end, wait for the queues to drain (bounded)."""

    def tick(self) -> tuple[int, float] | None:
        start = CTX.run_start_epoch
        if start is None:  # spawning; the harness announces t = 0 once every user is up
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        t = time.time() - start
        if t < CTX.profile.duration_s:
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        pending = sum(len(q) for q in CTX.queues.values())
        if pending and t < CTX.profile.duration_s + DRAIN_S:
            return TOTAL_USERS, float(max(TOTAL_USERS, 1))
        return None


@events.spawning_complete.add_listener
def _on_spawned(**_kwargs: object) -> None:
    CTX.announce_ready()


@events.test_stop.add_listener
def _on_test_stop(**_kwargs: object) -> None:
    CTX.flush_counters()


@events.quitting.add_listener
def _on_quitting(environment: object, **_kwargs: object) -> None:
    environment.process_exit_code = 0  # type: ignore[attr-defined]
