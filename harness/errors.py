"""The harness's error hierarchy: one root so callers can catch everything the harness raises."""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error raised by `harness`."""


class HarnessConfigurationError(HarnessError, ValueError):
    """A profile, schedule or command-line option is invalid."""


class ProcessStartError(HarnessError):
    """A process or server the harness started did not become ready."""
