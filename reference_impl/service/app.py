"""The Starlette app of the service under test (`create_app(settings)`); contract in docs/service.md.

Request path: rate-limit middleware -> body size/JSON check -> input validation -> handler ->
submission engine / failover Stellar client. Every error is a JSON body with a stable `error` code;
typed errors map to 4xx/5xx in `_error_response`, anything else is a 500 (never for bad input).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_impl.error_logger import ErrorSeverity
from reference_impl.errors import CryptoVerificationError, ValidationError
from reference_impl.rate_limit_middleware import RateLimitMiddleware
from reference_impl.service.channels import ChannelCapacityError, ChannelConflictError, ChannelQuotaError
from reference_impl.service.components import Components
from reference_impl.service.decisions import parse_decisions
from reference_impl.service.escrow import describe_escrow, escrow_builder, parse_escrow
from reference_impl.service.events import EVENT_KINDS, FEED_VERSION
from reference_impl.service.nonces import NonceCapacityError
from reference_impl.service.paid_v2 import pay_v2
from reference_impl.service.sequence_pool import PoolExhaustedError
from reference_impl.service.server_timing import server_timing
from reference_impl.service.settings import ServiceSettings
from reference_impl.service.settlements import (
    check_idempotency_key,
    memo_for,
    parse_settlement,
    payment_builder,
)
from reference_impl.service.stellar_client import StellarUnavailableError
from reference_impl.service.submission import (
    IdempotencyConflictError,
    OutcomeUnknownError,
    SubmissionRecord,
)
from reference_impl.service.x402 import PaymentRejectedError, encode_header

MAX_BODY_BYTES = 64 * 1024
RESOURCE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
Handler = Callable[[Request, Components], Awaitable[Response]]


class ApiError(Exception):
    """An error answer decided by a handler: status, stable code, message, extra body fields."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.headers, self.extra = status, code, headers, extra


def error_body(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, /, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


async def read_json(request: Request, timeout: float) -> Any:
    """The body as a JSON object: 413 beyond MAX_BODY_BYTES, 408 when not received within `timeout`
    seconds (a slow client never holds the handler longer), 400 when not a JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise ApiError(413, "payload_too_large", f"body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise ApiError(413, "payload_too_large", f"body must be at most {MAX_BODY_BYTES} bytes")
    except TimeoutError:
        raise ApiError(408, "request_timeout", f"the body was not received within {timeout:g} s",
                       {"Connection": "close"}) from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return data


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _error_response(c: Components, error: Exception, operation: str) -> Response:
    if isinstance(error, ApiError):
        return error_body(error.status, error.code, str(error), error.headers, **error.extra)
    if isinstance(error, CryptoVerificationError):
        c.error_logger.log_crypto_failure(error, operation, {"field": error.field})
        return error_body(401, "invalid_signature", str(error), field=error.field)
    if isinstance(error, ValidationError):
        c.error_logger.log_validation_failure(error.field, error.reason, operation)
        return error_body(400, "invalid_request", str(error), field=error.field)
    if isinstance(error, IdempotencyConflictError):
        return error_body(409, "idempotency_key_reused", str(error))
    if isinstance(error, ChannelConflictError):
        return error_body(409, error.code, str(error), latest_sequence=error.latest_sequence)
    if isinstance(error, OutcomeUnknownError) and not error.sent:
        rec = error.record
        return error_body(503, "unavailable", "no Horizon endpoint is reachable; the earlier attempt's outcome "
                          "is still unknown", _retry_after(error.cause.retry_after),
                          settlement_id=rec.settlement_id, tx_hash=rec.tx_hash, status=rec.status)
    if isinstance(error, OutcomeUnknownError):
        rec = error.record
        return error_body(
            504,
            "outcome_unknown",
            "the ledger did not confirm the outcome in time; retry with the same Idempotency-Key",
            _retry_after(error.cause.retry_after),
            settlement_id=rec.settlement_id,
            tx_hash=rec.tx_hash,
        )
    if isinstance(error, StellarUnavailableError):
        c.error_logger.log_network_failure("horizon", str(error), operation, {"causes": error.causes})
        return error_body(
            503, "unavailable", str(error), _retry_after(error.retry_after), causes=error.causes
        )
    if isinstance(error, PoolExhaustedError):
        return error_body(503, "unavailable", str(error), _retry_after(1.0))
    if isinstance(error, NonceCapacityError | ChannelCapacityError):
        retry_after = error.retry_after if isinstance(error, NonceCapacityError) else 60.0
        return error_body(503, "store_full", str(error), _retry_after(retry_after))
    if isinstance(error, ChannelQuotaError):
        return error_body(403, "quota_exceeded", str(error))
    c.error_logger.log_error(error, ErrorSeverity.HIGH, "internal", operation)
    return error_body(500, "internal_error", "internal error")


def endpoint(label: str, handler: Handler, c: Components) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: error mapping, request counters and timing."""

    async def run(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(request, c)
        except Exception as error:
            response = _error_response(c, error, label)
        c.requests.labels(label, str(response.status_code)).inc()
        c.request_seconds.labels(label).observe(time.perf_counter() - started)
        return response

    return run


def _record(c: Components, metric: str, started: float, label: str) -> float:
    elapsed_ms = round((c.clock.now() - started) * 1000, 3)
    c.metrics.record(metric, elapsed_ms, {"endpoint": label})
    return elapsed_ms


# -- handlers ----------------------------------------------------------------------------------------


async def get_resource(request: Request, c: Components) -> Response:
    started = c.clock.now()
    name = request.path_params["name"]
    if not 1 <= len(name) <= 64 or not set(name) <= RESOURCE_NAME_CHARS:
        raise ValidationError("name", "must be 1..64 characters [A-Za-z0-9_-]")
    url = str(request.url.replace(query=""))
    client = c.identity(request.scope)
    signature = request.headers.get("payment-signature")
    if signature is not None and c.x402v2 is not None:
        return await pay_v2(c, name, url, signature, _agent_did(request), started)
    header = request.headers.get("x-payment")
    if header is None:
        v2 = {"PAYMENT-REQUIRED": c.x402v2.payment_required(url, "payment_required")} if c.x402v2 else None
        return JSONResponse(c.x402.challenge(url, "payment_required", "X-PAYMENT header is required", client), 402,
                            v2)
    try:
        proof = await c.x402.verify(header, url)
    except PaymentRejectedError as error:
        _log_payment_rejection(c, error)
        body = c.x402.challenge(url, error.reason, str(error), client)
        receipt = encode_header(
            {
                "success": False,
                "errorReason": error.reason,
                "transaction": "",
                "network": c.x402.network,
                "payer": "",
            }
        )
        return JSONResponse(body, 402, headers={"X-PAYMENT-RESPONSE": receipt})
    agent_did = _agent_did(request) or f"did:stellar:{proof.payer}"
    bounds = proof.envelope.transaction.preconditions
    assert bounds is not None and bounds.time_bounds is not None  # x402.verify refuses a payment without them
    record = SubmissionRecord(
        f"x402_{proof.tx_hash[:24]}",
        "x402",
        agent_did,
        None,
        proof.tx_hash,
        started,
        source=proof.payer,
        tx_hash=proof.tx_hash,
        envelope=proof.envelope,
        max_time=bounds.time_bounds.max_time,
        details={"resource": name, "amount_stroops": proof.amount_stroops},
    )
    await c.engine.submit_presigned(record)
    elapsed_ms = _record(c, "x402.handshake", started, "x402")
    return JSONResponse(
        {
            "resource": name,
            "content": f"paid content of {name}",
            "payer": proof.payer,
            "transaction": proof.tx_hash,
            "settlement_id": record.settlement_id,
        },
        headers={"X-PAYMENT-RESPONSE": c.x402.receipt(proof), **server_timing("x402.handshake", elapsed_ms)},
    )


def _agent_did(request: Request) -> str | None:
    agent = request.headers.get("x-agent-did")
    return agent if agent and agent.startswith("did:") and len(agent) <= 256 else None


def _log_payment_rejection(c: Components, error: PaymentRejectedError) -> None:
    context = {"reason": error.reason, "field": error.field}
    if error.category == "crypto":
        c.error_logger.log_crypto_failure(f"{error.reason}: {error}", "x402.verify", context)
    elif error.category == "replay":
        c.error_logger.log_error(
            f"replayed payment refused: {error}", ErrorSeverity.MEDIUM, "replay", "x402.verify", context
        )
    else:
        c.error_logger.log_validation_failure(error.field, f"{error.reason}: {error}", "x402.verify", context)


async def post_channel_update(request: Request, c: Components) -> Response:
    started = c.clock.now()
    channel_id = request.path_params["id"]
    state = c.channels.check(channel_id, await read_json(request, c.settings.body_timeout))
    stored = await c.channels.apply(channel_id, state, c.identity(request.scope))
    elapsed_ms = _record(c, "channel.latency", started, "channel")
    return JSONResponse(
        {
            "channelId": channel_id,
            "sequence": stored["sequence"],
            "total": stored["total"],
            "balances": stored["balances"],
            "accepted": True,
        },
        headers=server_timing("channel.latency", elapsed_ms),
    )


async def post_settlement(request: Request, c: Components) -> Response:
    started = c.clock.now()
    body = await read_json(request, c.settings.body_timeout)
    key = check_idempotency_key(request.headers.get("idempotency-key"))
    req = parse_settlement(body, request.headers.get("x-agent-did"), c.validator, c.config.payment.asset)
    sid = c.engine.new_id("settlement")
    record = SubmissionRecord(
        sid,
        "settlement",
        req.agent_did,
        key,
        req.fingerprint(),
        started,
        details={"destination": req.destination, "amount": req.amount, "asset": req.asset},
    )
    record, replayed = await c.engine.run(
        record,
        c.settlement_pool,
        payment_builder(req, memo_for(key, sid)),
        c.settings.request_deadline or 0.0,
    )
    response = _outcome_response(record, replayed)
    if record.status == "success" and not replayed:
        value_ms = record.finality_ms or 0.0
        c.metrics.record("settlement.finality", value_ms, {"endpoint": "settlement"})
        response.headers.update(server_timing("settlement.finality", value_ms))
    return response


def _outcome_response(record: SubmissionRecord, replayed: bool) -> Response:
    body = {**record.public(), "replayed": replayed}
    if record.status == "success":
        return JSONResponse(body)
    if record.status == "failed":
        return error_body(422, "transaction_failed", "the ledger failed the transaction", **body)
    return error_body(
        504,
        "outcome_unknown",
        "outcome not yet known; retry with the same Idempotency-Key",
        _retry_after(1.0),
        **body,
    )


async def get_settlement(request: Request, c: Components) -> Response:
    record = c.engine.store.get(request.path_params["id"])
    if record is None:
        raise ApiError(404, "not_found", "unknown settlement id")
    return JSONResponse(record.public())


async def post_decisions(request: Request, c: Components) -> Response:
    started = c.clock.now()
    agent_did, account, opportunities = parse_decisions(
        await read_json(request, c.settings.body_timeout),
        request.headers.get("x-agent-did"),
        c.settlement_pool.public_keys[0],
        c.validator,
        c.clock,
    )
    result = await c.decisions.evaluate(agent_did, account, opportunities)
    result["decision_ms"] = _record(c, "agent.decision", started, "decision")
    return JSONResponse(result, headers=server_timing("agent.decision", result["decision_ms"]))


async def post_escrow(request: Request, c: Components) -> Response:
    started = c.clock.now()
    body = await read_json(request, c.settings.body_timeout)
    key = check_idempotency_key(request.headers.get("idempotency-key"))
    req = parse_escrow(
        body, request.headers.get("x-agent-did"), c.settings.accounts.escrow.public_key, c.validator, c.clock
    )
    eid = c.engine.new_id("escrow")
    record = SubmissionRecord(eid, "escrow", req.agent_did, key, req.fingerprint(), started)
    record, replayed = await c.engine.run(
        record,
        c.settlement_pool,  # channel accounts; the escrow account signs as the operation's source
        escrow_builder(req, memo_for(key, eid), c.config.payment.asset),
        c.settings.request_deadline or 0.0,
        describe_escrow(req, c.config.payment.asset),
        signers=(c.settings.accounts.escrow,),
    )
    timing: dict[str, str] = {}
    if record.status == "success" and not replayed:
        value_ms = record.finality_ms or 0.0
        c.metrics.record("contract.execution", value_ms, {"endpoint": "escrow"})
        timing = server_timing("contract.execution", value_ms)
    response = _outcome_response(record, replayed)
    if record.status == "success":
        return JSONResponse(
            {
                **record.public(),
                "escrow_id": record.settlement_id,
                "execution_ms": record.finality_ms,
                "replayed": replayed,
            },
            headers=timing,
        )
    return response


async def get_health(request: Request, c: Components) -> Response:
    breakers = c.client.breaker_states()
    status, ready = c.parts.health(breakers)
    return JSONResponse(
        {"status": status, "ready": ready, "env": c.settings.env, "fault": c.fault, "breakers": breakers,
         "state": c.state()}
    )


async def get_metrics(request: Request, c: Components) -> Response:
    text = generate_latest(c.registry).decode() + c.metrics.export_prometheus("service")
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def get_events(request: Request, c: Components) -> Response:
    token = c.settings.admin_token
    supplied = request.headers.get("authorization", "")
    if not token or not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    since = request.query_params.get("since", "0")
    if not since.isdigit() or len(since) > 18:
        raise ValidationError("since", "must be a non-negative integer cursor")
    events, nxt = c.feed.since(int(since))
    return JSONResponse({"version": FEED_VERSION, "kinds": list(EVENT_KINDS), "events": [e.to_dict() for e in events],
                         "next": nxt})


def create_app(settings: ServiceSettings, components: Components | None = None) -> Starlette:
    """Build the app; components are started with the app's lifespan and closed on shutdown."""
    c = components or Components(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await c.aclose()

    routes = [
        Route("/resources/{name}", endpoint("x402", get_resource, c), methods=["GET"]),
        Route("/channels/{id}/updates", endpoint("channel", post_channel_update, c), methods=["POST"]),
        Route("/settlements", endpoint("settlement", post_settlement, c), methods=["POST"]),
        Route("/settlements/{id}", endpoint("settlement_status", get_settlement, c), methods=["GET"]),
        Route("/agent/decisions", endpoint("decision", post_decisions, c), methods=["POST"]),
        Route("/contracts/escrow", endpoint("escrow", post_escrow, c), methods=["POST"]),
        Route("/health", endpoint("health", get_health, c), methods=["GET"]),
        Route("/metrics", endpoint("metrics", get_metrics, c), methods=["GET"]),
    ]
    if settings.admin_feed:
        routes.append(Route("/admin/events", endpoint("admin", get_events, c), methods=["GET"]))
    middleware = (
        [Middleware(RateLimitMiddleware, manager=c.rate_limits, key_func=c.identity,
                    headers_func=c.parts.limit_headers)] if c.rate_limits else []
    )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    app.state.components = c
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_body(404, "not_found", "no such route")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_body(405, "method_not_allowed", "method not allowed")
