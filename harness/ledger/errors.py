"""Errors raised by the offline Stellar network's Python API (HTTP clients see Horizon problems)."""

from __future__ import annotations

from harness.errors import HarnessConfigurationError, HarnessError


class LedgerError(HarnessError):
    """Root of every error raised by `harness.ledger`."""


class LedgerConfigError(LedgerError, HarnessConfigurationError):
    """A ledger option, seed-accounts file or snapshot is invalid; nothing was changed."""


class MalformedEnvelopeError(LedgerError, ValueError):
    """A submitted envelope is not valid base64 transaction XDR (Horizon: transaction_malformed)."""
