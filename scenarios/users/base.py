"""What every traffic kind shares: the run context, open-model pacing and raw request recording.

Imported only inside the Locust child process (it imports locust). The run context is loaded once
per process from the JSON run-config file named by `$HARNESS_RUN_CONFIG` (written by
`harness run`): service URL, ledger URL, run start epoch, seed, profile, accounts file, output
folder, corpus file, rate limits. Client keys are labels (`scenarios/client_keys.py`): a request sends
the label's issued API key and records the label, never the key.

Pacing: a user takes the next arrival of its kind from the shared `ArrivalQueue`, sleeps until the
arrival's intended time, sends, and records both the service time (`latency_ms`, sent ->
response) and the time from the intended start (`latency_from_intended_ms`), plus the value the
service recorded for the endpoint's target metric (`server_ms`, from its `Server-Timing` header).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import random
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, task

from harness.outputs import ENDPOINT_METRICS
from harness.profiles import parse_profile
from scenarios.arrivals import ArrivalQueue, build_schedules, pool_sizes
from scenarios.client_keys import MAX_KEYS_PER_PREFIX, api_key
from scenarios.headers import announced_limit, ratelimit_values, server_timing_ms
from scenarios.partition import Allocation, first_index, share, single_process
from scenarios.record_stream import RecordStream
from scenarios.recording import ALLOCATION_FILE, RecordWriter, write_counters
from scenarios.shapes import phase_at

RATELIMIT_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
TX_HASH_KEYS = ("tx_hash", "transaction", "txHash", "hash")  # where a response body names its transaction
KEY_HEADROOM = 0.4  # well-behaved keys use at most this share of an endpoint's per-key limit
ROLE_ENV = "HARNESS_LOCUST_ROLE"  # set by harness/run/load.py for each Locust process
ROLES = ("local", "master", "worker")  # one process running every user; Locust's master; one of its workers


class RunContext:
    """Per-process state shared by all users: config, accounts, arrival queues, the record writer."""

    def __init__(self, config_path: Path) -> None:
        self.config: dict[str, Any] = json.loads(Path(config_path).read_text())
        self.profile = parse_profile(self.config["profile"])
        self.seed = int(self.config["seed"])
        self.start_file = Path(self.config["start_file"])
        self.ready_file = Path(self.config["ready_file"])
        self._run_start_epoch: float | None = None
        self.service_url = self.config["service_url"]
        self.ledger_url = self.config["ledger_url"]
        self.run_id = self.config["run_id"]
        self.rate_limits: dict[str, dict[str, float]] = self.config.get("rate_limits", {})
        self.asset: str = self.config.get("asset", "native")  # what settlements pay in (the service's)
        self.accounts: dict[str, Any] = json.loads(Path(self.config["accounts_file"]).read_text())
        self._key_secret = bytes.fromhex(self.accounts["api_key_secret"])
        self._api_keys: dict[str, str] = {}
        corpus_file = self.config.get("corpus_file")
        self.corpus: list[dict[str, Any]] = json.loads(Path(corpus_file).read_text()) if corpus_file else []
        self.out_dir = Path(self.config["out_dir"])
        self.role = os.environ.get(ROLE_ENV, "local")
        if self.role not in ROLES:
            raise RuntimeError(f"${ROLE_ENV} must be one of {', '.join(ROLES)}, not {self.role!r}")
        self.schedules = build_schedules(self.profile.phases, self.profile.mix, self.seed)
        self._max_lag = float(self.config.get("max_lag_s", 10.0))
        self.queues: dict[str, ArrivalQueue] = {}
        self.writer: RecordWriter | RecordStream | None = None
        self.stream_send: Any = None  # a worker: sends a records message to the master (the locustfile sets it)
        self.in_flight = 0  # arrivals taken whose requests are not yet recorded
        self.allocation: Allocation | None = None
        self.worker = 0
        self._indices: dict[str, count[int]] = {}
        if self.role == "local":
            pools = pool_sizes(self.profile.phases, self.profile.mix, self.profile.pools)
            self.allocate(single_process(pools), 0)

    def allocate(self, allocation: Allocation, worker: int) -> None:
        """Take this process's share of the load: its arrivals and its users' run-wide indices
        (scenarios/partition.py). A worker streams its records to the master (scenarios/record_stream.py)."""
        self.allocation, self.worker = allocation, worker
        workers = len(next(iter(allocation.values()), [1]))
        self.queues = {kind: ArrivalQueue(share(times, allocation.get(kind, [0] * workers), worker),
                                          max_lag_s=self._max_lag) for kind, times in self.schedules.items()}
        if self.role == "worker":
            self.writer = RecordStream(self.stream_send, worker, os.getpid(), sleep=gevent.sleep)
        else:
            self.writer = RecordWriter(self.out_dir)

    def wait_for_allocation(self, limit_s: float = 120.0) -> Allocation:
        """Block this user until the master has told this worker its share (at once in a local run)."""
        for _ in range(int(limit_s / 0.05)):
            if self.allocation is not None:
                return self.allocation
            gevent.sleep(0.05)
        raise RuntimeError(f"no load allocation from the Locust master within {limit_s:g}s")

    def write_allocation(self, allocation: Allocation) -> None:
        """Master: keep the allocation beside the workers' records (the harness puts it in the manifest)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.out_dir / f"{ALLOCATION_FILE}.tmp"
        tmp.write_text(json.dumps(allocation, sort_keys=True))
        tmp.replace(self.out_dir / ALLOCATION_FILE)

    def set_run_start(self, epoch: float) -> None:
        """t = 0 as broadcast by the Locust master (a worker on another machine has no start file)."""
        self._run_start_epoch = epoch

    def pending(self) -> int:
        """Arrivals this process has not taken yet."""
        return sum(len(q) for q in self.queues.values())

    @property
    def run_start_epoch(self) -> float | None:
        """t = 0 of the run: written by the harness into the start file once every user has spawned."""
        if self._run_start_epoch is None and self.start_file.is_file():
            text = self.start_file.read_text().strip()
            self._run_start_epoch = float(text) if text else None
        return self._run_start_epoch

    def wait_for_start(self, limit_s: float = 300.0) -> None:
        """Block this user (not the process) until the harness announces t = 0."""
        for _ in range(int(limit_s / 0.05)):
            if self.run_start_epoch is not None:
                return
            gevent.sleep(0.05)
        raise RuntimeError(f"no run start announced within {limit_s:g}s")

    def now_s(self) -> float:
        start = self.run_start_epoch
        return time.time() - start if start is not None else -1e9

    def announce_ready(self) -> None:
        tmp = self.ready_file.with_suffix(".tmp")
        tmp.write_text(f"{time.time()}\n")
        tmp.replace(self.ready_file)

    def next_index(self, kind: str) -> int:
        """A run-wide user index of `kind`: unique over every worker (payers, channels, idempotency keys)."""
        allocation = self.wait_for_allocation()
        users = allocation.get(kind)
        offset = first_index(users, self.worker) if users else 0
        return offset + next(self._indices.setdefault(kind, count()))

    def keys_needed(self, kind: str, endpoint: str, requests_per_arrival: float,
                    headroom: float = KEY_HEADROOM) -> int:
        """How many client keys a kind spreads over to use at most `headroom` of each key's limit."""
        limit = self.rate_limits.get(endpoint)
        if not limit or not self.schedules.get(kind):  # the whole run's schedule: the same in every worker
            return 8
        share = self.profile.mix.get(kind, 0.0) / sum(self.profile.mix.values())
        peak = max(max(p.rate, p.rate_start, p.peak_rate) for p in self.profile.phases) * share
        per_key_per_s = float(limit["limit"]) / float(limit["window_s"]) * headroom
        return min(MAX_KEYS_PER_PREFIX, max(1, math.ceil(peak * requests_per_arrival / per_key_per_s)))

    def api_key(self, label: str) -> str:
        """The issued API key of a label (derived once per process)."""
        key = self._api_keys.get(label)
        if key is None:
            key = self._api_keys[label] = api_key(self._key_secret, label)
        return key

    def flush_counters(self) -> None:
        """At the end of the load: count what was never sent and write this process's final counts."""
        if self.writer is None:  # the master (no users), or a worker that never got its share
            return
        for queue in self.queues.values():
            queue.drop_remaining()
        kinds = {k: _counters(q) for k, q in self.queues.items()}
        if isinstance(self.writer, RecordStream):
            self.writer.close(kinds)
            return
        write_counters(self.writer.path.parent, kinds, self.writer.count)
        self.writer.close()

    def write(self, values: dict[str, Any]) -> None:
        """Record one request (only users record, and only after this process got its share)."""
        if self.writer is None:
            raise RuntimeError("a request was recorded before this process got its share of the load")
        self.writer.write(values)


_CONTEXT: RunContext | None = None


def get_context() -> RunContext:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = RunContext(Path(os.environ["HARNESS_RUN_CONFIG"]))
    return _CONTEXT


class PacedUser(FastHttpUser):
    """A user that executes its kind's open-model arrival schedule."""

    abstract = True
    kind = ""
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.ctx = get_context()
        self.index = self.ctx.next_index(self.kind)
        self.rng = random.Random(f"{self.ctx.seed}:{self.kind}:{self.index}")
        self.sequence = count()
        self.setup()
        self.ctx.wait_for_start()

    def setup(self) -> None:
        """Per-user preparation (accounts, channels); override when needed."""

    @task
    def paced(self) -> None:
        queue = self.ctx.queues.get(self.kind)
        intended = queue.take(self.ctx.now_s()) if queue is not None else None
        if intended is None:
            gevent.sleep(0.5)
            return
        self.ctx.in_flight += 1
        try:
            delay = intended - self.ctx.now_s()
            if delay > 0:
                gevent.sleep(delay)
            assert queue is not None
            queue.mark_sent(intended, self.ctx.now_s())
            self.act(intended)
        finally:
            self.ctx.in_flight -= 1

    def act(self, intended_s: float) -> None:
        """Send this traffic kind's request(s) for one arrival; every concrete user class defines it."""
        raise TypeError(f"{type(self).__name__} does not define act()")

    def ledger_get(self, path: str) -> tuple[int, dict[str, Any] | None]:
        """GET the offline network directly (not through the service or the proxies), unrecorded:
        what an agent asks Horizon about its own account and payments."""
        resp = self.client.get(f"{self.ctx.ledger_url}{path}", name="ledger")
        status = int(resp.status_code or 0)
        parsed, _ = _parse_json(resp.text or "") if status == 200 else (None, -1)
        return status, parsed if isinstance(parsed, dict) else None

    def record_client_error(self, intended_s: float, endpoint: str, error: str) -> None:
        """A request the client could not even build (no service call): status 0, `expected="client_error"`,
        so no judge counts it against the service."""
        now = self.ctx.now_s()
        self.ctx.write({"intended_s": intended_s, "sent_s": now, "endpoint": endpoint, "method": "", "path": "",
                               "status": 0, "latency_ms": 0.0, "latency_from_intended_ms": (now - intended_s) * 1000,
                               "user_kind": self.kind, "phase": phase_at(self.ctx.profile.phases, intended_s),
                               "expected": "client_error", "error": error[:200]})

    def key(self, prefix: str, endpoint: str, requests_per_arrival: float = 1.0) -> str:
        """A well-behaved client key: arrivals rotate over enough keys to stay under the limit."""
        n = self.ctx.keys_needed(self.kind, endpoint, requests_per_arrival)
        return f"{prefix}-{self.rng.randrange(n)}"

    def call(
        self,
        intended_s: float,
        endpoint: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        client_key: str = "",
        raw_api_key: str | None = None,
        idempotency_key: str = "",
        expected: str = "ok",
        user_kind: str = "",
        started_s: float | None = None,
        receipt_header: str = "",
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Send one request, record it, and return (status, JSON body or None, headers).

        `client_key` is an issued key's label (its key is sent); `raw_api_key` is sent as it is (an
        unissued key: the client is anonymous, recorded under that key with `key_issued=0`). With
        `receipt_header` (x402 v2's PAYMENT-RESPONSE) the recorded tx hash is that receipt's `transaction`."""
        hdrs = dict(headers or {})
        if raw_api_key is not None:
            hdrs["X-API-Key"] = raw_api_key
            client_key = raw_api_key
        elif client_key:
            hdrs["X-API-Key"] = self.ctx.api_key(client_key)
        if idempotency_key:
            hdrs["Idempotency-Key"] = idempotency_key
        kwargs: dict[str, Any] = {"headers": hdrs, "name": endpoint, "catch_response": True}
        if raw is not None:
            hdrs.setdefault("Content-Type", "application/json")
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        sent_s = self.ctx.now_s()
        t0 = time.perf_counter()
        with self.client.request(method, path, **kwargs) as resp:
            latency_ms = (time.perf_counter() - t0) * 1000.0
            resp.success()
            status = int(resp.status_code or 0)
            reply = Reply(status, resp.text or "", {k: v for k, v in (resp.headers or {}).items()}, sent_s, latency_ms,
                          "" if status else str(getattr(resp, "error", "") or "no response")[:200])
        return self.record(intended_s, endpoint, method, path, reply, client_key=client_key,
                           key_issued=int(bool(client_key) and raw_api_key is None), idempotency_key=idempotency_key,
                           expected=expected, user_kind=user_kind, started_s=started_s,
                           receipt_header=receipt_header)

    def record(
        self,
        intended_s: float,
        endpoint: str,
        method: str,
        path: str,
        reply: Reply,
        *,
        client_key: str = "",
        key_issued: int = 0,
        idempotency_key: str = "",
        expected: str = "ok",
        user_kind: str = "",
        started_s: float | None = None,
        receipt_header: str = "",
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Record one answered (or failed) request; returns (status, JSON body or None, headers)."""
        status, error = reply.status, reply.error
        parsed, body_json = _parse_json(reply.text) if status else (None, -1)
        first_s = reply.sent_s if started_s is None else started_s
        end_s = reply.sent_s + reply.latency_ms / 1000.0
        lowered = {k.lower() for k in reply.headers}
        headers_ok = -1 if status != 429 else int(all(h.lower() in lowered for h in RATELIMIT_HEADERS))
        tx_hash = ""
        if receipt_header:
            receipt = _base64_json(next((v for k, v in reply.headers.items() if k.lower() == receipt_header.lower()), ""))
            tx_hash = str(receipt.get("transaction") or "") if isinstance(receipt, dict) else ""
        elif isinstance(parsed, dict):
            tx_hash = next((v for k in TX_HASH_KEYS if isinstance(v := parsed.get(k), str) and v), "")
        error_field = ""
        if status >= 400 and isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            error = parsed["error"][:80]  # the answer's stable error code
            error_field = str(parsed.get("field") or "")[:120]
        self.ctx.write(
            {
                "intended_s": intended_s,
                "sent_s": first_s,
                "endpoint": endpoint,
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": (end_s - first_s) * 1000.0,
                "latency_from_intended_ms": (end_s - intended_s) * 1000.0,
                "user_kind": user_kind or self.kind,
                "client_key": client_key,
                "key_issued": key_issued,
                "phase": phase_at(self.ctx.profile.phases, intended_s),
                "idempotency_key": idempotency_key,
                "tx_hash": tx_hash,
                "expected": expected,
                "error": error,
                "error_field": error_field,
                "ratelimit_headers_ok": headers_ok,
                "body_json": body_json,
                "server_ms": server_timing_ms(reply.headers, ENDPOINT_METRICS.get(endpoint, "")),
                **dict(zip(("ratelimit_limit", "ratelimit_window_s"), announced_limit(reply.headers), strict=True)),
                **dict(zip(("ratelimit_remaining", "ratelimit_reset_s", "retry_after_s"),
                           ratelimit_values(reply.headers), strict=True)),
            }
        )
        return status, parsed if isinstance(parsed, dict) else None, reply.headers


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back for one request: status (0 = none), body text, headers, when and how long, error."""

    status: int
    text: str
    headers: dict[str, str]
    sent_s: float
    latency_ms: float
    error: str = ""


def _base64_json(value: str) -> Any:
    try:
        return json.loads(base64.b64decode(value, validate=True)) if value else None
    except (binascii.Error, ValueError):
        return None


def _parse_json(text: str) -> tuple[Any, int]:
    try:
        return json.loads(text), 1
    except ValueError:
        return None, 0


def _counters(queue: ArrivalQueue) -> dict[str, int]:
    c = queue.counters
    return {"scheduled": c.scheduled, "sent": c.sent, "late": c.late, "dropped": c.dropped}
