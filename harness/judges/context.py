"""What the judges read: one run's evidence, its schedule and the judging parameters.

The harness-run engineer builds a `JudgeContext` from collected evidence (`JudgeContext.build`);
every judge is a pure function `JudgeContext -> Check` (or a list of them), so tests feed
synthetic evidence and get verdicts without starting anything.

Time: every time in the context is seconds since run start. `build` converts unix-epoch stamps
(any value above `EPOCH_CUTOFF`, e.g. the ledger access log or service events) with `run_start_epoch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import HarnessConfigurationError
from harness.judges.sql import JudgeSql
from harness.ledger_table import applied_table
from harness.outputs import RECORD_FIELDS, Event, RequestRecord
from harness.records_store import RecordStore, select_frame

T = TypeVar("T")
VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE = "pass", "fail", "inconclusive"
CHECK_VERDICTS = (VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE)
CHECK_KINDS = ("property", "target", "recovery", "invariant", "capacity")

# The seed's p95 targets in milliseconds, keyed by metric name.
DEFAULT_THRESHOLDS_MS = {
    "settlement.finality": 5000.0,
    "channel.latency": 100.0,
    "x402.handshake": 500.0,
    "agent.decision": 1000.0,
    "contract.execution": 3000.0,
}
# A stamp above this (2001-09-09) is a unix epoch, below it seconds since run start.
EPOCH_CUTOFF = 1_000_000_000.0
# User kinds whose traffic should never be rate limited (P34 "well-behaved clients").
WELL_BEHAVED_KINDS = ("paying_agent", "paying_agent_v2", "channel_updater", "settler", "decider", "escrow_user")
# Toxics that make a proxy unusable (the dependency is "down" for P35/P36).
OUTAGE_TOXICS = ("down", "timeout", "reset_peer")
PRIMARY_PROXY, SECONDARY_PROXY = "horizon-primary", "horizon-secondary"
_REQUIRED_COLUMNS = ("intended_s", "sent_s", "endpoint", "method", "path", "status", "latency_ms",
                     "latency_from_intended_ms")


class JudgingError(HarnessConfigurationError):
    """Evidence or parameters handed to the judges are malformed."""


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: a property, a target, a recovery objective or an invariant."""

    id: str  # "P30".."P36", "target.<metric>", "recovery.<fault>", "nothing-lost", "secret-scan", "capacity"
    kind: str  # property | target | recovery | invariant | capacity
    name: str
    verdict: str  # pass | fail | inconclusive
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    evidence: list[Any] = field(default_factory=list)
    evidence_used: dict[str, str] = field(default_factory=dict)  # evidence name -> where it came from
    not_observable: dict[str, str] = field(default_factory=dict)  # missing evidence name -> why

    def __post_init__(self) -> None:
        if self.verdict not in CHECK_VERDICTS:
            raise JudgingError(f"check {self.id}: verdict {self.verdict!r} not in {CHECK_VERDICTS}")
        if self.kind not in CHECK_KINDS:
            raise JudgingError(f"check {self.id}: kind {self.kind!r} not in {CHECK_KINDS}")

    def to_dict(self) -> dict[str, Any]:
        """The summary.json shape (harness/outputs.py)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Phase:
    """A load phase; only `steady` phases are judged against the targets."""

    name: str
    start_s: float
    end_s: float
    steady: bool = False

    def __post_init__(self) -> None:
        _check_interval(f"phase {self.name}", self.start_s, self.end_s)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One scheduled fault, in the summary.json "faults" shape (`at_s` .. `end_s`)."""

    at_s: float
    end_s: float
    proxy: str
    toxic: str
    stream: str = "downstream"
    attributes: dict[str, Any] = field(default_factory=dict)
    toxicity: float = 1.0

    def __post_init__(self) -> None:
        _check_interval(f"fault {self.proxy}/{self.toxic}", self.at_s, self.end_s)
        if not 0.0 <= self.toxicity <= 1.0:
            raise JudgingError(f"fault {self.label}: toxicity {self.toxicity} outside [0, 1]")

    @property
    def label(self) -> str:
        """A short name: proxy/toxic plus attributes, e.g. `horizon-primary/latency(latency=800)`."""
        attrs = ",".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.proxy}/{self.toxic}" + (f"({attrs})" if attrs else "")

    @property
    def is_outage(self) -> bool:
        """True when the proxy is unusable for every connection (down, timeout, reset_peer)."""
        return self.toxic in OUTAGE_TOXICS and self.toxicity >= 1.0

    def overlaps(self, start_s: float, end_s: float) -> bool:
        return self.at_s < end_s and start_s < self.end_s


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The limit an endpoint enforces per client key (P34)."""

    limit: int
    window_s: float
    algorithm: str = "sliding-window"  # or token-bucket

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.window_s > 0:
            raise JudgingError(f"rate limit needs limit >= 1 and window_s > 0, got {self.limit}/{self.window_s}")


@dataclass(frozen=True, slots=True)
class JudgingParams:
    """Knobs of the judges; defaults follow DESIGN.md §8, a profile overrides them."""

    window_s: float = 10.0  # latency window length for targets, P30 and recovery
    min_samples: int = 30  # fewer samples than this in a whole check -> inconclusive
    min_window_samples: int = 5  # a window with fewer samples is neither breaching nor clean
    max_consecutive_breaching_windows: int = 1  # "sustained" breach = more than this in a row
    rto_s: float = 30.0  # recovery-time objective after each fault window
    fallback_success_min: float = 0.99  # P36: settlement success while only the primary is down
    fast_503_max_ms: float = 1000.0  # P36: a 503 with both Horizons down must come this fast
    alert_latency_max_s: float = 5.0  # P30: alert at most this long after the first breaching sample
    alert_match_tolerance_ms: float = 1.0  # P30: a matching sample has latency >= value_ms - this
    clock_skew_s: float = 1.0  # slack between client and service clocks when matching times
    breaker_timeout_s: float = 60.0  # P35: the breaker's open timeout from the config
    breaker_tolerance_s: float = 2.0  # P35: slack on "opens during the window" / "half-opens after timeout"
    access_slack_s: float = 0.25  # P35: a primary request this soon after the open was already in flight
    min_cases: int = 10  # P33/P36: fewer tampered or fault-window requests -> inconclusive
    min_malformed: int = 10  # P32: fewer malformed (fuzzed or slow) requests -> inconclusive
    targets_from_intended: bool = False  # judge targets on latency_from_intended_ms instead of service time
    enabled: tuple[str, ...] | None = None  # check ids (or prefixes like "target.") to run; None = all
    capacity_phase: str | None = None  # name of the ramp phase the capacity check scans; None = no capacity check
    capacity_max_error_rate: float = 0.05  # capacity: a window breaks when more well-behaved requests fail (5xx/none)

    def __post_init__(self) -> None:
        for name in ("window_s", "rto_s", "fast_503_max_ms", "alert_latency_max_s", "breaker_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise JudgingError(f"JudgingParams.{name} must be a positive number, got {value!r}")
        for name in ("min_samples", "min_window_samples", "min_cases", "min_malformed"):
            if getattr(self, name) < 1:
                raise JudgingError(f"JudgingParams.{name} must be >= 1")
        if self.max_consecutive_breaching_windows < 0:
            raise JudgingError("JudgingParams.max_consecutive_breaching_windows must be >= 0")
        if not 0.0 <= self.fallback_success_min <= 1.0:
            raise JudgingError("JudgingParams.fallback_success_min must be within [0, 1]")
        if self.capacity_phase is not None and (not isinstance(self.capacity_phase, str) or not self.capacity_phase):
            raise JudgingError("JudgingParams.capacity_phase must be a phase name or null")
        rate = self.capacity_max_error_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise JudgingError("JudgingParams.capacity_max_error_rate must be within [0, 1]")

    def is_enabled(self, check_id: str) -> bool:
        """Whether `check_id` runs: None enables all; entries match exactly or as a prefix ending in '.'."""
        if self.enabled is None:
            return True
        return any(check_id == e or (e.endswith(".") and check_id.startswith(e)) for e in self.enabled)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> JudgingParams:
        """Build from a profile's `judging` section; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise JudgingError(f"unknown judging parameter(s) {unknown}; valid: {sorted(known)}")
        data = dict(values)
        if data.get("enabled") is not None:
            data["enabled"] = tuple(data["enabled"])
        return cls(**data)


@dataclass(frozen=True)
class JudgeContext:
    """All evidence of one run, on the run's time axis. Build it with `JudgeContext.build`.

    Client records: `frame(columns, **where)` reads only the columns and rows a judge needs (from the run's
    requests.parquet, or from an in-memory frame); `records` is the whole table in memory, for small runs.
    """

    source: pd.DataFrame | RecordStore  # one row per client request, columns RECORD_FIELDS
    events: tuple[Event, ...] = ()
    # The ledger history's applied transactions (harness/ledger_table.py): a table, a ledger_applied.parquet,
    # or None when the run has no ledger history at all.
    ledger_applied: pa.Table | Path | None = None
    access_log: tuple[dict[str, Any], ...] = ()  # {t, listener (0 primary, 1 secondary), method, path, status}
    phases: tuple[Phase, ...] = ()
    faults: tuple[FaultWindow, ...] = ()
    thresholds_ms: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS_MS))
    params: JudgingParams = field(default_factory=JudgingParams)
    run_start_epoch: float = 0.0
    duration_s: float = 0.0
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)  # endpoint label -> limit
    run_dir: Path | None = None  # artifacts to secret-scan; None skips the scan (inconclusive)
    known_secrets: tuple[str, ...] = ()  # exact strings (admin token, seeds) that must appear nowhere
    unavailable: Mapping[str, str] = field(default_factory=dict)  # evidence the run could not obtain -> why
    sources: Mapping[str, str] = field(default_factory=dict)  # evidence -> where the run obtained it
    metrics_text: str = ""  # the target's GET /metrics (Prometheus text) read at the end of the run, or ""

    @classmethod
    def build(
        cls,
        records: RecordStore | pd.DataFrame | Iterable[RequestRecord] | Iterable[Mapping[str, Any]],
        *,
        events: Iterable[Event | Mapping[str, Any]] = (),
        ledger_history: Iterable[Mapping[str, Any]] | Path | None = (),
        access_log: Iterable[Mapping[str, Any]] = (),
        phases: Iterable[Phase | Mapping[str, Any]] = (),
        faults: Iterable[FaultWindow | Mapping[str, Any]] = (),
        thresholds_ms: Mapping[str, float] | None = None,
        params: JudgingParams | Mapping[str, Any] | None = None,
        run_start_epoch: float = 0.0,
        duration_s: float | None = None,
        rate_limits: Mapping[str, RateLimit | Mapping[str, Any]] | None = None,
        run_dir: Path | str | None = None,
        known_secrets: Iterable[str] = (),
        unavailable: Mapping[str, str] | None = None,
        sources: Mapping[str, str] | None = None,
        metrics_text: str = "",
    ) -> JudgeContext:
        """Normalise evidence from lists, dicts or dataclasses; raises JudgingError on bad input.

        `ledger_history`: docs/ledger.md history records (their applied ones are read), or the path of a run's
        ledger_applied.parquet, or None for no history."""
        frame = records if isinstance(records, RecordStore) else records_frame(records)
        evs = tuple(sorted((_event(e, run_start_epoch) for e in events), key=lambda e: e.t))
        log = tuple(_access_entry(a, run_start_epoch) for a in access_log)
        phs = tuple(sorted((p if isinstance(p, Phase) else _from_mapping(Phase, p) for p in phases),
                           key=lambda p: p.start_s))
        fws = tuple(sorted((f if isinstance(f, FaultWindow) else _from_mapping(FaultWindow, f) for f in faults),
                           key=lambda f: f.at_s))
        thr = dict(DEFAULT_THRESHOLDS_MS if thresholds_ms is None else thresholds_ms)
        for metric, value in thr.items():
            if not (isinstance(value, int | float) and value > 0):
                raise JudgingError(f"threshold for {metric} must be a positive number of ms, got {value!r}")
        prm = params if isinstance(params, JudgingParams) else JudgingParams.from_mapping(params or {})
        limits = {k: v if isinstance(v, RateLimit) else _from_mapping(RateLimit, v)
                  for k, v in (rate_limits or {}).items()}
        _known_evidence({**(unavailable or {}), **(sources or {})})
        if duration_s is None:
            ends = [p.end_s for p in phs] + [f.end_s for f in fws]
            if len(frame):
                ends.append(_column_max(frame, "sent_s") + _column_max(frame, "latency_ms") / 1000.0)
            duration_s = max(ends, default=0.0)
        return cls(frame, evs, _applied(ledger_history), log, phs, fws, thr, prm,
                   float(run_start_epoch), float(duration_s), limits,
                   Path(run_dir) if run_dir is not None else None, tuple(s for s in known_secrets if s),
                   dict(unavailable or {}), dict(sources or {}), str(metrics_text))

    def __repr__(self) -> str:  # never print known_secrets
        return (f"JudgeContext(records={len(self.source)}, events={len(self.events)}, "
                f"history={self.ledger_applied is not None}, faults={len(self.faults)}, run_dir={self.run_dir})")

    @cached_property
    def records(self) -> pd.DataFrame:
        """Every client record in memory (columns RECORD_FIELDS); judges of large runs use `frame` instead."""
        return self.source.frame() if isinstance(self.source, RecordStore) else self.source

    @property
    def num_records(self) -> int:
        return len(self.source)

    @property
    def has_ledger_history(self) -> bool:
        return self.ledger_applied is not None

    def once(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()` the first time `name` is asked of this context, the same result after (a reconciliation
        the judges and the run both read is joined once)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_once", {})
        if name not in cache:
            cache[name] = compute()
        return cast(T, cache[name])

    def sql(self) -> JudgeSql:
        """A DuckDB connection with views `records` and `applied` of this run (harness/judges/sql.py)."""
        return JudgeSql(self.source, self.ledger_applied)

    def query(self, query: str, params: Sequence[Any] = (), **frames: pd.DataFrame) -> list[tuple[Any, ...]]:
        """The rows of one query over `records`, `applied` and the given `frames`."""
        with self.sql() as sql:
            return sql.rows(query, params, **frames)

    def frame(self, columns: Iterable[str], during: Iterable[tuple[float, float]] | None = None,
              **where: Iterable[Any]) -> pd.DataFrame:
        """The client records' `columns` (names of RECORD_FIELDS) for rows whose `where` columns hold one
        of the given values and, with `during`, sent within one of those [start, end) intervals, e.g.
        `ctx.frame(["status", "latency_ms"], endpoint=["settlement"])`; indexed by row position in the whole
        table, in send order."""
        cols, cond = list(columns), {k: list(v) for k, v in where.items()}
        spans = None if during is None else [(float(a), float(b)) for a, b in during]
        if isinstance(self.source, RecordStore):
            return self.source.select(cols, spans, **cond)
        return select_frame(self.source, cols, spans, **cond)

    def steady_phases(self) -> tuple[Phase, ...]:
        return tuple(p for p in self.phases if p.steady)

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def records_frame(records: pd.DataFrame | Iterable[RequestRecord] | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with every RECORD_FIELDS column, numeric columns typed, strings never NaN."""
    if isinstance(records, pd.DataFrame):
        frame = records.copy()
    else:
        rows = [asdict(r) if isinstance(r, RequestRecord) else dict(r) for r in records]
        frame = pd.DataFrame(rows)
    defaults = {f.name: f.default for f in fields(RequestRecord)}
    for name in RECORD_FIELDS:
        if name in frame.columns:
            continue
        if name in _REQUIRED_COLUMNS and len(frame):
            raise JudgingError(f"records lack required column {name!r}")
        frame[name] = defaults[name] if name not in _REQUIRED_COLUMNS else pd.Series(dtype="float64")
    numeric = {"intended_s": "float64", "sent_s": "float64", "latency_ms": "float64",
               "latency_from_intended_ms": "float64", "status": "int64", "ratelimit_headers_ok": "int64",
               "body_json": "int64", "ratelimit_limit": "int64", "ratelimit_window_s": "float64",
               "ratelimit_remaining": "int64", "ratelimit_reset_s": "float64", "retry_after_s": "float64"}
    for name, dtype in numeric.items():
        try:
            frame[name] = pd.to_numeric(frame[name], errors="raise").astype(dtype)
        except (ValueError, TypeError) as exc:
            raise JudgingError(f"records column {name!r} is not numeric: {exc}") from None
    for f in fields(RequestRecord):
        if f.type in ("str", str):
            frame[f.name] = frame[f.name].fillna("").astype(str)
    return frame.reset_index(drop=True)


def _applied(history: Iterable[Mapping[str, Any]] | Path | str | None) -> pa.Table | Path | None:
    if history is None:
        return None
    if isinstance(history, str | Path):
        path = Path(history)
        if not path.is_file():
            raise JudgingError(f"no ledger table at {path}")
        return path
    entries = list(history)
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise JudgingError(f"a ledger history record must be a mapping, got {type(entry).__name__}")
    return applied_table(entries) if entries else None


def _column_max(source: pd.DataFrame | RecordStore, name: str) -> float:
    if isinstance(source, RecordStore):
        return float(pc.max(source.column(name)).as_py())
    return float(source[name].max())


def _event(e: Event | Mapping[str, Any], epoch: float) -> Event:
    """An Event on the run's time axis; a service feed entry (t, kind, data, seq) is accepted too."""
    try:
        t, source, kind, data = ((e.t, e.source, e.kind, e.data) if isinstance(e, Event)
                                 else (e["t"], e.get("source", "service"), e["kind"], e.get("data") or {}))
        t = float(t)
    except (KeyError, TypeError, ValueError) as exc:
        raise JudgingError(f"event needs a numeric 't' and a 'kind': {exc!r}") from None
    return Event(t - epoch if t > EPOCH_CUTOFF else t, str(source), str(kind), dict(data))


def _access_entry(a: Mapping[str, Any], epoch: float) -> dict[str, Any]:
    if "t" not in a or "listener" not in a:
        raise JudgingError(f"access-log entry needs 't' and 'listener': {sorted(a)}")
    out = dict(a)
    try:
        t = float(a["t"])
        out["listener"] = int(a["listener"])
    except (TypeError, ValueError) as exc:
        raise JudgingError(f"access-log entry has a non-numeric 't' or 'listener': {exc}") from None
    out["t"] = t - epoch if t > EPOCH_CUTOFF else t
    return out


def _known_evidence(named: Mapping[str, str]) -> None:
    from harness.judges.observability import EVIDENCE

    unknown = sorted(set(named) - set(EVIDENCE))
    if unknown:
        raise JudgingError(f"unknown evidence name(s) {unknown}; valid: {sorted(EVIDENCE)}")


def _from_mapping(cls: type, values: Mapping[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in values.items() if k in known})
    except TypeError as exc:
        raise JudgingError(f"cannot build {cls.__name__} from {sorted(values)}: {exc}") from None


def _check_interval(what: str, start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise JudgingError(f"{what}: needs finite start <= end, got {start}..{end}")
