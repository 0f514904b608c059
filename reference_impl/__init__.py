"""Reference implementations of the seven hardening components (assembled exports below)."""

from reference_impl.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from reference_impl.errors import (
    AllFailedError,
    CircuitOpenError,
    ConfigError,
    ConfigurationError,
    CryptoVerificationError,
    ReferenceImplError,
    RetryExhaustedError,
    ValidationError,
)

__all__ = [
    "SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock",
    "AllFailedError", "CircuitOpenError", "ConfigError", "ConfigurationError",
    "CryptoVerificationError", "ReferenceImplError", "RetryExhaustedError", "ValidationError",
]
