"""`/verify` of the x402 v2 `exact` scheme on Stellar, and the replay cache `/settle` shares with it.

Order (scheme_exact_stellar.md; facilitator/scheme.ts `verify`): protocol -> transaction structure
and facilitator safety -> replay -> authorization entries (structure, expiry window, signatures) ->
re-simulation against the current ledger -> fee bounds -> simulation events. The official
facilitator checks the authorization entries after simulating; checking them first only changes
which reason names a payload that fails both, and spares the RPC a simulation of unsigned or
expired entries. Every refusal is a `Refusal` carrying the official reason code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.facilitator.checks import (
    auth_key,
    check_auth_signatures,
    check_auth_structure,
    check_auth_window,
    check_events,
    max_expiration_ledger,
)
from reference_impl.facilitator.payload import Refusal, Requirements, Transfer, check_protocol, parse_transfer
from reference_impl.facilitator.rpc import RpcPool

DEFAULT_MAX_FEE_STROOPS = 50_000  # DEFAULT_MAX_TRANSACTION_FEE_STROOPS of the official facilitator


class ReplayCache:
    """Payments being settled or settled, keyed by their auth entries' (address, nonce): a second
    settlement of one is `duplicate_settlement` (the SVM facilitator's SettlementCache, applied to
    Stellar's single-use auth nonces). An entry lives as long as its auth entries can be valid; at most
    `capacity` are kept (the oldest dropped first: past this line the ledger's nonce check still refuses
    a replay, in the simulation)."""

    def __init__(self, ttl: float, capacity: int = 100_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[Hashable, float] = OrderedDict()  # key -> expiry (monotonic)

    def _prune(self) -> None:
        now = self._clock.now()
        while self._entries and next(iter(self._entries.values())) <= now:
            self._entries.popitem(last=False)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        self._prune()
        expiry = self._entries.get(key)
        return expiry is not None and expiry > self._clock.now()

    def claim(self, key: Hashable, ttl: float | None = None) -> bool:
        """Record `key` as being settled for `ttl` seconds (default `self.ttl`); False when it already was."""
        if key in self:
            return False
        self._entries[key] = self._clock.now() + (self.ttl if ttl is None else ttl)
        self._entries.move_to_end(key)
        self._prune()
        return True

    def release(self, key: Hashable) -> None:
        """Forget `key`: its settlement sent nothing, so the payment may be presented again."""
        self._entries.pop(key, None)


@dataclass(frozen=True, slots=True)
class Verified:
    """A payment that passed every check (what `/settle` goes on with)."""

    requirements: Requirements
    transfer: Transfer
    latest_ledger: int

    @property
    def payer(self) -> str:
        return self.transfer.payer


class ExactStellarVerifier:
    """Verifies payments for one network; `facilitator` holds every address the facilitator signs with."""

    def __init__(
        self,
        rpc: RpcPool,
        replays: ReplayCache,
        *,
        network: str,
        passphrase: str,
        facilitator: frozenset[str],
        ledger_seconds: float,
        max_fee_stroops: int = DEFAULT_MAX_FEE_STROOPS,
    ) -> None:
        self.rpc = rpc
        self.replays = replays
        self.network = network
        self.passphrase = passphrase
        self.facilitator = facilitator
        self.ledger_seconds = ledger_seconds
        self.max_fee_stroops = max_fee_stroops

    async def verify(self, payload: Any, requirements: Any) -> Verified:
        """Accept the payment or raise `Refusal` (`RpcUnavailableError` when the ledger cannot be read)."""
        req = Requirements.parse(requirements)
        body = check_protocol(payload, req, frozenset({self.network}))
        transfer = parse_transfer(body, req, self.passphrase, self.facilitator)
        if auth_key(transfer) in self.replays:
            raise Refusal("duplicate_settlement", "this payment is already being settled or was settled",
                          transfer.payer)
        check_auth_structure(transfer, self.facilitator)
        latest = (await self.rpc.call(lambda s: s.get_latest_ledger())).sequence
        self.check_window(transfer, latest, max_expiration_ledger(latest, req.max_timeout_seconds,
                                                                  self.ledger_seconds))
        self.check_signatures(transfer)
        await self.simulate(transfer)
        return Verified(req, transfer, latest)

    def check_window(self, transfer: Transfer, latest: int, max_ledger: int) -> None:
        check_auth_window(transfer, latest, max_ledger)

    def check_signatures(self, transfer: Transfer) -> None:
        check_auth_signatures(transfer, self.passphrase)

    async def simulate(self, transfer: Transfer) -> None:
        """Re-simulate against the current ledger; the fee bounds and the events must hold."""
        sim = await self.rpc.call(lambda s: s.simulate_transaction(transfer.envelope, use_upgraded_auth=False))
        if sim.error or sim.restore_preamble is not None or sim.min_resource_fee is None:
            raise Refusal("invalid_exact_stellar_payload_simulation_failed",
                          f"simulation failed: {(sim.error or 'restore needed')[:200]}", transfer.payer)
        if transfer.fee < sim.min_resource_fee:
            raise Refusal("invalid_exact_stellar_payload_fee_below_minimum",
                          f"fee {transfer.fee} below the minimum resource fee {sim.min_resource_fee}", transfer.payer)
        if transfer.fee > self.max_fee_stroops:
            raise Refusal("invalid_exact_stellar_payload_fee_exceeds_maximum",
                          f"fee {transfer.fee} above the facilitator's maximum {self.max_fee_stroops}", transfer.payer)
        check_events(sim.events, transfer)
