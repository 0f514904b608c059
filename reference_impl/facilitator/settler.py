"""`/settle`: verify again, rebuild with a facilitator account as source and fee payer, submit through
Soroban RPC, wait for the ledger's answer (scheme_exact_stellar.md "Settlement Logic";
facilitator/scheme.ts `settle`).

The facilitator signs with a pool of channel accounts (the official scheme's round-robin signers):
stellar-core queues one transaction per source account, so each account has one settlement in
flight (`SequencePool`). The rebuilt transaction keeps the client's operation, auth entries and
Soroban data; its fee is min(client fee, maximum) per operation plus the resource fee, as the
official builder computes it; its time bound is `tx_timeout` seconds (at most maxTimeoutSeconds),
so the outcome is known soon: applied (SUCCESS / FAILED), or not found once a ledger closed after
the bound. A submission whose answer was lost is resolved by its hash, resending the same bytes,
never by building another transaction; if nothing can tell within the bound plus `grace`, the
answer is `settle_exact_stellar_outcome_unknown` with the hash, the account stays quarantined and a
background task resolves it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from stellar_sdk import Account, TransactionBuilder, TransactionEnvelope
from stellar_sdk.exceptions import AccountNotFoundException
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.facilitator.checks import auth_key
from reference_impl.facilitator.payload import Refusal
from reference_impl.facilitator.rpc import RpcPool, RpcUnavailableError
from reference_impl.facilitator.verifier import ExactStellarVerifier, Verified
from reference_impl.service.result_codes import codes_from_result_xdr
from reference_impl.service.sequence_pool import PoolAccount, PoolExhaustedError, SequencePool

MAX_REBUILDS = 2  # after tx_bad_seq the account's sequence is reloaded and the transaction rebuilt


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settle answer: `status` success | refused | failed | unknown | unavailable (nothing sent)."""

    status: str
    reason: str = ""
    transaction: str = ""
    payer: str = ""
    message: str = ""


@dataclass(slots=True)
class _Submission:
    envelope: TransactionEnvelope
    tx_hash: str
    max_time: int
    account: PoolAccount
    sequence: int


class Settler:
    """Settles verified payments from a pool of facilitator accounts."""

    def __init__(self, verifier: ExactStellarVerifier, signers: SequencePool, *, tx_timeout: float,
                 grace: float, poll_interval: float = 0.25, lease_timeout: float = 5.0,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.verifier = verifier
        self.rpc: RpcPool = verifier.rpc
        self.signers = signers
        self.tx_timeout = tx_timeout
        self.grace = grace
        self.poll_interval = poll_interval
        self.lease_timeout = lease_timeout
        self.clock = clock
        self._keypairs = {a.account_id: a.keypair for a in signers.accounts}
        self._background: set[asyncio.Task[None]] = set()

    async def settle(self, payload: Any, requirements: Any) -> Settlement:
        """Never raises for a payment problem; `RpcUnavailableError` only before anything was sent."""
        try:
            verified = await self.verifier.verify(payload, requirements)
        except Refusal as refusal:
            return Settlement("refused", refusal.reason, payer=refusal.payer, message=str(refusal))
        key = auth_key(verified.transfer)
        if not self.verifier.replays.claim(key, self._replay_ttl(verified)):
            return Settlement("refused", "duplicate_settlement", payer=verified.payer,
                              message="this payment is already being settled or was settled")
        try:
            outcome = await self._settle(verified)
        except BaseException:
            self.verifier.replays.release(key)
            raise
        if outcome.status == "unavailable" or (outcome.status == "failed" and not outcome.transaction):
            self.verifier.replays.release(key)  # nothing was applied: the payment may come again
        return outcome

    def _replay_ttl(self, verified: Verified) -> float:
        """How long the payment's auth entries can be valid, plus a margin."""
        last = max(e.credentials.address.signature_expiration_ledger.uint32 for e in verified.transfer.auth
                   if e.credentials.address is not None)
        return (last - verified.latest_ledger + 2) * self.verifier.ledger_seconds + 60.0

    async def _settle(self, verified: Verified) -> Settlement:
        payer = verified.payer
        try:
            async with self.signers.lease(self.lease_timeout) as account:
                for _ in range(MAX_REBUILDS + 1):
                    sub = await self._build(verified, account)
                    outcome = await self._submit(sub, payer)
                    if outcome is not None:
                        return outcome
                return Settlement("failed", "settle_exact_stellar_transaction_submission_failed", payer=payer,
                                  message="the network kept refusing the facilitator's sequence number")
        except PoolExhaustedError:
            return Settlement("unavailable", "settle_exact_stellar_signer_selection_failed", payer=payer,
                              message="no facilitator account free")
        except RpcUnavailableError as error:
            return Settlement("unavailable", "unexpected_settle_error", payer=payer, message=str(error))

    async def _build(self, verified: Verified, account: PoolAccount) -> _Submission:
        async def load(account_id: str) -> int | None:
            try:
                return (await self.rpc.call(lambda s: s.load_account(account_id))).sequence
            except AccountNotFoundException:
                return None

        sequence = await SequencePool.allocate(account, load)
        transfer = verified.transfer
        timeout = int(min(self.tx_timeout, verified.requirements.max_timeout_seconds))
        builder = TransactionBuilder(Account(account.account_id, sequence - 1), self.verifier.passphrase,
                                     base_fee=min(transfer.fee, self.verifier.max_fee_stroops))
        builder.append_operation(transfer.operation).set_timeout(timeout)
        if transfer.soroban_data is not None:
            builder.set_soroban_data(transfer.soroban_data)
        envelope = builder.build()
        envelope.sign(self._keypairs[account.account_id])
        bounds = envelope.transaction.preconditions
        assert bounds is not None and bounds.time_bounds is not None  # set_timeout set them
        max_time = bounds.time_bounds.max_time
        return _Submission(envelope, envelope.hash_hex(), max_time, account, sequence)

    async def _submit(self, sub: _Submission, payer: str) -> Settlement | None:
        """Send and wait; None asks for a rebuild (tx_bad_seq)."""
        try:
            sent = await self.rpc.call(lambda s: s.send_transaction(sub.envelope), resend=False)
        except RpcUnavailableError as error:
            if not error.maybe_sent:
                SequencePool.not_applied(sub.account, sub.sequence)
                raise
            return await self._await(sub, payer, resend=True)
        if sent.status == SendTransactionStatus.ERROR:
            codes = codes_from_result_xdr(sent.error_result_xdr) if sent.error_result_xdr else {}
            bad_seq = codes.get("transaction") == "tx_bad_seq"
            SequencePool.not_applied(sub.account, sub.sequence, bad_seq=bad_seq)
            if bad_seq:
                return None
            return Settlement("failed", "settle_exact_stellar_transaction_submission_failed", payer=payer,
                              message=f"refused: {codes.get('transaction', 'error')}")
        return await self._await(sub, payer, resend=sent.status == SendTransactionStatus.TRY_AGAIN_LATER)

    async def _await(self, sub: _Submission, payer: str, resend: bool) -> Settlement:
        """Poll until the ledger knows (resending the same bytes while they may not be queued)."""
        deadline = self.clock.now() + (sub.max_time - self.clock.time()) + self.grace
        outcome = await self._poll(sub, payer, resend, deadline)
        if outcome is not None:
            return outcome
        SequencePool.quarantine(sub.account, sub.tx_hash)
        task = asyncio.get_running_loop().create_task(self._resolve(sub, payer))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return Settlement("unknown", "settle_exact_stellar_outcome_unknown", sub.tx_hash, payer,
                          "the ledger did not confirm the settlement in time")

    async def _poll(self, sub: _Submission, payer: str, resend: bool, deadline: float) -> Settlement | None:
        while self.clock.now() < deadline:
            try:
                found = await self.rpc.call(lambda s: s.get_transaction(sub.tx_hash))
                if found.status == GetTransactionStatus.SUCCESS:
                    return Settlement("success", transaction=sub.tx_hash, payer=payer)
                if found.status == GetTransactionStatus.FAILED:
                    return Settlement("failed", "settle_exact_stellar_transaction_failed", sub.tx_hash, payer,
                                      "the ledger applied the transaction and it failed")
                if found.latest_ledger_close_time > sub.max_time:
                    SequencePool.not_applied(sub.account, sub.sequence)
                    return Settlement("failed", "settle_exact_stellar_transaction_failed", "", payer,
                                      "the transaction expired before any ledger included it")
                if resend:
                    sent = await self.rpc.call(lambda s: s.send_transaction(sub.envelope), resend=False)
                    resend = sent.status in (SendTransactionStatus.TRY_AGAIN_LATER, SendTransactionStatus.ERROR)
            except RpcUnavailableError:
                pass
            await self.clock.sleep_async(self.poll_interval)
        return None

    async def _resolve(self, sub: _Submission, payer: str) -> None:
        """Background: keep asking until the outcome is known, then free the account."""
        for _ in range(10_000):
            outcome = await self._poll(sub, payer, True, self.clock.now() + 60.0)
            if outcome is not None:
                applied = bool(outcome.transaction)
                await self.signers.resolved(sub.account.account_id, sub.tx_hash, sub.sequence, applied)
                return

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
