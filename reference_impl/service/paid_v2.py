"""The x402 v2 paid request of `GET /resources/{name}` (a `PAYMENT-SIGNATURE` header).

accepted == offered requirements -> facilitator `/verify` -> facilitator `/settle` -> 200 with the
resource and `PAYMENT-RESPONSE`. Metrics (and `Server-Timing` entries, in this order):
`x402.verify` and `x402.settle` (each facilitator round trip) and `x402.handshake.v2` (the whole paid
request, settlement included). Answers:

| case | status | headers |
| --- | --- | --- |
| header not a PaymentPayload, wrong version, `accepted` not offered | 402 | PAYMENT-REQUIRED (error = reason) |
| facilitator refuses at verify | 402 | PAYMENT-REQUIRED (error = invalidReason) |
| facilitator refuses or fails at settle | 402 | PAYMENT-RESPONSE (success false, errorReason, transaction) |
| settlement outcome unknown | 504 `outcome_unknown` | PAYMENT-RESPONSE (success false, transaction hash) |
| facilitator or ledger unreachable, nothing settled | 503 `unavailable` | Retry-After |
| settled | 200 | PAYMENT-RESPONSE (success, transaction, network, payer), Server-Timing |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response

from reference_impl.error_logger import ErrorSeverity
from reference_impl.service.server_timing import server_timings
from reference_impl.service.x402_v2 import Answer, FacilitatorUnavailableError, PaymentRefusedV2, category

if TYPE_CHECKING:
    from reference_impl.service.components import Components

OPERATION = "x402.verify"


def _elapsed_ms(c: Components, started: float) -> float:
    return round((c.clock.now() - started) * 1000, 3)


async def pay_v2(c: Components, name: str, url: str, header: str, agent_did: str | None, started: float) -> Response:
    gateway = c.x402v2
    assert gateway is not None
    try:
        payload = gateway.parse(header)
    except PaymentRefusedV2 as refusal:
        return _refused(c, url, refusal.reason, str(refusal), "")
    t0 = c.clock.now()
    try:
        verdict = await gateway.verify(payload)
    except FacilitatorUnavailableError as error:
        return _unavailable(c, error)
    verify_ms = _elapsed_ms(c, t0)
    c.metrics.record("x402.verify", verify_ms, {"endpoint": "x402"})
    if not verdict.ok:
        return _refused(c, url, verdict.reason, verdict.message, verdict.payer)
    t1 = c.clock.now()
    try:
        settled = await gateway.settle(payload)
    except FacilitatorUnavailableError as error:
        if not error.maybe_sent:
            return _unavailable(c, error)
        settled = Answer(False, "settle_exact_stellar_outcome_unknown", str(error), verdict.payer)
    settle_ms = _elapsed_ms(c, t1)
    c.metrics.record("x402.settle", settle_ms, {"endpoint": "x402"})
    receipt = {"PAYMENT-RESPONSE": gateway.response_header(settled)}
    if not settled.ok:
        return _settle_failed(c, settled, receipt, agent_did)
    total_ms = _elapsed_ms(c, started)
    c.metrics.record("x402.handshake.v2", total_ms, {"endpoint": "x402"})
    timing = server_timings({"x402.verify": verify_ms, "x402.settle": settle_ms, "x402.handshake.v2": total_ms})
    return JSONResponse({"resource": name, "content": f"paid content of {name}", "payer": settled.payer,
                         "transaction": settled.transaction, "network": gateway.network},
                        headers={**receipt, **timing})


def _unavailable(c: Components, error: FacilitatorUnavailableError) -> Response:
    c.error_logger.log_network_failure("facilitator", str(error), "x402", {})
    return JSONResponse({"error": "unavailable", "message": str(error)}, 503, headers={"Retry-After": "1"})


def _refused(c: Components, url: str, reason: str, message: str, payer: str) -> Response:
    """402 with PAYMENT-REQUIRED naming why; logged by the reason's category."""
    context = {"reason": reason, "code": reason, "field": "PAYMENT-SIGNATURE", "version": 2, "payer": payer}
    kind = category(reason)
    if kind == "crypto":
        c.error_logger.log_crypto_failure(f"{reason}: {message}", OPERATION, context)
    elif kind == "replay":
        c.error_logger.log_error(f"replayed payment refused: {message}", ErrorSeverity.MEDIUM, "replay", OPERATION,
                                 context)
    else:
        c.error_logger.log_validation_failure("PAYMENT-SIGNATURE", f"{reason}: {message}", OPERATION, context)
    assert c.x402v2 is not None
    return JSONResponse({"x402Version": 2, "error": reason, "message": message}, 402,
                        headers={"PAYMENT-REQUIRED": c.x402v2.payment_required(url, reason)})


def _settle_failed(c: Components, settled: Answer, receipt: dict[str, str], agent_did: str | None) -> Response:
    did = agent_did or f"did:stellar:{settled.payer}"
    body = {"x402Version": 2, "error": settled.reason, "message": settled.message,
            "transaction": settled.transaction}
    if settled.unknown:
        c.error_logger.log_error(f"x402 settlement outcome unknown: {settled.transaction}", ErrorSeverity.MEDIUM,
                                 "network", "x402", {"tx_hash": settled.transaction, "agent_did": did})
        return JSONResponse({**body, "error": "outcome_unknown"}, 504, headers={**receipt, "Retry-After": "1"})
    if settled.transaction:  # the ledger applied the settlement and it failed: fee and sequence spent
        c.error_logger.log_transaction_failure(
            settled.transaction, agent_did=did, operation="x402", cause=settled.reason,
            context={"tx_hash": settled.transaction, "settlement_id": f"x402_{settled.transaction[:24]}",
                     "source": settled.payer, "result_codes": {}, "version": 2})
    elif category(settled.reason) == "replay":
        c.error_logger.log_error(f"replayed payment refused: {settled.message}", ErrorSeverity.MEDIUM, "replay",
                                 OPERATION, {"reason": settled.reason, "version": 2})
    else:
        c.error_logger.log_validation_failure("PAYMENT-SIGNATURE", f"{settled.reason}: {settled.message}", "x402",
                                              {"reason": settled.reason, "version": 2})
    return JSONResponse(body, 402, headers=receipt)
