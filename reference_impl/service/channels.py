"""Off-chain payment-channel state updates, validated and verified by the input validator.

The state format and its canonical signed bytes are the validator's (`validate_channel_state`,
`canonical_channel_bytes`): `{channelId, sequence, participants: [G1, G2], balances: {G: stroops},
total, signatures: {G: base64}}`. The first accepted state opens the channel; every later one must
continue it (same participants and total, strictly greater sequence). A lock per channel serialises
concurrent updates, so "latest state" is well defined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from reference_impl.errors import ReferenceImplError, ValidationError
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


class ChannelStore:
    """Latest accepted state per channel (signatures included), bounded in the number of channels."""

    def __init__(self, validator: InputValidator, max_channels: int = 100_000) -> None:
        self._validator = validator
        self._states: dict[str, Mapping[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._max_channels = max_channels

    def latest(self, channel_id: str) -> Mapping[str, Any] | None:
        return self._states.get(channel_id)

    def __len__(self) -> int:
        return len(self._states)

    def check(self, channel_id: str, state: Any) -> Mapping[str, Any]:
        """Structural validation (ValidationError) then both signatures (CryptoVerificationError)."""
        state = self._validator.validate_channel_state(state, field="state")
        if state["channelId"] != channel_id:
            raise ValidationError("state.channelId", "must equal the channel id in the path")
        return self._validator.verify_channel_state_signatures(state, field="state")

    async def apply(self, channel_id: str, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """Store a checked `state` if it continues the latest one; raises ChannelConflictError."""
        lock = self._locks.get(channel_id)
        if lock is None:
            if len(self._locks) >= self._max_channels:
                raise ChannelCapacityError(f"channel store is full ({self._max_channels} channels)")
            lock = self._locks.setdefault(channel_id, asyncio.Lock())
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
