"""stellar-resilience-harness: load, faults and judges for agent-payment systems on Stellar."""

from harness.errors import HarnessConfigurationError, HarnessError, ProcessStartError

__all__ = ["HarnessError", "HarnessConfigurationError", "ProcessStartError"]
