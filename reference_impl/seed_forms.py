"""The seed's forms shared by the components: configs from seed-shaped mappings, and call checks.

`RetryHandler({"maxRetries": 5})` and `CircuitBreaker("api", {"failureThreshold": 5, "timeout": 60000})`
build the component's config dataclass from such a mapping. Each config lists its keys in a
`SeedKeys`: durations may be spelled as the seed shows them (`timeout`, `baseDelay`) or as the
config files do (`timeoutMs`, `baseDelayMs`), both in milliseconds; the dataclass keeps seconds.
An unknown key is refused naming the closest valid one, so a typo never falls back to a default.
`require_callable` refuses what `execute(fn)` cannot run (an awaitable instead of a function), and
`is_awaitable` is `inspect.isawaitable` cheap enough for the hot paths that ask it on every call.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reference_impl.errors import ApiUsageError, ConfigurationError

C = TypeVar("C")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to `word` (difflib, case-insensitive), or None when nothing is close."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_key_message(key: str, candidates: Iterable[str], where: str) -> str:
    """`<where>: unknown key 'x'; did you mean 'y'?` (or the list of valid keys when nothing is close)."""
    valid = sorted(candidates)
    hint = closest(key, valid)
    tail = f"did you mean {hint!r}?" if hint else f"valid keys: {', '.join(valid)}"
    return f"{where}: unknown key {key!r}; {tail}"


@dataclass(frozen=True)
class SeedKeys:
    """How a seed-shaped mapping maps onto one config dataclass (`owner` names it in errors)."""

    owner: str
    example: str
    plain: Mapping[str, str]
    durations_ms: Mapping[str, str] = field(default_factory=dict)
    converters: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def keys_of(self, field_name: str) -> list[str]:
        return [k for k, f in {**self.plain, **self.durations_ms}.items() if f == field_name]


def _milliseconds(value: Any, key: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{owner} config {key!r}: a duration in milliseconds, got {value!r}")
    return value / 1000


def config_from_mapping(cls: type[C], mapping: Mapping[str, Any], keys: SeedKeys) -> C:
    """Build `cls` from a seed-shaped mapping; `ConfigurationError` names the offending key."""
    kwargs: dict[str, Any] = {}
    source: dict[str, str] = {}
    valid = [*keys.plain, *keys.durations_ms]
    for key, value in mapping.items():
        if not isinstance(key, str) or key not in valid:
            raise ConfigurationError(unknown_key_message(str(key), valid, f"{keys.owner} config"))
        if key in keys.durations_ms:
            name, converted = keys.durations_ms[key], _milliseconds(value, key, keys.owner)
        else:
            name = keys.plain[key]
            converted = keys.converters[key](value) if key in keys.converters else value
        if name in source:
            raise ConfigurationError(
                f"{keys.owner} config: {source[name]!r} and {key!r} set the same option; give one"
            )
        source[name], kwargs[name] = key, converted
    missing = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in kwargs
    ]
    if missing:
        needed = " and ".join(repr(keys.keys_of(name)[0]) for name in missing)
        raise ConfigurationError(f"{keys.owner} config needs {needed}, e.g. {keys.example}")
    try:
        return cls(**kwargs)
    except ConfigurationError as error:
        culprit = next((n for n in source if str(error).startswith(n)), None)
        if culprit is None:
            raise
        raise ConfigurationError(f"{keys.owner} config {source[culprit]!r}: {error}") from None


def coerce_config(value: Any, cls: type[C], keys: SeedKeys) -> C:
    """`value` itself when it is a `cls`, else `cls` built from a seed-shaped mapping."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return config_from_mapping(cls, value, keys)
    raise ApiUsageError(
        f"{keys.owner} takes a {cls.__name__} or a mapping in the seed's shape such as "
        f"{keys.example}, got {type(value).__name__}"
    )


_AWAITABLE_BY_TYPE: dict[type, bool] = {}
_TYPE_CACHE_LIMIT = 4096


def is_awaitable(value: Any) -> bool:
    """`inspect.isawaitable(value)`, cached per type (a generator's answer is per object, so not cached)."""
    kind = type(value)
    known = _AWAITABLE_BY_TYPE.get(kind)
    if known is None:
        known = inspect.isawaitable(value)
        if kind is not types.GeneratorType and len(_AWAITABLE_BY_TYPE) < _TYPE_CACHE_LIMIT:
            _AWAITABLE_BY_TYPE[kind] = known
    return known


def require_callable(fn: Any, method: str, example: str) -> None:
    """Refuse, naming the right form, an `fn` that `method` cannot call; a coroutine object is
    closed first (it was never going to be awaited), so no "never awaited" warning follows."""
    if callable(fn):
        return
    if inspect.isawaitable(fn):
        if inspect.iscoroutine(fn):
            fn.close()
        raise ApiUsageError(f"{method} needs a function that makes the call, e.g. {example}, not an "
                            "awaitable: one can be awaited only once, so it cannot be retried or guarded")
    raise ApiUsageError(f"{method} needs a zero-argument callable such as {example}, got {type(fn).__name__}")
