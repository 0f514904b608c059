"""`LedgerServer`: the Horizon-compatible HTTP face of a `Ledger` (aiohttp, one or more listeners).

Every listener serves the same ledger; the access log tags each request with its listener index
(0 = reached through proxy horizon-primary, 1 = through horizon-secondary). Every listener also serves
Soroban RPC (JSON-RPC 2.0) at /soroban/rpc (harness.ledger.soroban.rpc), so the proxies carry it too.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from harness.ledger import resources as R
from harness.ledger.admin import AdminRoutes
from harness.ledger.config import LedgerConfig
from harness.ledger.errors import LedgerError, MalformedEnvelopeError
from harness.ledger.history_index import HistoryIndex
from harness.ledger.history_resources import transaction_body
from harness.ledger.history_routes import HistoryRoutes
from harness.ledger.ledger import InvalidAddressError, Ledger, Outcome
from harness.ledger.paging import ProblemError
from harness.ledger.records import AppliedTx, Dropped, SubmitResult, SubmitStatus
from harness.ledger.responses import (
    bad_field,
    base_url,
    error_response,
    json_response,
    problem_response,
    require_document,
)
from harness.ledger.soroban.rpc import SorobanRpc
from harness.ledger.soroban.rpc_methods import SorobanMethods
from harness.ledger.state_routes import StateRoutes
from harness.ledger.streaming import StreamHub, StreamLimits
from reference_impl.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServerStartError(LedgerError):
    """The ledger server could not start (port in use, start timed out, ...)."""


class LedgerServer:
    """HTTP server over a `Ledger`: `await start()` / `await stop()`, or `with run_in_thread() as urls`."""

    def __init__(self, config: LedgerConfig | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 ledger: Ledger | None = None, streams: StreamLimits | None = None) -> None:
        self.config = ledger.config if ledger else (config or LedgerConfig())
        self.clock = clock
        self.ledger = ledger or Ledger(self.config, clock)
        self.index = HistoryIndex(self.ledger)
        self._stream_limits = streams
        self.streams = StreamHub(self.index.latest_ledger, streams)
        self.urls: list[str] = []
        self._port_index: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, list[asyncio.Future[Outcome]]] = {}

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> list[str]:
        """Bind every listener (port 0 = free port), start the close loop; returns the base URLs."""
        if self._runner is not None:
            raise ServerStartError("server already started")
        self._loop = asyncio.get_running_loop()
        self.streams = StreamHub(self.index.latest_ledger, self._stream_limits)  # a stopped hub stays closed
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        self._routes(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        sockets: list[socket.socket] = []
        try:
            for port in self.config.ports:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.config.host, port))
                sock.listen(1024)
                sock.setblocking(False)
        except OSError as exc:
            for sock in sockets:
                sock.close()
            await runner.cleanup()
            raise ServerStartError(f"cannot bind {self.config.host}: {exc.strerror}") from None
        self._runner = runner
        for index, sock in enumerate(sockets):
            port = sock.getsockname()[1]
            self._port_index[port] = index
            await web.SockSite(runner, sock).start()
            self.urls.append(f"http://{self.config.host}:{port}")
        self.ledger.add_listener(self._on_outcome)
        if self.config.auto_close:
            self._close_task = asyncio.create_task(self._close_loop())
        return list(self.urls)

    async def stop(self) -> None:
        """Stop closing ledgers, end streams with goodbye, fail pending waiters, close every listener."""
        self.ledger.remove_listener(self._on_outcome)
        if self._close_task is not None:
            self._close_task.cancel()
            try:
                await self._close_task
            except asyncio.CancelledError:
                pass
            self._close_task = None
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()
        await self.streams.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _close_loop(self) -> None:
        while True:  # ends when stop() cancels the task
            await self.clock.sleep_async(self.config.close_interval)
            try:
                self.ledger.close_ledger()
                self._after_close()
            except Exception:  # keep closing: a stalled network would turn one bug into timeouts everywhere
                log.exception("ledger close failed")

    def _after_close(self) -> None:
        """Index the new ledger now (so no read ever catches up on a long backlog) and wake the streams."""
        self.index.sync()
        self.streams.notify()

    @contextmanager
    def run_in_thread(self, start_timeout: float = 10.0) -> Iterator[list[str]]:
        """Serve from a background thread with its own event loop; yields the base URLs, stops on exit."""
        ready = threading.Event()
        failure: list[BaseException] = []
        holder: dict[str, Any] = {}

        async def main() -> None:
            stop_event = asyncio.Event()
            holder["stop"] = stop_event
            holder["loop"] = asyncio.get_running_loop()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await stop_event.wait()
            finally:
                await self.stop()

        thread = threading.Thread(target=asyncio.run, args=(main(),), name="ledger-server", daemon=True)
        thread.start()
        if not ready.wait(start_timeout):
            raise ServerStartError("ledger server did not start in time")
        if failure:
            thread.join(start_timeout)
            raise failure[0]
        try:
            yield list(self.urls)
        finally:
            holder["loop"].call_soon_threadsafe(holder["stop"].set)
            thread.join(start_timeout)

    # ----------------------------------------------------------------- plumbing
    def _on_outcome(self, tx_hash: str, outcome: Outcome) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._resolve, tx_hash, outcome)
            except RuntimeError:  # the loop closed between the check and the call: nobody waits any more
                pass

    def _resolve(self, tx_hash: str, outcome: Outcome) -> None:
        if isinstance(outcome, Dropped):
            return  # txsub finishes a waiter only when the hash is ingested: a dropped tx times out
        for fut in self._waiters.pop(tx_hash, []):
            if not fut.done():
                fut.set_result(outcome)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = self.ledger.clock.time()  # the access log stamps arrival, not completion
        try:
            response = await handler(request)
        except ProblemError as exc:
            response = error_response(exc)
        except web.HTTPNotFound:
            response = problem_response("not_found")
        except web.HTTPMethodNotAllowed:
            response = problem_response("method_not_allowed")
        except web.HTTPException as exc:  # e.g. 413 from a body over client_max_size
            _, body = R.problem("bad_request", detail=exc.reason)
            body["status"] = exc.status
            response = json_response(exc.status, body, R.PROBLEM_CONTENT_TYPE)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ledger request %s %s failed", request.method, request.path)
            response = problem_response("server_error")
        self.ledger.log_access(self._listener(request), request.method, request.path, response.status, at=arrived)
        return response

    def _listener(self, request: web.Request) -> int:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return self._port_index.get(sockname[1], -1) if sockname else -1

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._root)
        app.router.add_get("/health", self._health)
        app.router.add_get("/fee_stats", self._fee_stats)
        app.router.add_post("/transactions", self._submit_sync)
        app.router.add_post("/transactions_async", self._submit_async)
        app.router.add_route("*", "/friendbot", self._friendbot)
        StateRoutes(self.ledger, self.index.latest_ledger, self.streams).register(app)
        HistoryRoutes(self.ledger, self.index, self.streams).register(app)
        AdminRoutes(self.ledger, self.index, self._after_close).register(app)
        SorobanRpc(SorobanMethods(self.ledger, self.index, self.ledger.clock)).register(app)

    # ----------------------------------------------------------------- reads
    async def _root(self, request: web.Request) -> web.Response:
        require_document(request)
        return json_response(200, R.root_body(self.ledger.latest(), self.ledger.passphrase, base_url(request)))

    async def _health(self, request: web.Request) -> web.Response:
        return json_response(200, {"database_connected": True, "core_up": True, "core_synced": True}, "application/json")

    async def _fee_stats(self, request: web.Request) -> web.Response:
        require_document(request)
        return json_response(200, R.fee_stats_body(self.ledger.latest()))

    # ----------------------------------------------------------------- submission
    async def _form_tx(self, request: web.Request) -> str | web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return problem_response("unsupported_media_type")
        form = await request.post()
        tx = form.get("tx")
        if not isinstance(tx, str) or not tx.strip():
            return bad_field("tx", "tx is required: a base64 TransactionEnvelope")
        return tx

    async def _submit_sync(self, request: web.Request) -> web.Response:
        tx = await self._form_tx(request)
        if isinstance(tx, web.Response):
            return tx
        return await self._submit_and_wait(tx, "sync", request)

    async def _submit_and_wait(self, tx: str, endpoint: str, request: web.Request) -> web.Response:
        """Horizon's synchronous txsub (internal/txsub/system.go `Submit`, actions/submit_transaction.go):
        a stored outcome at once; core's ERROR as 400 at once; PENDING, DUPLICATE and TRY_AGAIN_LATER
        all wait until the hash is in a ledger or `submit_timeout` passes (504)."""
        listener, base = self._listener(request), base_url(request)
        try:
            result = self.ledger.submit(tx, endpoint=endpoint, listener=listener)
        except MalformedEnvelopeError:
            return problem_response("transaction_malformed", {"envelope_xdr": tx})
        return await self._answer_sync(result, tx, listener, base)

    async def _answer_sync(self, result: SubmitResult, tx: str, listener: int, base: str) -> web.Response:
        if result.status is SubmitStatus.KNOWN:
            assert result.applied is not None
            return self._outcome_response(result.applied, tx, result.hash, base)
        if result.status is SubmitStatus.ERROR:
            assert result.rejection is not None
            return json_response(*R.transaction_failed(tx, result.rejection, tx_hash=result.hash),
                                 R.PROBLEM_CONTENT_TYPE)
        outcome = await self.wait_for(result.hash)
        if outcome is None:
            self.ledger.record_timeout(result.hash, listener)
            return problem_response("transaction_submission_timeout", {"hash": result.hash, "envelope_xdr": tx})
        return self._outcome_response(outcome, tx, result.hash, base)

    async def wait_for(self, tx_hash: str, timeout: float | None = None) -> AppliedTx | None:
        """The applied transaction once `tx_hash` is in a ledger, or None after `timeout` (default:
        `submit_timeout`)."""
        assert self._loop is not None
        fut: asyncio.Future[Outcome] = self._loop.create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        done = self.ledger.transaction(tx_hash)
        if done is not None:
            self._resolve(tx_hash, done)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(fut), timeout or self.config.submit_timeout)
        except TimeoutError:
            waiters = self._waiters.get(tx_hash, [])
            if fut in waiters:
                waiters.remove(fut)
            return None
        assert isinstance(outcome, AppliedTx)
        return outcome

    def _outcome_response(self, outcome: AppliedTx, envelope: str, tx_hash: str, base: str) -> web.Response:
        if outcome.successful:
            return json_response(200, transaction_body(outcome, self.index.view(outcome), base, tx_hash))
        return json_response(*R.transaction_failed(envelope, outcome.result, outcome.result_xdr, tx_hash),
                             R.PROBLEM_CONTENT_TYPE)

    async def _submit_async(self, request: web.Request) -> web.Response:
        tx = await self._form_tx(request)
        if isinstance(tx, web.Response):
            return tx
        try:
            result = self.ledger.submit(tx, endpoint="async", listener=self._listener(request))
        except MalformedEnvelopeError:
            return problem_response("transaction_malformed", {"envelope_xdr": tx})
        body: dict[str, Any] = {"tx_status": result.status.value, "hash": result.hash}  # never KNOWN: core only
        if result.rejection is not None:
            body["error_result_xdr"] = result.rejection.to_xdr()
        status = {"PENDING": 201, "DUPLICATE": 409, "ERROR": 400, "TRY_AGAIN_LATER": 503}[body["tx_status"]]
        return json_response(status, body, "application/json")

    async def _friendbot(self, request: web.Request) -> web.Response:
        """Friendbot pays from the root account, one transaction at a time: while the root has one
        queued (TRY_AGAIN_LATER) it waits for the next close and builds again, within submit_timeout."""
        addr = request.query.get("addr", "")
        listener, base = self._listener(request), base_url(request)
        deadline = self.ledger.clock.now() + self.config.submit_timeout
        while True:
            try:
                envelope = self.ledger.friendbot_envelope(addr)
            except InvalidAddressError:
                return bad_field("addr", "addr must be a valid G... account id")
            result = self.ledger.submit(envelope, endpoint="friendbot", listener=listener)
            busy = self.ledger.queued_for(self.ledger.root.public_key)
            left = deadline - self.ledger.clock.now()
            if result.status is not SubmitStatus.TRY_AGAIN_LATER or busy is None or left <= 0:
                return await self._answer_sync(result, envelope, listener, base)
            await self.wait_for(busy, left)
