"""The seed's usage examples (docs 000_498d482ebd1c4f8d.txt, "Usage" and the patterns sections), in
Python as a user porting the seed writes them, each asserting the seed's meaning; and the forms that
are neither the Python API nor the seed's, refused at once with the right form named.

Where a check guards an old silent misbehaviour (a coroutine retried once and counted a success, an
async failure counted a breaker success, a DID stored as the operation, a three-argument alert
callback swallowed), it also runs against a variant with that bug (`*_MUTANTS`) and must fail it.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import socket
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from stellar_sdk import Keypair, ServerAsync
from stellar_sdk.client.aiohttp_client import AiohttpClient
from stellar_sdk.exceptions import ConnectionError as SdkConnectionError

from reference_impl import (
    CircuitBreaker,
    CircuitState,
    ConfigManager,
    ErrorLogger,
    ErrorSeverity,
    InputValidator,
    ManualClock,
    MetricsCollector,
    RateLimiter,
    RetryHandler,
    Timer,
    ValidationError,
)
from reference_impl.circuit_breaker import CircuitOpenError
from reference_impl.errors import AllFailedError, ApiUsageError, ConfigurationError, RetryExhaustedError
from tests.unit.seed_api_mutants import (
    BREAKER_MUTANTS,
    DROPPED_TRIAL_MUTANTS,
    LOGGER_MUTANTS,
    METRICS_MUTANTS,
    RETRY_MUTANTS,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = Keypair.from_raw_ed25519_seed(bytes(32)).public_key
AGENT_DID = "did:stellar:" + ACCOUNT


class FlakyStellarClient:
    """A dependency refusing `failures` connections, then answering (async, as stellar-sdk's ServerAsync)."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def submit_transaction(self, tx: str) -> dict[str, str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return {"hash": tx}

    async def get_account(self, address: str) -> dict[str, str]:
        return await self.submit_transaction(address)


# -- RetryHandler ---------------------------------------------------------------------------------


def check_async_retry(handler_cls: type[RetryHandler]) -> None:
    """`await retry_handler.execute(lambda: client.submit_transaction(tx), ...)`: 2 failures, 1 success."""
    client = FlakyStellarClient(failures=2)
    retry_handler = handler_cls({"maxRetries": 5}, clock=ManualClock())
    try:
        result = asyncio.run(
            retry_handler.execute(lambda: client.submit_transaction("tx1"), "submitTransaction")
        )
    except Exception as error:
        result = error
    assert result == {"hash": "tx1"} and client.calls == 3, f"{result!r} after {client.calls} calls"


def test_retry_coroutine_function_and_sync_function() -> None:
    client = FlakyStellarClient(failures=1)
    handler = RetryHandler(clock=ManualClock())

    async def load_account() -> dict[str, str]:
        return await client.get_account(ACCOUNT)

    assert asyncio.run(handler.execute(load_account, "getAccount")) == {"hash": ACCOUNT}
    assert client.calls == 2
    sync_calls: list[int] = []

    def submit(tx: str) -> str:
        sync_calls.append(1)
        if len(sync_calls) < 3:
            raise TimeoutError("horizon")
        return tx

    assert (
        RetryHandler({"maxRetries": 5}, clock=ManualClock()).execute(lambda: submit("tx"), "submit") == "tx"
    )
    assert len(sync_calls) == 3


def test_retry_error_codes_and_ms_durations() -> None:
    clock = ManualClock()
    handler = RetryHandler(
        {
            "retryableErrors": ["ECONNREFUSED", "ETIMEDOUT"],
            "baseDelay": 200,
            "maxDelay": 1000,
            "jitter": False,
            "maxRetries": 3,
        },
        clock=clock,
    )
    client = FlakyStellarClient(failures=3)
    asyncio.run(handler.execute(lambda: client.submit_transaction("tx"), "submit"))
    assert clock.sleeps == [0.2, 0.4, 0.8]  # baseDelay/maxDelay are the seed's milliseconds
    timeouts = FlakyStellarClient(failures=0)

    def bare_timeout() -> None:  # asyncio.wait_for raises TimeoutError without an errno
        timeouts.calls += 1
        raise TimeoutError()

    with pytest.raises(RetryExhaustedError):
        handler.execute(bare_timeout, "x")
    assert timeouts.calls == 4
    with pytest.raises(ValueError):  # not one of the listed codes: raised at once
        handler.execute(lambda: int("x"), "parse")


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


@pytest.mark.timeout(30)
def test_retry_and_breaker_with_the_real_stellar_sdk_refused_connection() -> None:
    """stellar-sdk wraps aiohttp's error: the code is found in the chain of causes."""
    clock = ManualClock()
    handler = RetryHandler({"maxRetries": 2, "retryableErrors": ["ECONNREFUSED"]}, clock=clock)
    breaker = CircuitBreaker(
        "stellar-api", {"failureThreshold": 3, "volumeThreshold": 3, "timeout": 60000}, clock=clock
    )

    async def scenario() -> None:
        async with ServerAsync(_refused_url(), AiohttpClient()) as server:
            with pytest.raises(RetryExhaustedError) as raised:
                await handler.execute(
                    lambda: breaker.execute(lambda: server.load_account(ACCOUNT)), "loadAccount"
                )
            assert isinstance(raised.value.last_error, SdkConnectionError) and raised.value.attempts == 3

    asyncio.run(scenario())
    assert breaker.get_state() is CircuitState.OPEN


# -- CircuitBreaker -------------------------------------------------------------------------------


def check_async_failures_open_the_breaker(breaker_cls: type[CircuitBreaker]) -> None:
    """`await breaker.execute(lambda: client.get_account(a))` failing: the breaker opens, then rejects."""
    client = FlakyStellarClient(failures=100)
    breaker = breaker_cls(
        "stellar-api", {"failureThreshold": 5, "volumeThreshold": 5, "timeout": 60000}, clock=ManualClock()
    )

    async def scenario() -> list[str]:
        outcomes = []
        for _ in range(6):
            try:
                await breaker.execute(lambda: client.get_account(ACCOUNT))
                outcomes.append("ok")
            except Exception as error:
                outcomes.append(type(error).__name__)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes == ["ConnectionRefusedError"] * 5 + ["CircuitOpenError"], outcomes
    assert breaker.get_state() is CircuitState.OPEN and client.calls == 5


def test_breaker_config_mapping_in_ms_and_fallback_pattern() -> None:
    breaker = CircuitBreaker("stellar-api", {"failureThreshold": 5, "timeout": 60000})
    assert (breaker.config.failure_threshold, breaker.config.timeout) == (5, 60.0)
    from_file = CircuitBreaker(
        "x", json.loads((ROOT / "config/testnet.json").read_text())["security"]["circuitBreaker"]
    )
    assert from_file.config.timeout == 30.0 and from_file.config.monitoring_period == 120.0

    service = CircuitBreaker("service-name")

    async def primary_operation() -> str:
        raise ConnectionError("primary down")

    async def fallback_operation() -> str:
        return "fallback"

    assert (
        asyncio.run(service.execute_with_fallback(lambda: primary_operation(), lambda: fallback_operation()))
        == "fallback"
    )
    assert asyncio.run(service.execute_with_fallback(primary_operation, lambda: "cached")) == "cached"
    assert service.execute_with_fallback(lambda: 1 / 0, lambda: "sync fallback") == "sync fallback"
    with pytest.raises(AllFailedError) as both:
        asyncio.run(service.execute_with_fallback(lambda: primary_operation(), lambda: primary_operation()))
    assert isinstance(both.value.primary_error, ConnectionError)


async def _ok() -> str:
    return "ok"


def check_dropped_trial_comes_back(breaker_cls: type[CircuitBreaker]) -> None:
    """A half-open trial call never awaited (a missing `await`) must not hold the only trial slot."""
    clock = ManualClock()
    breaker = breaker_cls(
        "api",
        {"failureThreshold": 1, "volumeThreshold": 1, "timeout": 1000, "halfOpenMaxCalls": 1},
        clock=clock,
    )
    with pytest.raises(ZeroDivisionError):
        breaker.execute(lambda: 1 / 0)
    clock.advance(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine '_ok' was never awaited": the user's bug
        breaker.execute(lambda: _ok())  # takes the one trial slot, never awaited
        gc.collect()
    try:
        outcome = asyncio.run(breaker.execute(_ok))
    except CircuitOpenError as error:
        outcome = error
    assert outcome == "ok", f"wedged: {outcome!r}"


def test_breaker_returns_a_coroutine_awaited_once() -> None:
    breaker = CircuitBreaker("api")
    assert asyncio.run(asyncio.wait_for(breaker.execute(lambda: _ok()), 5)) == "ok"  # create_task accepts it
    pending = breaker.execute(lambda: _ok())

    async def twice() -> None:
        assert await pending == "ok"
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await pending

    asyncio.run(twice())
    assert breaker.get_stats().total_calls == 2


# -- ErrorLogger ----------------------------------------------------------------------------------


def check_transaction_failure_seed_order(logger_cls: type[ErrorLogger]) -> None:
    """`logger.log_transaction_failure(transaction_id, error, agent_did, "executeTransaction")`."""
    with tempfile.TemporaryDirectory() as folder:
        _transaction_failure_seed_order(logger_cls, Path(folder) / "logs")


def _transaction_failure_seed_order(logger_cls: type[ErrorLogger], log_dir: Path) -> None:
    logger = logger_cls(
        {"logDirectory": str(log_dir), "alertThreshold": ErrorSeverity.HIGH, "console": False}
    )
    record = logger.log_transaction_failure(
        "tx-9f2c", TimeoutError("horizon"), AGENT_DID, "executeTransaction"
    )
    logger.close()
    assert record.severity == ErrorSeverity.HIGH
    assert record.context["agent_did"] == AGENT_DID, record.context
    assert record.operation == "executeTransaction" and record.context["cause"] == "TimeoutError: horizon"
    lines = (log_dir / "errors.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["context"]["agent_did"] == AGENT_DID


def test_logger_seed_patterns_log_error_and_validation_failure() -> None:
    alerts: list[Any] = []
    error_logger = ErrorLogger({"console": False, "alertSink": alerts.append, "alertThreshold": "HIGH"})
    context = {"operation": "settle", "agentDID": AGENT_DID}
    record = error_logger.log_error(ConnectionError("down"), context, ErrorSeverity.HIGH)
    assert (record.severity, record.operation, record.context["agentDID"]) == (
        ErrorSeverity.HIGH,
        "settle",
        AGENT_DID,
    )
    assert alerts == [record]
    assert error_logger.log_error(ValueError("x"), {}).severity == ErrorSeverity.MEDIUM

    secret = Keypair.random().secret
    proof = {"x402Version": 1, "signer": secret}
    try:
        InputValidator.validate_payment_proof(proof)
    except ValidationError as error:
        invalid = error_logger.log_validation_failure(error, proof, "validateInput")
    assert invalid.severity == ErrorSeverity.LOW and invalid.operation == "validateInput"
    assert invalid.context["field"] == "payment.scheme" and "unsupported_scheme" in invalid.context["reason"]
    assert invalid.context["input"]["x402Version"] == 1 and secret not in json.dumps(invalid.to_dict())
    big = error_logger.log_validation_failure(ValueError("too big"), "x" * 10_000, "validateInput")
    assert big.context["field"] == "input" and len(big.context["input"]) < 2100


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("tx", "timeout", "agent-7", "executeTransaction"), {}),  # no DID: which is the agent?
        (("tx", "did:key:a", "did:key:b", "op"), {}),
        (("tx", "did:key:a", "op"), {}),  # the cause is missing
        (("tx", "did:key:a", "op", "cause"), {"agent_did": "did:key:b"}),
    ],
)
def test_logger_ambiguous_transaction_failures_are_refused(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    logger = ErrorLogger({"console": False})
    with pytest.raises(ApiUsageError, match="log_transaction_failure\\(tx_id, agent_did, operation, cause"):
        logger.log_transaction_failure(*args, **kwargs)
    assert logger.get_records() == []
    named = logger.log_transaction_failure("tx", agent_did="agent-7", operation="exec", cause="timeout")
    assert named.context["agent_did"] == "agent-7"


# -- InputValidator -------------------------------------------------------------------------------


def test_validator_class_level_calls_as_the_seed_writes_them() -> None:
    assert InputValidator.validate_did(AGENT_DID) == AGENT_DID
    with pytest.raises(ValidationError):
        InputValidator.validate_did("did:stellar:not-an-account")
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential"],
        "issuer": AGENT_DID,
        "issuanceDate": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": AGENT_DID},
        "proof": {
            "type": "Ed25519Signature2020",
            "verificationMethod": AGENT_DID + "#key-1",
            "proofPurpose": "assertionMethod",
            "proofValue": "z3abc",
        },
    }
    assert InputValidator.validate_credential(vc)["issuer"] == AGENT_DID
    tx = {"source": ACCOUNT, "destination": ACCOUNT, "amount": "1.5"}
    assert InputValidator.validate_transaction(tx)["amount"] == "1.5000000"
    with pytest.raises(ValidationError, match="transaction.amount"):
        InputValidator.validate_transaction({**tx, "amount": "-1"})
    with pytest.raises(ValidationError, match="payment"):
        InputValidator.validate_payment_proof("not base64 json")
    assert InputValidator().validate_did(AGENT_DID) == AGENT_DID  # the instance API is unchanged


# -- RateLimiter ----------------------------------------------------------------------------------


def test_limiter_seed_usage_config_check_limit_and_one_line_middleware() -> None:
    clock = ManualClock()
    limiter = RateLimiter({"maxRequests": 2, "windowMs": 60000, "algorithm": "sliding-window"}, clock=clock)
    assert (limiter.config.max_requests, limiter.config.window) == (2, 60.0)

    async def payment(request: Request) -> PlainTextResponse:
        return PlainTextResponse("paid")

    async def checked(request: Request) -> PlainTextResponse:  # the seed's "Rate Limiting" pattern
        result = limiter.check_limit(request)
        if not result.allowed:
            return PlainTextResponse("Rate limit exceeded", status_code=429)
        return PlainTextResponse(str(result.remaining))

    app = Starlette(
        routes=[Route("/api/payment/pay", payment), Route("/free", payment), Route("/checked", checked)]
    )
    app.add_middleware(
        limiter.middleware, path="/api/payment"
    )  # app.use('/api/payment', limiter.middleware())

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [
                await client.get(path) for path in ["/api/payment/pay"] * 3 + ["/free"] * 3 + ["/checked"]
            ]

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses[:6]] == [200, 200, 429, 200, 200, 200]
    assert responses[2].headers["retry-after"] == "60"
    assert "x-ratelimit-limit" not in responses[3].headers
    assert responses[6].status_code == 429  # same client key (its address), same limiter: already used up
    assert limiter.check_limit("agent-42").allowed  # a key string still works


def test_limiter_middleware_wraps_any_asgi_app() -> None:
    limiter = RateLimiter({"maxRequests": 1, "windowMs": 1000}, clock=ManualClock())
    app = limiter.middleware(Starlette(routes=[Route("/", lambda r: PlainTextResponse("x"))]))

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [(await client.get("/", headers={"X-API-Key": "k"})).status_code for _ in range(2)]

    assert asyncio.run(scenario()) == [200, 429]


# -- ConfigManager --------------------------------------------------------------------------------


def test_config_seed_usage_and_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for var, value in {
        "STELLAR_NETWORK": "testnet",
        "STELLAR_HORIZON_URL": "https://horizon-testnet.stellar.org",
        "X402_SERVER_PORT": "3402",
        "LOG_LEVEL": "debug",
    }.items():
        monkeypatch.setenv(var, value)
    config = ConfigManager("testnet")
    config.load()
    stellar_config, agent_config, security_config = (
        config.get_stellar(),
        config.get_agent(),
        config.get_security(),
    )
    assert (
        stellar_config.network == "testnet"
        and stellar_config.horizon_url == "https://horizon-testnet.stellar.org"
    )
    assert agent_config.risk_tolerance == "low" and security_config.circuit_breaker.timeout == 30.0
    assert config.get_payment().x402.server_port == 3402
    assert config.get_monitoring().logging.level == "debug"


# -- MetricsCollector -----------------------------------------------------------------------------


def check_three_argument_alert_callback(collector_cls: type[MetricsCollector]) -> None:
    """`MetricsCollector({settlementFinality: 5000}, (metric, value, threshold) => ...)`."""
    fired: list[tuple[str, float, float]] = []
    metrics = collector_cls(
        {"settlementFinality": 5000},
        lambda metric, value, threshold: fired.append((metric, value, threshold)),
    )
    metrics.record_settlement_finality(3200, "tx1")
    metrics.record_settlement_finality(5200, "tx2")
    assert fired == [("settlement.finality", 5200.0, 5000.0)], fired


def test_metrics_seed_usage_stats_summary_and_timer() -> None:
    metrics = MetricsCollector({"settlementFinality": 5000, "channelLatency": 100})
    assert metrics.thresholds == {"settlement.finality": 5000.0, "channel.latency": 100.0}
    metrics.record_settlement_finality(3200, "tx-1")
    metrics.record_channel_latency(85, "channel-1")
    stats = metrics.get_stats("settlement.finality")
    assert stats is not None and (stats.avg, round(stats.p95)) == (3200.0, 3200)
    summary = metrics.get_performance_summary()
    assert summary.settlement_finality.meets_target
    assert summary.channel_latency.stats.max == 85.0  # type: ignore[union-attr]
    assert summary["settlementFinality"] is summary["settlement.finality"]
    clock = ManualClock()
    timer = Timer(clock=clock)
    clock.advance(0.4)
    alert = metrics.record_settlement_finality(timer.elapsed(), "tx-2")
    assert alert is None and metrics.get_stats("settlement.finality").count == 2  # type: ignore[union-attr]
    assert Timer().elapsed() >= 0.0


def test_metrics_seed_id_becomes_a_tag() -> None:
    seen: list[Any] = []
    metrics = MetricsCollector(clock=ManualClock(), thresholds={})
    metrics.add_listener(lambda name, value, tags: seen.append(tags))
    metrics.record_settlement_finality(1, "tx-1")
    metrics.record_channel_latency(1, "ch-1")
    metrics.record_x402_handshake(1, {"route": "r"})
    assert seen == [{"tx_id": "tx-1"}, {"channel_id": "ch-1"}, {"route": "r"}]


# -- forms that are neither: refused at once, naming the right form ---------------------------------


async def _coroutine() -> int:
    return 1


def _sync_call_with_async_veto() -> Any:
    def fails() -> None:
        raise TimeoutError()

    async def veto(error: BaseException, attempts: int) -> bool:
        return True

    return RetryHandler(clock=ManualClock()).execute(fails, "x", should_retry=veto)


WRONG_FORMS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("retry config of a wrong type", lambda: RetryHandler(5), ApiUsageError, "{'maxRetries': 5"),
    (
        "retry config typo",
        lambda: RetryHandler({"maxRetrys": 5}),
        ConfigurationError,
        "did you mean 'maxRetries'",
    ),
    ("retry snake_case key", lambda: RetryHandler({"max_retries": 5}), ConfigurationError, "'maxRetries'"),
    (
        "retry unknown error code",
        lambda: RetryHandler({"retryableErrors": ["ECONNREFUESD"]}),
        ConfigurationError,
        "did you mean 'ECONNREFUSED'",
    ),
    (
        "retry both spellings",
        lambda: RetryHandler({"baseDelay": 1, "baseDelayMs": 1}),
        ConfigurationError,
        "give one",
    ),
    (
        "retry a coroutine object",
        lambda: RetryHandler().execute(_coroutine(), "x"),
        ApiUsageError,
        "execute(lambda: client.submit(tx), 'submit')",
    ),
    (
        "retry swapped arguments",
        lambda: RetryHandler().execute("op", lambda: 1),
        ApiUsageError,
        "arguments swapped",
    ),
    ("retry async veto in a sync call", _sync_call_with_async_veto, ApiUsageError, "use execute_async"),
    (
        "breaker without a name",
        lambda: CircuitBreaker({"failureThreshold": 5}),
        ApiUsageError,
        "CircuitBreaker('stellar-api'",
    ),
    (
        "breaker config typo",
        lambda: CircuitBreaker("x", {"failureTreshold": 5}),
        ConfigurationError,
        "did you mean 'failureThreshold'",
    ),
    (
        "breaker duration not ms",
        lambda: CircuitBreaker("x", {"timeout": "60s"}),
        ConfigurationError,
        "milliseconds",
    ),
    (
        "breaker a coroutine object",
        lambda: CircuitBreaker("x").execute(_coroutine()),
        ApiUsageError,
        "execute(lambda: client.load_account(address))",
    ),
    ("logger config typo", lambda: ErrorLogger({"logDir": "./logs"}), ConfigurationError, "'logDirectory'"),
    (
        "logger severity as a string",
        lambda: ErrorLogger({"console": False}).log_error("x", "HIGH"),
        ValidationError,
        "log_error(error, context, ErrorSeverity.HIGH)",
    ),
    (
        "logger validation failure of a number",
        lambda: ErrorLogger({"console": False}).log_validation_failure(5, "x"),
        ValidationError,
        "log_validation_failure(error, input, operation)",
    ),
    (
        "limiter window in seconds",
        lambda: RateLimiter({"maxRequests": 10, "window": 60}),
        ConfigurationError,
        "did you mean 'windowMs'",
    ),
    (
        "limiter missing keys",
        lambda: RateLimiter({"algorithm": "token-bucket"}),
        ConfigurationError,
        "needs 'maxRequests' and 'windowMs'",
    ),
    (
        "limiter key of a wrong type",
        lambda: RateLimiter({"maxRequests": 1, "windowMs": 1}).check_limit(42),
        ApiUsageError,
        "Starlette request",
    ),
    (
        "metrics clock of a wrong type",
        lambda: MetricsCollector(5),
        ApiUsageError,
        "MetricsCollector({'settlementFinality': 5000}",
    ),
    (
        "metrics seed thresholds typo",
        lambda: MetricsCollector({"settlementFinalty": 5000}),
        ConfigurationError,
        "did you mean 'settlementFinality'",
    ),
    (
        "metrics two-argument callback",
        lambda: MetricsCollector({}, lambda metric, value: None),
        ApiUsageError,
        "(metric, value, threshold)",
    ),
    (
        "metrics seed form with extra arguments",
        lambda: MetricsCollector({}, {"a": 1}),
        ApiUsageError,
        "MetricsCollector(clock=...",
    ),
    (
        "metrics id of a wrong type",
        lambda: MetricsCollector().record_settlement_finality(1, 7),
        ApiUsageError,
        "id string (tx_id)",
    ),
    ("timer with a name only", lambda: Timer("settlement.finality"), ApiUsageError, "Timer(collector, name)"),
]


@pytest.mark.parametrize(
    ("call", "error", "names"), [w[1:] for w in WRONG_FORMS], ids=[w[0] for w in WRONG_FORMS]
)
def test_wrong_forms_are_refused_naming_the_right_one(
    call: Callable[[], Any], error: type[Exception], names: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a refused coroutine is closed, not left unawaited
        with pytest.raises(error) as raised:
            call()
    assert names in str(raised.value)
    if isinstance(raised.value, ApiUsageError):
        assert isinstance(raised.value, TypeError)


# -- each check holds for the real component and fails the variant with the old silent bug ---------

CHECKS: list[tuple[Callable[[Any], None], type, tuple[type, ...]]] = [
    (check_async_retry, RetryHandler, RETRY_MUTANTS),
    (check_async_failures_open_the_breaker, CircuitBreaker, BREAKER_MUTANTS),
    (check_dropped_trial_comes_back, CircuitBreaker, DROPPED_TRIAL_MUTANTS),
    (check_transaction_failure_seed_order, ErrorLogger, LOGGER_MUTANTS),
    (check_three_argument_alert_callback, MetricsCollector, METRICS_MUTANTS),
]


@pytest.mark.parametrize(("check", "real"), [c[:2] for c in CHECKS], ids=[c[0].__name__ for c in CHECKS])
def test_check_holds_for_the_real_component(check: Callable[[Any], None], real: type) -> None:
    check(real)


@pytest.mark.parametrize(
    ("check", "mutant"),
    [(c[0], m) for c in CHECKS for m in c[2]],
    ids=[f"{c[0].__name__}-{m.__name__}" for c in CHECKS for m in c[2]],
)
def test_check_fails_the_old_behaviour(check: Callable[[Any], None], mutant: type) -> None:
    with pytest.raises(AssertionError):
        check(mutant)
