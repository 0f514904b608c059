"""Reference implementations of the seven hardening components.

Every component class, its config class and its errors are importable from here; the modules
behind them are one per component (see README, "Components").
"""

from reference_impl.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerListener,
    CircuitBreakerManager,
    CircuitBreakerStats,
    CircuitState,
)
from reference_impl.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from reference_impl.config_manager import AppConfig, ConfigManager
from reference_impl.error_logger import (
    ErrorLogger,
    ErrorLoggerConfig,
    ErrorRecord,
    ErrorSeverity,
    UnknownRecordError,
)
from reference_impl.errors import (
    AllFailedError,
    ApiUsageError,
    CircuitOpenError,
    ConfigError,
    ConfigurationError,
    CryptoVerificationError,
    ReferenceImplError,
    RetryExhaustedError,
    ValidationError,
)
from reference_impl.histogram import InvalidSampleError, LogHistogram
from reference_impl.input_validator import (
    InputValidator,
    PaymentProof,
    canonical_channel_bytes,
    sanitize_string,
    sign_channel_state,
    validate_amount,
    validate_channel_state,
    validate_did,
    validate_did_document,
    validate_escrow_params,
    validate_loan_terms,
    validate_payment_proof,
    validate_required_fields,
    validate_stellar_address,
    validate_transaction,
    validate_verifiable_credential,
    verify_channel_state_signatures,
    verify_transaction_signature,
    verify_validity_window,
)
from reference_impl.metrics_collector import (
    Alert,
    MetricsCollector,
    MetricStats,
    PerformanceSummary,
    Timer,
    timed,
)
from reference_impl.rate_limit_middleware import RateLimitMiddleware
from reference_impl.rate_limiter import (
    PRESETS,
    RateLimiter,
    RateLimiterConfig,
    RateLimiterManager,
    RateLimitResult,
)
from reference_impl.request_keys import IssuedKeys, api_key_hash
from reference_impl.retry_handler import (
    ErrorCode,
    RetryConfig,
    RetryHandler,
    RetryResult,
    is_transient_error,
    retry,
)

__all__ = [
    "SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock",
    "AllFailedError", "ApiUsageError", "CircuitOpenError", "ConfigError", "ConfigurationError", "CryptoVerificationError",
    "ReferenceImplError", "RetryExhaustedError", "ValidationError", "UnknownRecordError", "InvalidSampleError",
    "ErrorCode", "RetryConfig", "RetryHandler", "RetryResult", "is_transient_error", "retry",
    "CircuitBreaker", "CircuitBreakerConfig", "CircuitBreakerListener", "CircuitBreakerManager",
    "CircuitBreakerStats", "CircuitState",
    "ErrorLogger", "ErrorLoggerConfig", "ErrorRecord", "ErrorSeverity",
    "InputValidator", "PaymentProof", "canonical_channel_bytes", "sanitize_string", "sign_channel_state",
    "validate_amount", "validate_channel_state", "validate_did", "validate_did_document",
    "validate_escrow_params", "validate_loan_terms", "validate_payment_proof", "validate_required_fields",
    "validate_stellar_address", "validate_transaction", "validate_verifiable_credential",
    "verify_channel_state_signatures", "verify_transaction_signature", "verify_validity_window",
    "PRESETS", "RateLimiter", "RateLimiterConfig", "RateLimiterManager", "RateLimitResult",
    "RateLimitMiddleware", "IssuedKeys", "api_key_hash",
    "AppConfig", "ConfigManager",
    "Alert", "MetricsCollector", "MetricStats", "PerformanceSummary", "Timer", "timed", "LogHistogram",
]
