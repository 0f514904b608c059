"""Secret redaction for logs and artifacts, and the secret scan the harness runs over a run folder.

What counts as a secret:
- a Stellar secret seed: ``S`` followed by 55 base32 characters (checksum not required, so a
  mangled seed is still caught);
- a bearer token (``Bearer <token>``);
- an API key in the project's issued form, ``srhk_`` followed by 40 hex characters
  (`scenarios/client_keys.py`), wherever it appears;
- the value of a sensitive key (``secret``, ``password``, ``private_key``, ``api_key``, ``*token``,
  ``authorization`` ...), in a mapping or written as ``key=value`` / ``"key": "value"`` in text;
  this is how 64-hex private keys are recognised, since a bare 64-hex string cannot be told apart
  from a transaction hash, which must stay readable.
`find_secrets` can also be given known secrets, whose raw-hex and base64 encodings are searched too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
MAX_DEPTH = 32
"""Deeper structures are replaced by a marker instead of being walked (also stops cycles)."""

_SEED = re.compile(r"S[A-Z2-7]{55}")
_ISSUED_API_KEY = re.compile(r"srhk_[0-9a-f]{40}")
# The patterns below run on the lower-cased text, each starting with a literal so the regex engine
# can skip ahead fast (IGNORECASE alternations are ~10x slower); group "v" is the secret value,
# whose span is the same in the original text. Word boundaries are checked in `_bounded`.
_KEY_WORDS = (
    "secret",
    "password",
    "passwd",
    "pwd",
    "private[_-]?key",
    "privkey",
    "api[_-]?key",
    "token",
    "authorization",
    "credentials?",
)
_VALUE = r"(?P<v>(?!\[redacted\])[^\s\"',;&}\])]+)"
_LOWERED_PATTERNS = (
    re.compile(r"bearer\s+(?P<v>[a-z0-9\-._~+/]+=*)"),
    re.compile(r"private[ _-]?key\W{1,3}(?P<v>[0-9a-f]{64})(?![0-9a-f])"),
    *(re.compile(word + r"\s*[\"']?\s*[=:]\s*[\"']?" + _VALUE) for word in _KEY_WORDS),
)
_HINTS = ("bearer", "secret", "passw", "pwd", "priv", "api", "token", "authorization", "credential")
_NOT_A_VALUE = {"", "null", "none", "true", "false", REDACTED.lower(), "***"}


def is_sensitive_key(key: str) -> bool:
    """True when a mapping key names a secret (its value is redacted whatever it is)."""
    k = key.lower().replace("-", "_")
    return (
        any(word in k for word in ("secret", "password", "passwd", "private_key", "privatekey", "privkey"))
        or k.endswith(("token", "api_key", "apikey", "credential", "credentials", "pwd"))
        or k == "authorization"
    )


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Sorted, merged ``(start, end)`` spans of every secret in `text`."""
    spans = [m.span() for m in _SEED.finditer(text) if _bounded(text, *m.span())] if len(text) >= 56 else []
    if "srhk_" in text:
        spans += [m.span() for m in _ISSUED_API_KEY.finditer(text)]
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters change length when lower-cased
        lowered = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    if any(hint in lowered for hint in _HINTS):
        for pattern in _LOWERED_PATTERNS:
            spans += [
                m.span("v")
                for m in pattern.finditer(lowered)
                if m.group("v") not in _NOT_A_VALUE
                and (pattern is not _LOWERED_PATTERNS[0] or _bounded(lowered, m.start()))
            ]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _bounded(text: str, start: int, end: int | None = None) -> bool:
    """No letter or digit touches the match on the left (and on the right when `end` is given)."""
    if start > 0 and text[start - 1].isascii() and text[start - 1].isalnum():
        return False
    return end is None or end >= len(text) or not (text[end].isascii() and text[end].isalnum())


def redact_text(text: str) -> str:
    """Return `text` with every secret replaced by ``[REDACTED]``."""
    spans = secret_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def redact(obj: Any, _depth: int = 0) -> Any:
    """Return a JSON-friendly copy of `obj` with secrets redacted.

    Mappings keep their shape (keys become strings; values of sensitive keys become
    ``[REDACTED]``); lists, tuples and sets become lists; bytes are decoded leniently; exceptions
    become ``"TypeName: message"``; any other object becomes its redacted ``str``.
    """
    if obj is None or isinstance(obj, bool | int | float):
        return obj
    if _depth >= MAX_DEPTH:
        return "[TOO DEEP]"
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return redact_text(bytes(obj).decode("utf-8", errors="replace"))
    if isinstance(obj, BaseException):
        return redact_text(describe_exception(obj))
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            name = redact_text(key if isinstance(key, str) else _safe_str(key))
            out[name] = REDACTED if is_sensitive_key(name) else redact(value, _depth + 1)
        return out
    if isinstance(obj, list | tuple | set | frozenset):
        return [redact(item, _depth + 1) for item in obj]
    return redact_text(_safe_str(obj))


def describe_exception(error: BaseException) -> str:
    """``"TypeName: message"`` (not yet redacted), never raising even for a broken ``__str__``."""
    text = _safe_str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception:  # a broken __str__ must not break logging
        return f"<unprintable {type(obj).__name__}>"


def find_secrets(text: str, known_secrets: Iterable[str] = ()) -> list[str]:
    """Every secret-looking substring of `text` (empty list means the text is clean).

    `known_secrets` (e.g. the seeds a run generated) are also searched literally, and for Stellar
    seeds also as the lowercase/uppercase hex and the base64 of their raw 32 bytes.
    The result contains the secrets themselves: never log it, count it.
    """
    found = [text[start:end] for start, end in secret_spans(text)]
    for secret in known_secrets:
        found += [form for form in _encodings(secret) if form in text]
    return list(dict.fromkeys(found))


def _encodings(secret: str) -> list[str]:
    forms = [secret] if secret else []
    if _SEED.fullmatch(secret):
        try:
            raw = base64.b32decode(secret)[1:33]
        except ValueError:
            return forms
        forms += [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode("ascii")]
    return forms
