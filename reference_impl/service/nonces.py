"""x402 nonces: issued with a per-client quota and a global bound, consumed once, remembered as used.

Bounded state, and no client can evict another's:
- issued nonces expire after `ttl` seconds (expired ones are purged before every change and size
  read); a client holding `per_client` unexpired nonces gets a new one by dropping its *own* oldest;
  when `capacity` unexpired nonces are held, issuing is refused (`NonceCapacityError`, retry after
  the earliest expiry) instead of dropping anyone's;
- used nonces and transaction hashes (the replay guard) are kept for `2 * ttl` after use (longer
  than any payment built for a nonce stays both unexpired and unused), and at most
  `used_capacity` of them (oldest dropped: a dropped entry only turns a late replay's reason from
  `replay` into `unknown_nonce`, it is refused either way).
An expired nonce is gone: a payment carrying it is refused as `unknown_nonce`.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.errors import ConfigurationError, ReferenceImplError


@dataclass(frozen=True, slots=True)
class Nonce:
    value: str  # 64 hex = the 32 bytes of the payment's memo hash
    expires_at: float  # unix seconds
    resource: str
    client: str


class NonceCapacityError(ReferenceImplError):
    """The store holds `capacity` unexpired nonces; `retry_after` seconds until the earliest expires."""

    def __init__(self, capacity: int, retry_after: float) -> None:
        super().__init__(f"payment nonce store is full ({capacity} unexpired nonces)")
        self.retry_after = retry_after


class NonceRejectedError(ReferenceImplError):
    """A nonce cannot be consumed; `reason` is the x402 reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NonceStore:
    """Issued nonces by value and by client, plus the used set; every size bounded (module docstring)."""

    def __init__(self, ttl: float, *, capacity: int = 100_000, per_client: int = 16,
                 used_capacity: int | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        if not ttl > 0 or capacity < 1 or per_client < 1:
            raise ConfigurationError("nonce store needs ttl > 0, capacity >= 1 and per_client >= 1")
        self.ttl, self.capacity, self.per_client = float(ttl), capacity, per_client
        self.used_capacity = used_capacity or 2 * capacity
        self._clock = clock
        self._issued: OrderedDict[str, Nonce] = OrderedDict()  # issue order = expiry order (one ttl)
        self._by_client: dict[str, deque[str]] = {}
        self._used: OrderedDict[str, float] = OrderedDict()  # value -> forget-at (unix), in use order
        self.dropped_own = 0  # nonces a client lost to its own quota

    def issue(self, resource: str, client: str) -> Nonce:
        """A fresh nonce for `client` (its own oldest dropped when at quota); NonceCapacityError when full."""
        now = self._clock.time()
        self._purge(now)
        own = self._by_client.get(client)
        if own is not None and len(own) >= self.per_client:
            self._issued.pop(own.popleft(), None)
            self.dropped_own += 1
        elif len(self._issued) >= self.capacity:
            first = next(iter(self._issued.values()))
            raise NonceCapacityError(self.capacity, max(0.0, first.expires_at - now))
        nonce = Nonce(secrets.token_hex(32), now + self.ttl, resource, client)
        self._issued[nonce.value] = nonce
        self._by_client.setdefault(client, deque()).append(nonce.value)
        return nonce

    def is_used(self, key: str) -> bool:
        return key in self._used

    def take(self, value: str, resource: str) -> None:
        """Consume an issued, unexpired nonce for `resource` or raise NonceRejectedError."""
        now = self._clock.time()
        self._purge(now)
        if value in self._used:
            raise NonceRejectedError("invalid_exact_stellar_payload_replay", "nonce was already used")
        nonce = self._issued.get(value)
        if nonce is None or nonce.resource != resource:
            raise NonceRejectedError(
                "invalid_exact_stellar_payload_unknown_nonce", "memo does not carry a nonce issued for this resource"
            )
        self._forget(nonce)
        self.mark_used(value)

    def mark_used(self, key: str) -> None:
        """Remember `key` (a nonce or a transaction hash) as used for `2 * ttl`."""
        now = self._clock.time()
        self._used.pop(key, None)
        self._used[key] = now + 2 * self.ttl
        while len(self._used) > self.used_capacity:
            self._used.popitem(last=False)

    def sizes(self) -> dict[str, int]:
        """Unexpired issued nonces, remembered used entries, and clients holding nonces."""
        self._purge(self._clock.time())
        return {"issued": len(self._issued), "used": len(self._used), "clients": len(self._by_client)}

    def _purge(self, now: float) -> None:
        while self._issued:
            nonce = next(iter(self._issued.values()))
            if nonce.expires_at > now:
                break
            self._forget(nonce)
        while self._used:
            key, forget_at = next(iter(self._used.items()))
            if forget_at > now:
                break
            del self._used[key]

    def _forget(self, nonce: Nonce) -> None:
        del self._issued[nonce.value]
        own = self._by_client[nonce.client]
        own.remove(nonce.value)
        if not own:
            del self._by_client[nonce.client]
