"""Evidence the worlds hold about a target: the ledger's history, request arrivals on the Horizon path, and
whether the target's Horizon traffic crossed the fault proxies at all.

* Ledger history: the offline network's `/admin/history`; with real Horizons, Horizon's public API for the
  run's accounts (`harness.run.horizon_history`).
* Arrivals (P35 "no primary request while open"): the fault proxy's own per-proxy arrival log
  (docs/faults.md "Arrival logs"; a real Toxiproxy has none), drained during the run so a long run does not
  overflow it (`harness.run.arrival_drain`), is preferred; else
  the offline network's per-listener access log (listener 0 behind horizon-primary, 1 behind
  horizon-secondary); else unavailable.
* Fault path: a target the harness wired to the proxies (reference, `--target-cmd`, `--worlds`) is taken to
  use them unless the arrivals show that no request crossed either proxy; a `--target URL` started without
  the run's worlds is shown to use them only by arrivals.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.judges.breaker import SOROBAN_RPC_PREFIX
from harness.judges.observability import FAULT_PATH, LEDGER_HISTORY, PROXY_ARRIVALS
from harness.ledger_table import write_history
from harness.outputs import LEDGER_APPLIED_FILE, LEDGER_HISTORY_FILE
from harness.run.arrival_drain import ArrivalDrain
from harness.run.collect import CollectionError, fetch_pages, iter_pages
from harness.run.worlds import OFFLINE, PRIMARY, SECONDARY, Worlds

LISTENERS = {PRIMARY: 0, SECONDARY: 1}


@dataclass
class WorldEvidence:
    """What was read from the worlds after the load, and what could not be (evidence name -> why)."""

    history_records: int = 0  # ledger history records written to the run folder
    arrivals: list[dict[str, Any]] = field(default_factory=list)  # {t (unix s), listener, method, path, ...}
    unavailable: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def proxy_arrivals(toxiproxy_url: str, proxy: str) -> list[dict[str, Any]] | None:
    """The proxy's request arrivals as access-log entries, read once now, or None when the fault proxy keeps
    no arrival log.

    Raises CollectionError when the log is there but cannot prove what reached the proxy: records were
    overwritten (`dropped`), or a connection's bytes were not HTTP/1.x (`unparsed`, e.g. TLS to an https
    Horizon), so requests on it are invisible.
    """
    with tempfile.TemporaryDirectory(prefix="harness-arrivals-") as folder:
        drain = ArrivalDrain(toxiproxy_url, {proxy: LISTENERS[proxy]}, Path(folder)).finish()
        if (problem := drain.problem()) is not None:
            raise CollectionError(problem)
        return None if drain.absent() else list(drain.entries())


def collect(worlds: Worlds, wired: bool, history_accounts: Sequence[str], window: tuple[float, float],
            out_dir: Path, drain: ArrivalDrain) -> WorldEvidence:
    """Read the worlds' evidence; `wired`: the harness handed the target the proxies; `window`: the run (unix s);
    `drain`: the proxies' arrival logs as drained during the run (`arrival_drain_for`), finished here.
    The ledger history streams into `out_dir` (ledger_history.jsonl and ledger_applied.parquet)."""
    ev = WorldEvidence()
    _read_history(ev, worlds, history_accounts, out_dir)
    _read_arrivals(ev, worlds, drain)
    settle_fault_path(ev, wired, window)
    return ev


def settle_fault_path(ev: WorldEvidence, wired: bool, window: tuple[float, float]) -> None:
    """Whether the target's Horizon traffic crossed the proxies (and, unwired, whether its ledger is ours)."""
    crossed = [a for a in ev.arrivals if a["listener"] in (0, 1) and window[0] <= a["t"] <= window[1]
               and not str(a.get("path", "")).startswith(SOROBAN_RPC_PREFIX)]  # not the facilitator's RPC
    if PROXY_ARRIVALS not in ev.unavailable and not crossed:
        ev.unavailable[FAULT_PATH] = "no request of the target crossed the fault proxies during the run"
    elif wired:
        ev.sources[FAULT_PATH] = "the target was given HORIZON_URL / HORIZON_URL_SECONDARY = the fault proxies" + (
            f"; {len(crossed)} requests crossed them" if crossed else "")
    elif crossed:
        ev.sources[FAULT_PATH] = f"{len(crossed)} requests of the target crossed the fault proxies"
    else:
        ev.unavailable[FAULT_PATH] = ("the target was not started with the run's worlds (--target-cmd, or "
                                      "--worlds FILE from `harness up`) and no arrival log shows it using them")
    if not wired and FAULT_PATH in ev.unavailable:
        ev.unavailable.setdefault(LEDGER_HISTORY, "the target's ledger is not shown to be the run's worlds")


def _read_history(ev: WorldEvidence, worlds: Worlds, accounts: Sequence[str], out_dir: Path) -> None:
    files = (out_dir / LEDGER_HISTORY_FILE, out_dir / LEDGER_APPLIED_FILE)
    try:
        if worlds.kind == OFFLINE:
            with httpx.Client(base_url=worlds.evidence_url, timeout=10.0) as client:
                ev.history_records = write_history(iter_pages(client, "/admin/history"), *files)
            ev.sources[LEDGER_HISTORY] = "offline network /admin/history"
        else:
            from harness.run.horizon_history import read_history

            ev.history_records = write_history([read_history(worlds.ledger_url, accounts)], *files)
            ev.sources[LEDGER_HISTORY] = f"Horizon public API {worlds.ledger_url} (/accounts/{{id}}/transactions)"
    except CollectionError as exc:
        write_history([], *files)  # no partial history: the run judges without one
        ev.history_records = 0
        ev.unavailable[LEDGER_HISTORY] = str(exc)


def arrival_drain_for(worlds: Worlds, folder: Path, interval_s: float = 1.0) -> ArrivalDrain:
    """A drain of both Horizon proxies' arrival logs into `folder` (start it with the load)."""
    return ArrivalDrain(worlds.toxiproxy_url, LISTENERS, folder, interval_s)


def _read_arrivals(ev: WorldEvidence, worlds: Worlds, drain: ArrivalDrain) -> None:
    drain.finish()
    if (problem := drain.problem()) is not None:
        ev.unavailable[PROXY_ARRIVALS] = problem
        return
    if drain.absent() is None:
        ev.arrivals = list(drain.entries())
        ev.sources[PROXY_ARRIVALS] = (f"fault proxy arrival log, drained during the run ({len(ev.arrivals)} "
                                      f"requests; {drain.summary()})")
        return
    if worlds.kind != OFFLINE:
        ev.unavailable[PROXY_ARRIVALS] = "the fault proxy keeps no arrival log and a real Horizon exposes no access log"
        return
    try:
        with httpx.Client(base_url=worlds.evidence_url, timeout=10.0) as client:
            ev.arrivals = fetch_pages(client, "/admin/access-log")
        ev.sources[PROXY_ARRIVALS] = "offline network access log (listener 0 behind horizon-primary, 1 secondary)"
    except CollectionError as exc:
        ev.unavailable[PROXY_ARRIVALS] = str(exc)
