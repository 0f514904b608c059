"""Off-chain payment-channel state updates, validated and verified by the input validator.

The state format and its canonical signed bytes are the validator's (`validate_channel_state`,
`canonical_channel_bytes`): `{channelId, sequence, participants: [G1, G2], balances: {G: stroops},
total, signatures: {G: base64}}`. The first accepted state opens the channel; every later one must
continue it (same participants and total, strictly greater sequence). A lock per channel serialises
concurrent updates, so "latest state" is well defined.

Bounded state: at most `max_channels` channels (the configured `payment.channels.maxOpenChannels`;
beyond it a new channel is refused with ChannelCapacityError, nobody's channel is dropped), and at
most `per_client` channels opened by one client (ChannelQuotaError), so one client cannot fill the
store for everyone. Channels are never evicted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from reference_impl.errors import ConfigurationError, ReferenceImplError, ValidationError
from reference_impl.input_validator import InputValidator

# Which field of a failed continuation check maps to which stable error code.
CONFLICT_CODES = {"channelId": "party_mismatch", "total": "total_not_conserved", "sequence": "stale_sequence"}


class ChannelConflictError(ReferenceImplError):
    """A valid, signed state that does not continue the channel's latest state (HTTP 409)."""

    def __init__(self, code: str, message: str, latest_sequence: int) -> None:
        super().__init__(message)
        self.code = code
        self.latest_sequence = latest_sequence


class ChannelCapacityError(ReferenceImplError):
    """The store holds its maximum number of channels; a new one cannot be opened."""


class ChannelQuotaError(ReferenceImplError):
    """The client already opened its maximum number of channels."""


class ChannelStore:
    """Latest accepted state per channel (signatures included); bounded overall and per client."""

    def __init__(self, validator: InputValidator, max_channels: int = 100, per_client: int = 32) -> None:
        if max_channels < 1 or per_client < 1:
            raise ConfigurationError("channel store needs max_channels >= 1 and per_client >= 1")
        self._validator = validator
        self._states: dict[str, Mapping[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._opened_by: dict[str, int] = {}  # client -> channels it opened (<= one entry per channel)
        self.max_channels = max_channels
        self.per_client = per_client

    def latest(self, channel_id: str) -> Mapping[str, Any] | None:
        return self._states.get(channel_id)

    def __len__(self) -> int:
        return len(self._locks)

    def check(self, channel_id: str, state: Any) -> Mapping[str, Any]:
        """Structural validation (ValidationError) then both signatures (CryptoVerificationError)."""
        state = self._validator.validate_channel_state(state, field="state")
        if state["channelId"] != channel_id:
            raise ValidationError("state.channelId", "must equal the channel id in the path")
        return self._validator.verify_channel_state_signatures(state, field="state")

    async def apply(self, channel_id: str, state: Mapping[str, Any], client: str = "") -> Mapping[str, Any]:
        """Store a checked `state` if it continues the latest one (ChannelConflictError otherwise);
        a new channel counts against `client`'s quota (ChannelQuotaError) and the store's bound."""
        lock = self._locks.get(channel_id)
        if lock is None:
            if len(self._locks) >= self.max_channels:
                raise ChannelCapacityError(f"channel store is full ({self.max_channels} channels)")
            opened = self._opened_by.get(client, 0)
            if opened >= self.per_client:
                raise ChannelQuotaError(f"a client may open at most {self.per_client} channels")
            self._opened_by[client] = opened + 1
            lock = self._locks[channel_id] = asyncio.Lock()
        async with lock:
            latest = self._states.get(channel_id)
            if latest is not None:
                try:
                    self._validator.validate_channel_state(state, previous=latest, field="state")
                except ValidationError as error:
                    code = CONFLICT_CODES.get(error.field.rsplit(".", 1)[-1])
                    if code is None:
                        raise
                    raise ChannelConflictError(code, error.reason, int(latest["sequence"])) from None
            self._states[channel_id] = state
            return state
