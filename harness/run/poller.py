"""Polls the target's `/health` and `/admin/events` during a run, and notes what it could observe.

The admin feed's contract (docs/evidence-contract.md): `GET /admin/events?since=<cursor>` with
`Authorization: Bearer <token>` answers `{"version": 1, "kinds": [...], "events": [{"seq", "t", "kind",
"data"}], "next": <cursor>}`, `t` in unix seconds. `kinds` declares what the target publishes
(`breaker.transition`, `alert`, `error.record`), so "none happened" is told apart from "not published".
A feed that never answers such a page, or does not declare a kind, makes the evidence of that kind
unavailable, with the reason (`observability`). A target may announce the sizes and bounds of its
per-client stores in `/health` as `"state": {store: {size, capacity, per_client?, ttl_s?}}`: each poll
that carries them becomes one `state` event (stamped with the answer's time, `asked_at` the request's),
which the state-bounds check judges; without them that evidence is unavailable. Every answer also
becomes a `health` event (`status`, `ready`, `breakers`, `asked_at`), which the health check holds to
the /health contract (harness/judges/health.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from harness.judges.observability import FEED_ALERTS, FEED_BREAKER, FEED_ERRORS, HEALTH, METRICS, STATE_SIZES
from harness.outputs import Event
from harness.run.collect import MAX_PAGES, CollectionError

FEED_VERSION = 1
MAX_METRICS_CHARS = 1_000_000  # a target's /metrics text kept for the percentile-truth check, at most
FEED_EVIDENCE = {"breaker.transition": FEED_BREAKER, "alert": FEED_ALERTS, "error.record": FEED_ERRORS}


def event_kind(kind: str, data: dict[str, Any]) -> str:
    """The harness Event kind of a feed item.

    `alert` in harness events is a metric alert (data: metric, value_ms, threshold_ms); the reference
    service also publishes error-logger alerts (data: record_id, severity, category) under `alert`,
    which become `alert.record` so the two are never confused.
    """
    if kind == "alert" and "metric" not in data:
        return "alert.record"
    return kind


def feed_page(body: Any) -> tuple[list[dict[str, Any]], int, tuple[str, ...]]:
    """(events, next cursor, declared kinds) of one feed page; CollectionError naming what breaks the contract."""
    if not isinstance(body, dict):
        raise CollectionError("/admin/events: the body is not a JSON object")
    if body.get("version") != FEED_VERSION:
        raise CollectionError(f"/admin/events: schema version {body.get('version')!r} is not {FEED_VERSION} "
                              "(a 'version' field is required)")
    kinds, events, nxt = body.get("kinds"), body.get("events"), body.get("next")
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise CollectionError("/admin/events: 'kinds' must list the event kinds the target publishes")
    if not isinstance(events, list) or not isinstance(nxt, int) or isinstance(nxt, bool):
        raise CollectionError("/admin/events: 'events' must be a list and 'next' an integer cursor")
    return [e for e in events if isinstance(e, dict)], nxt, tuple(kinds)


class ServicePoller:
    """Polls /health and /admin/events into harness Events (run-time stamps), recording what answered."""

    def __init__(self, service_url: str, admin_token: str, to_run_s: Callable[[float], float],
                 now_run_s: Callable[[], float], interval_s: float = 1.0) -> None:
        self._client = httpx.Client(base_url=service_url, timeout=5.0)
        self._token = admin_token
        self._to_run_s = to_run_s
        self._now_run_s = now_run_s
        self.interval_s = interval_s
        self.events: list[Event] = []
        self.poll_errors = 0
        self.feed_pages = 0
        self.feed_kinds: tuple[str, ...] = ()
        self.feed_problem = "never polled"
        self.health_ok = 0
        self.health_problem = "never polled"
        self.state_samples = 0
        self.metrics_problem = "never polled"
        self.metrics_text = ""
        self._cursor = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="service-poller", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, drain the admin feed one last time, and try /metrics once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        for poll in (self.poll_events, self.poll_metrics):
            try:
                poll()
            except CollectionError:
                self.poll_errors += 1
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for poll in (self.poll_health, self.poll_events):
                try:
                    poll()
                except CollectionError:
                    self.poll_errors += 1

    def poll_health(self) -> None:
        asked_at = self._now_run_s()
        try:
            resp = self._client.get("/health")
            body = resp.json() if resp.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            self.health_problem = f"GET /health: {type(exc).__name__}"
            raise CollectionError(self.health_problem) from None
        if resp.status_code != 200:
            self.health_problem = f"GET /health answered {resp.status_code}"
            raise CollectionError(self.health_problem)
        self.health_ok += 1
        raw = body.get("breakers") if isinstance(body, dict) else None
        breakers = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        stores = body.get("state") if isinstance(body, dict) else None
        with self._lock:
            if isinstance(stores, dict) and stores:
                # the sizes are of a moment between asking and the answer (the event's time)
                self.events.append(Event(self._now_run_s(), "service", "state",
                                         {"stores": stores, "asked_at": round(asked_at, 6)}))
                self.state_samples += 1
            # every answer: the health judge holds each against the fault schedule and the breakers
            self.events.append(Event(self._now_run_s(), "service", "health",
                                     {"status": body.get("status"), "ready": body.get("ready"), "breakers": breakers,
                                      "asked_at": round(asked_at, 6)}))

    def poll_events(self) -> None:
        for _ in range(MAX_PAGES):
            try:
                resp = self._client.get("/admin/events", params={"since": self._cursor},
                                        headers={"Authorization": f"Bearer {self._token}"})
                if resp.status_code != 200:
                    raise CollectionError(f"GET /admin/events answered {resp.status_code}")
                items, nxt, kinds = feed_page(resp.json())
            except (httpx.HTTPError, ValueError) as exc:
                self.feed_problem = f"GET /admin/events: {type(exc).__name__}"
                raise CollectionError(self.feed_problem) from None
            except CollectionError as exc:
                self.feed_problem = str(exc)
                raise
            with self._lock:
                self.feed_pages += 1
                self.feed_kinds = kinds
                for item in items:
                    data = dict(item.get("data") or {})
                    self.events.append(Event(self._to_run_s(float(item.get("t", 0.0))), "service",
                                             event_kind(str(item.get("kind", "note")), data), data))
                self._cursor = max(self._cursor, nxt)
            if not items:
                return

    def poll_metrics(self) -> None:
        """GET /metrics once; its text (Prometheus exposition) is kept for the percentile-truth check."""
        try:
            response = self._client.get("/metrics")
        except httpx.HTTPError as exc:
            self.metrics_problem = f"GET /metrics: {type(exc).__name__}"
            raise CollectionError(self.metrics_problem) from None
        status = response.status_code
        self.metrics_problem = "" if status == 200 else f"GET /metrics answered {status}"
        self.metrics_text = response.text[:MAX_METRICS_CHARS] if status == 200 else ""

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    def observability(self) -> tuple[dict[str, str], dict[str, str]]:
        """(unavailable evidence -> why, available evidence -> source) of the feed, /health and /metrics."""
        missing: dict[str, str] = {}
        sources: dict[str, str] = {}
        for kind, evidence in FEED_EVIDENCE.items():
            if not self.feed_pages:
                missing[evidence] = self.feed_problem
            elif kind not in self.feed_kinds:
                missing[evidence] = f"the target's /admin/events does not publish '{kind}' (kinds: " \
                                    f"{', '.join(self.feed_kinds) or 'none'})"
            else:
                sources[evidence] = f"target GET /admin/events (version {FEED_VERSION}), {self.feed_pages} pages read"
        if self.health_ok:
            sources[HEALTH] = f"target GET /health, {self.health_ok} answers"
        else:
            missing[HEALTH] = self.health_problem
        if self.state_samples:
            sources[STATE_SIZES] = f"target GET /health \"state\", {self.state_samples} samples"
        else:
            missing[STATE_SIZES] = (self.health_problem if not self.health_ok else
                                    f"none of {self.health_ok} GET /health answers announced store sizes (\"state\")")
        if self.metrics_problem:
            missing[METRICS] = self.metrics_problem
        else:
            sources[METRICS] = "target GET /metrics"
        return missing, sources
