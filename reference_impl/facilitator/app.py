"""The facilitator's HTTP API (x402 v2: specs/x402-specification-v2.md §7, the shapes
@x402/core's HTTPFacilitatorClient parses).

* `POST /verify` `{x402Version, paymentPayload, paymentRequirements}` -> 200
  `{isValid, invalidReason?, invalidMessage?, payer?}`
* `POST /settle` (same body) -> 200 `{success, errorReason?, errorMessage?, payer?, transaction, network}`
* `GET /supported` -> `{kinds: [{x402Version: 2, scheme: "exact", network, extra: {areFeesSponsored: true}}],
  extensions: [], signers: {"stellar:*": [...]}}`
* `GET /health` -> RPC breaker states and the signer pool.

A body that is not JSON or lacks `paymentPayload`/`paymentRequirements` is 400 `{"error": ...}` (the
examples' express facilitator). When the ledger cannot be read and nothing was sent the answer is
503 with the usual body (`unexpected_verify_error` / `unexpected_settle_error`): a refusal of the
moment, not of the payment.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference_impl.facilitator.payload import SCHEME, X402_VERSION, Refusal
from reference_impl.facilitator.rpc import RpcUnavailableError
from reference_impl.facilitator.settler import Settler

MAX_BODY_BYTES = 64 * 1024
STELLAR_FAMILY = "stellar:*"


class BadRequest(Exception):
    """The request body is not a verify/settle request."""


async def _request_body(request: Request) -> tuple[Any, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(f"body must be at most {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("body must be a JSON object") from None
    if not isinstance(data, dict) or "paymentPayload" not in data or "paymentRequirements" not in data:
        raise BadRequest("Missing paymentPayload or paymentRequirements")
    return data["paymentPayload"], data["paymentRequirements"]


def _payer(payer: str) -> dict[str, str]:
    return {"payer": payer} if payer else {}


def create_facilitator_app(settler: Settler) -> Starlette:
    verifier = settler.verifier

    async def verify(request: Request) -> Response:
        try:
            payload, requirements = await _request_body(request)
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, 400)
        try:
            verified = await verifier.verify(payload, requirements)
        except Refusal as refusal:
            return JSONResponse({"isValid": False, "invalidReason": refusal.reason, "invalidMessage": str(refusal),
                                 **_payer(refusal.payer)})
        except RpcUnavailableError as error:
            return JSONResponse({"isValid": False, "invalidReason": "unexpected_verify_error",
                                 "invalidMessage": str(error)}, 503)
        except Exception:  # noqa: BLE001 - the official facilitator answers unexpected_verify_error too
            traceback.print_exc(file=sys.stderr)
            return JSONResponse({"isValid": False, "invalidReason": "unexpected_verify_error"})
        return JSONResponse({"isValid": True, "payer": verified.payer})

    async def settle(request: Request) -> Response:
        try:
            payload, requirements = await _request_body(request)
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, 400)
        network = verifier.network
        try:
            outcome = await settler.settle(payload, requirements)
        except RpcUnavailableError as error:
            return JSONResponse({"success": False, "errorReason": "unexpected_settle_error",
                                 "errorMessage": str(error), "transaction": "", "network": network}, 503)
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            return JSONResponse({"success": False, "errorReason": "unexpected_settle_error", "transaction": "",
                                 "network": network})
        body: dict[str, Any] = {"success": outcome.status == "success", "transaction": outcome.transaction,
                                "network": network, **_payer(outcome.payer)}
        if outcome.status != "success":
            body.update(errorReason=outcome.reason, errorMessage=outcome.message)
        return JSONResponse(body, 503 if outcome.status == "unavailable" else 200)

    async def supported(request: Request) -> Response:
        return JSONResponse({
            "kinds": [{"x402Version": X402_VERSION, "scheme": SCHEME, "network": verifier.network,
                       "extra": {"areFeesSponsored": True}}],
            "extensions": [],
            "signers": {STELLAR_FAMILY: sorted(verifier.facilitator)},
        })

    async def health(request: Request) -> Response:
        pool = settler.signers
        return JSONResponse({"status": "ok", "network": verifier.network, "rpc": verifier.rpc.breaker_states(),
                             "signers": len(pool.accounts), "quarantined": pool.quarantined()})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await settler.aclose()
            await verifier.rpc.aclose()

    return Starlette(routes=[
        Route("/verify", verify, methods=["POST"]),
        Route("/settle", settle, methods=["POST"]),
        Route("/supported", supported, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ], lifespan=lifespan)
