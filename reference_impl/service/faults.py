"""Deliberate faults of the service (`--fault-in-service NAME`): testing the judges only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.errors import ConfigurationError
from reference_impl.request_keys import api_key_hash, default_key, header

FAULTS: dict[str, str] = {
    "breaker-never-opens": "Horizon breakers never trip",
    "limiter-admits-double": "each client key gets twice its rate limit",
    "validator-passes-bad-input": "validation is skipped; bad input reaches code that raises (5xx)",
    "logger-drops-tx-failures": "transaction-failure records are not logged",
    "alert-threshold-x10": "metric alert thresholds are multiplied by 10",
    "no-failover": "only the primary Horizon is used",
    "retry-without-idempotency": "a retry after an unknown outcome builds a fresh tx (double pay)",
    "limiter-trusts-any-key": "any X-API-Key is a client of its own: rotating keys escape limits and quotas",
}


@dataclass(frozen=True, slots=True)
class Faults:
    """The active deliberate fault, if any; `Faults.parse(None)` is the healthy service."""

    name: str | None = None

    @classmethod
    def parse(cls, name: str | None) -> Faults:
        if name in (None, "", "none"):
            return cls(None)
        if name not in FAULTS:
            raise ConfigurationError(f"unknown fault {name!r}; valid: {', '.join(sorted(FAULTS))}")
        return cls(name)

    def __contains__(self, name: object) -> bool:
        if name not in FAULTS:
            raise ConfigurationError(f"unknown fault {name!r}")
        return self.name == name


def trust_any_key(scope: Mapping[str, Any]) -> str:
    """Fault `limiter-trusts-any-key`: the client-chosen X-API-Key is the identity, issued or not."""
    api_key = header(scope, "x-api-key")
    return "key:" + api_key_hash(api_key)[:24] if api_key else default_key(scope)
