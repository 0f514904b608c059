"""The failover Stellar client: ServerAsync + AiohttpClient (no transport retries) per Horizon URL,
a circuit breaker per endpoint, the retry handler around the whole failover sequence, per-call
timeouts and an overall deadline so nothing hangs.

One attempt tries each endpoint whose breaker admits the call, in order (primary, then secondary);
transient failures (connection errors, timeouts, 5xx, 429) fail over, business answers (404, 400)
return at once. When every endpoint is down (breaker open or TCP connection refused) the call fails
at once with `NothingSentError` (-> 503 + Retry-After); when every endpoint failed otherwise, the
retry handler backs off and tries the whole sequence again. Errors say whether a request may have
reached a server, so a submission's outcome is either known or honestly "unknown".

A submission is admitted first (`POST /transactions_async`: stellar-core's answer, relayed by
Horizon's actions/submit_transaction_async.go), then its inclusion is awaited by submitting the same
bytes synchronously (Horizon's txsub waits while core answers DUPLICATE). `TRY_AGAIN_LATER` (the
account already has a queued transaction, the envelope is banned, or the queue is full:
TransactionQueue::canAdd) is a refusal that applied nothing: the retry handler backs off and tries
again, and when every try was refused the call ends in `TryAgainLaterError`.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import aiohttp
from stellar_sdk import ServerAsync, TransactionEnvelope
from stellar_sdk.client.aiohttp_client import AiohttpClient
from stellar_sdk.client.response import Response
from stellar_sdk.exceptions import BadRequestError, BadResponseError, NotFoundError

from reference_impl.circuit_breaker import CircuitBreaker, CircuitBreakerManager
from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import CircuitOpenError, ReferenceImplError, RetryExhaustedError
from reference_impl.retry_handler import RetryCallback, RetryConfig, RetryHandler, is_transient_error
from reference_impl.service.result_codes import codes_from_result_xdr

T = TypeVar("T")
ENDPOINT_NAMES = ("horizon-primary", "horizon-secondary")
READ_POOL = 100  # pooled connections per endpoint for reads
SUBMIT_POOL = 1000  # and for synchronous submissions (each waits for a ledger close)


class RetryFreeAiohttpClient(AiohttpClient):
    """stellar-sdk's AiohttpClient whose aiohttp session never resends a request by itself.

    aiohttp retries an idempotent request once when the connection drops (RFC 9112 §9.3.1.1); such a
    hidden resend could reach a Horizon endpoint after its breaker opened and would escape the retry
    handler's accounting, so every retry here goes through `RetryHandler` instead.
    """

    async def get(self, url: str, params: dict[str, str] | None = None,
                  max_content_size: int | None = None) -> Response:
        await self._AiohttpClient__init_session()  # type: ignore[attr-defined]
        assert self._session is not None  # __init_session created it
        self._session._retry_connection = False  # the switch aiohttp's own test client uses
        return await super().get(url, params, max_content_size)


class StellarUnavailableError(ReferenceImplError):
    """No Horizon endpoint could serve the call; `retry_after` seconds is a hint for clients,
    `causes` maps endpoint name to a short (secret-free) description."""

    def __init__(self, message: str, retry_after: float, causes: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.causes = causes


class NotAppliedError(StellarUnavailableError):
    """The call failed and nothing it sent can ever be applied: a submission's sequence number is free."""


class NothingSentError(NotAppliedError):
    """The call failed and no request can have reached a server (breakers open, connections refused)."""


class TryAgainLaterError(NotAppliedError):
    """The network refused to queue the transaction (TRY_AGAIN_LATER): nothing was applied."""

    def __init__(self, message: str, tx_hash: str, endpoint: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after, {endpoint: "TRY_AGAIN_LATER"})
        self.tx_hash = tx_hash
        self.endpoint = endpoint


class AllBreakersOpenError(NothingSentError):
    """Every endpoint's breaker is open: refused at once, nothing was sent."""


class DeadlineExceededError(StellarUnavailableError):
    """The call did not finish before its deadline (for a submission: outcome unknown)."""


def never_sent(error: BaseException) -> bool:
    """True when `error` is a refused TCP connection (checked through the exception chain): the
    request never left this process, so a submission's outcome is known (not applied)."""
    seen: BaseException | None = error
    for _ in range(8):  # bounded walk of __cause__ / __context__
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectorError | ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class EndpointsFailedError(ReferenceImplError):
    """One attempt: every admitted endpoint failed transiently (retryable unless every endpoint
    refused the connection or had its breaker open: then they are down and a 503 comes at once)."""

    def __init__(self, causes: dict[str, BaseException]) -> None:
        super().__init__(
            "every Horizon endpoint failed: "
            + ", ".join(f"{name}: {_describe(err)}" for name, err in causes.items())
        )
        self.causes = causes
        self.all_down = all(isinstance(err, CircuitOpenError) or never_sent(err) for err in causes.values())


def _describe(error: BaseException) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """What the ledger said about a transaction: `success`, `failed` (applied, ops failed: fee and
    sequence consumed) or `rejected` (never applied)."""

    status: str
    tx_hash: str
    ledger: int | None = None
    result_codes: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""


@dataclass(slots=True)
class Endpoint:
    """One Horizon URL: a session for reads and one for submissions (sync submits hold a connection
    until a ledger close, so they must not starve reads of pooled connections), and its breaker."""

    name: str
    url: str
    server: ServerAsync
    submit_server: ServerAsync
    breaker: CircuitBreaker


def _problem_codes(error: BadRequestError) -> dict[str, Any]:
    extras = error.extras if isinstance(error.extras, dict) else {}
    codes = extras.get("result_codes")
    if isinstance(codes, dict):
        return codes
    return {"transaction": str(error.title or "transaction_malformed").lower().replace(" ", "_")}


class FailoverStellarClient:
    """Breaker-protected, retried, failover access to one or more Horizon URLs."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        breakers: CircuitBreakerManager,
        retry: RetryConfig,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_retry: RetryCallback | None = None,
        call_timeout: float = 5.0,
        submit_timeout: float = 15.0,
        deadline: float = 20.0,
    ) -> None:
        if not urls:
            raise ReferenceImplError("at least one Horizon URL is required")
        if len(urls) > len(ENDPOINT_NAMES):
            raise ReferenceImplError(f"at most {len(ENDPOINT_NAMES)} Horizon URLs are supported")
        self.endpoints = [
            Endpoint(
                name,
                url,
                ServerAsync(url, RetryFreeAiohttpClient(pool_size=READ_POOL, request_timeout=call_timeout)),
                ServerAsync(
                    url,
                    RetryFreeAiohttpClient(
                        pool_size=SUBMIT_POOL, request_timeout=call_timeout, post_timeout=submit_timeout
                    ),
                ),
                breakers.get_or_create(name, is_failure=is_transient_error),
            )
            for name, url in zip(ENDPOINT_NAMES, urls, strict=False)
        ]
        self.retry = RetryHandler(
            replace(retry, retryable_errors=(EndpointsFailedError, TryAgainLaterError)),
            clock=clock,
            rng=rng or random.Random(),
            on_retry=[on_retry] if on_retry else [],
        )
        self.call_timeout = call_timeout
        self.submit_timeout = submit_timeout
        self.deadline = deadline

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.server.close()
            await endpoint.submit_server.close()

    def breaker_states(self) -> dict[str, str]:
        return {ep.name: ep.breaker.state.value for ep in self.endpoints}

    def _targets(self) -> list[Endpoint]:
        """The endpoints a call tries, in order (primary first)."""
        return self.endpoints

    async def _attempt(
        self, fn: Callable[[ServerAsync], Awaitable[T]], timeout: float, tried: list[str], submit: bool,
        resend: bool = True,
    ) -> tuple[T, str]:
        failures: dict[str, BaseException] = {}
        open_errors: dict[str, CircuitOpenError] = {}
        for ep in self._targets():

            def invoke(ep: Endpoint = ep) -> Awaitable[T]:
                tried.append(ep.name)
                return asyncio.wait_for(fn(ep.submit_server if submit else ep.server), timeout)

            try:
                return await ep.breaker.execute_async(invoke), ep.name
            except CircuitOpenError as error:
                open_errors[ep.name] = error
            except Exception as error:
                if not is_transient_error(error):
                    raise
                if never_sent(error) and ep.name in tried:
                    tried.remove(ep.name)
                failures[ep.name] = error
                if not resend and tried:
                    break  # the request may have arrived: do not send it again
        if failures:
            raise EndpointsFailedError({**failures, **open_errors})
        retry_after = min(err.retry_after for err in open_errors.values())
        raise AllBreakersOpenError(
            "every Horizon breaker is open",
            max(1.0, math.ceil(retry_after)),
            {name: "circuit open" for name in open_errors},
        )

    async def call(
        self,
        operation: str,
        fn: Callable[[ServerAsync], Awaitable[T]],
        timeout: float | None = None,
        deadline: float | None = None,
        submit: bool = False,
        resend: bool = True,
        check: Callable[[T, str], None] | None = None,
    ) -> tuple[T, str]:
        """Run `fn(server)` with failover, breakers and retries; returns (value, endpoint name).

        Raises the business error (NotFoundError, BadRequestError) at once, `AllBreakersOpenError`
        when nothing may be called, `StellarUnavailableError` when retries are exhausted and
        `DeadlineExceededError` when the deadline passes first. `NothingSentError` (and its
        subclass `AllBreakersOpenError`) guarantee that no request can have reached a server;
        after the others a submission's outcome is unknown. `resend=False` stops (no failover, no
        retry) after the first failure that may have reached a server. `check(value, endpoint)` may
        raise TryAgainLaterError on an answer: it is retried like a transient failure.
        """
        per_call = self.call_timeout if timeout is None else timeout
        tried: list[str] = []

        async def attempt() -> tuple[T, str]:
            value, name = await self._attempt(fn, per_call, tried, submit, resend)
            if check is not None:
                check(value, name)
            return value, name

        try:
            async with asyncio.timeout(self.deadline if deadline is None else deadline):
                return await self.retry.execute_async(
                    attempt, operation,
                    should_retry=lambda error, _attempts: isinstance(error, TryAgainLaterError)
                    or ((resend or not tried) and not getattr(error, "all_down", False)),
                )
        except AllBreakersOpenError as error:
            if not tried:
                raise
            raise StellarUnavailableError(
                f"{operation}: every Horizon breaker opened during the call", error.retry_after, error.causes
            ) from None
        except EndpointsFailedError as error:  # retries vetoed: every endpoint down, or resend=False
            error_type = StellarUnavailableError if tried else NothingSentError
            raise error_type(
                f"{operation}: every Horizon endpoint is down" if error.all_down
                else f"{operation}: stopped after a request that may have arrived", 1.0,
                {name: _describe(err) for name, err in error.causes.items()}) from None
        except TimeoutError:
            error_type = DeadlineExceededError if tried else NothingSentError
            raise error_type(f"{operation}: deadline exceeded", 1.0, {}) from None
        except RetryExhaustedError as error:
            if isinstance(error.last_error, TryAgainLaterError):
                raise error.last_error from None
            causes = error.last_error.causes if isinstance(error.last_error, EndpointsFailedError) else {}
            error_type = StellarUnavailableError if tried else NothingSentError
            raise error_type(
                f"{operation}: every Horizon endpoint failed after {error.attempts} attempts",
                1.0,
                {name: _describe(err) for name, err in causes.items()},
            ) from None

    async def account(self, account_id: str) -> dict[str, Any] | None:
        """The raw Horizon account record, or None when the account does not exist."""
        try:
            value, _ = await self.call("load_account", lambda s: s.accounts().account_id(account_id).call())
        except NotFoundError:
            return None
        return value

    async def sequence(self, account_id: str) -> int | None:
        record = await self.account(account_id)
        return None if record is None else int(record["sequence"])

    async def native_balance_stroops(self, account_id: str) -> int | None:
        record = await self.account(account_id)
        if record is None:
            return None
        for balance in record.get("balances", []):
            if balance.get("asset_type") == "native":
                return _to_stroops(balance["balance"])
        return 0

    async def base_fee(self) -> int:
        value, _ = await self.call("fetch_base_fee", lambda s: s.fetch_base_fee())
        return int(value)

    async def lookup(self, tx_hash: str) -> SubmitOutcome | None:
        """The applied outcome of `tx_hash`, or None when no ledger holds it (yet)."""
        try:
            record, name = await self.call(
                "lookup_transaction", lambda s: s.transactions().transaction(tx_hash).call()
            )
        except NotFoundError:
            return None
        if record.get("successful"):
            return SubmitOutcome("success", tx_hash, int(record["ledger"]), {}, name)
        codes = record.get("result_codes") or {"transaction": "tx_failed"}
        return SubmitOutcome("failed", tx_hash, int(record["ledger"]), codes, name)

    async def submit(
        self, envelope: TransactionEnvelope, tx_hash: str, deadline: float | None = None, resend: bool = True
    ) -> SubmitOutcome:
        """Admit (async), then wait for inclusion (sync, the same bytes, so failover never double-applies).

        `rejected`: core refused it at admission (ERROR), never applied. TryAgainLaterError: refused
        to queue it on every try and the ledger does not hold it: nothing applied (a copy that an
        earlier, unanswered try got applied is found by hash and returned as its outcome).
        StellarUnavailableError: as for any call.
        """
        budget = self.deadline if deadline is None else deadline
        loop = asyncio.get_running_loop()
        end = loop.time() + budget

        def admitted(answer: dict[str, Any], endpoint: str) -> None:
            if answer.get("tx_status") == "TRY_AGAIN_LATER":
                raise TryAgainLaterError(f"{endpoint} answered TRY_AGAIN_LATER for {tx_hash}", tx_hash, endpoint)

        try:
            answer, name = await self.call(
                "submit_transaction_async", lambda s: _submit_async(s, envelope), deadline=budget, submit=True,
                resend=resend, check=admitted,
            )
        except TryAgainLaterError:
            # An earlier try may have reached a server whose answer was lost, and stellar-core bans an
            # applied transaction (TransactionQueue::removeApplied), refusing its bytes as TRY_AGAIN_LATER:
            # only the ledger can say whether nothing was applied.
            applied = await self.lookup(tx_hash)
            if applied is None:
                raise
            return applied
        if answer.get("tx_status") == "ERROR":
            codes = codes_from_result_xdr(str(answer.get("error_result_xdr", "")))
            return SubmitOutcome("rejected", tx_hash, None, codes, name)
        return await self._await_inclusion(envelope, tx_hash, max(0.01, end - loop.time()), resend)

    async def _await_inclusion(
        self, envelope: TransactionEnvelope, tx_hash: str, deadline: float, resend: bool
    ) -> SubmitOutcome:
        """POST /transactions with the admitted bytes: Horizon answers once the hash is in a ledger."""
        try:
            record, name = await self.call(
                "submit_transaction",
                lambda s: s.submit_transaction(envelope, skip_memo_required_check=True),
                timeout=self.submit_timeout,
                deadline=deadline,
                submit=True,
                resend=resend,
            )
        except BadRequestError as error:
            codes = _problem_codes(error)
            if codes.get("transaction") not in ("tx_failed", "tx_fee_bump_inner_failed"):
                return SubmitOutcome("rejected", tx_hash, None, codes, "")
            # a failed result normally means applied (fee and sequence consumed); only a ledger that
            # holds the hash makes it "failed"
            try:
                applied = await self.lookup(tx_hash)
            except StellarUnavailableError:
                return SubmitOutcome("failed", tx_hash, None, codes, "")
            if applied is None:
                return SubmitOutcome("rejected", tx_hash, None, codes, "")
            return SubmitOutcome("failed", tx_hash, applied.ledger, codes, applied.endpoint)
        if record.get("successful", True):
            return SubmitOutcome("success", tx_hash, int(record["ledger"]), {}, name)
        return SubmitOutcome("failed", tx_hash, int(record["ledger"]), {"transaction": "tx_failed"}, name)


async def _submit_async(server: ServerAsync, envelope: TransactionEnvelope) -> dict[str, Any]:
    """POST /transactions_async; core's answer as a dict. TRY_AGAIN_LATER (HTTP 503), DUPLICATE (409)
    and ERROR (400) are answers from a healthy endpoint, not failures: only other errors raise."""
    try:
        answer: dict[str, Any] = await server.submit_transaction_async(envelope, skip_memo_required_check=True)
        return answer
    except (BadRequestError, BadResponseError) as error:
        body = _json_body(error.message)
        if body.get("tx_status") in ("TRY_AGAIN_LATER", "DUPLICATE", "ERROR"):
            return body
        raise


def _json_body(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _to_stroops(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 10_000_000 + int((frac + "0000000")[:7])
