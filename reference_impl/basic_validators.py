"""Primitive validators: amounts, Stellar addresses, DIDs, strings, required fields.

Each takes any Python object and either returns the validated (normalised) value or raises
`ValidationError(field, reason)`; no other exception escapes, whatever the input. Type checks come
first, then cheap size limits, then parsing, so huge or hostile inputs are rejected early.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from stellar_sdk import FeeBumpTransactionEnvelope, StrKey, TransactionBuilder, TransactionEnvelope

from reference_impl.errors import ValidationError

STROOPS_PER_UNIT = 10_000_000
MAX_STROOPS = 2**63 - 1
MAX_AMOUNT = Decimal(MAX_STROOPS) / STROOPS_PER_UNIT
MAX_DID_LENGTH = 2048
MAX_XDR_LENGTH = 100_000
_AMOUNT_TEXT = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,7})?", re.ASCII)
_STEP = Decimal("0.0000001")
_DID = re.compile(
    r"did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*(?::(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*)*)",
    re.ASCII,
)
_BASE58 = re.compile(r"z[1-9A-HJ-NP-Za-km-z]{20,}", re.ASCII)
_HOST = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", re.ASCII
)


def validate_amount(value: Any, field: str = "amount") -> Decimal:
    """A Stellar amount: str/Decimal/int (floats via their shortest repr), > 0, <= 7 decimals,
    at most int64 stroops. Returns the amount as a Decimal with 7 decimal places."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a number or a decimal string, not a boolean")
    if isinstance(value, str):
        if len(value) > 32 or not _AMOUNT_TEXT.fullmatch(value):
            raise ValidationError(field, "must be a plain decimal string with at most 7 decimal places")
        amount = Decimal(value)
    elif isinstance(value, int):
        if value <= 0 or value > MAX_AMOUNT:
            raise ValidationError(field, "must be positive and at most 922337203685.4775807")
        amount = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(field, "must be finite")
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise ValidationError(field, f"must be a string, Decimal or int, not {type(value).__name__}")
    if not amount.is_finite():
        raise ValidationError(field, "must be finite")
    if amount <= 0:
        raise ValidationError(field, "must be positive")
    if amount > MAX_AMOUNT:
        raise ValidationError(field, "exceeds the int64 stroop limit (922337203685.4775807)")
    try:
        quantized = amount.quantize(_STEP)
    except InvalidOperation:
        raise ValidationError(field, "has too many digits") from None
    if quantized != amount:
        raise ValidationError(field, "has more than 7 decimal places")
    return quantized


def validate_amount_stroops(value: Any, field: str = "amount") -> int:
    """`validate_amount`, returned as an integer number of stroops (1 unit = 10^7 stroops)."""
    return int(validate_amount(value, field) * STROOPS_PER_UNIT)


def stroops_to_amount(stroops: int) -> str:
    """10000000 -> '1.0000000' (the string form Horizon and stellar-sdk use)."""
    return f"{Decimal(stroops) / STROOPS_PER_UNIT:.7f}"


def validate_stellar_address(value: Any, field: str = "address", allow_muxed: bool = False) -> str:
    """A StrKey account id ``G…`` (checksum verified); muxed ``M…`` too when `allow_muxed`."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if len(value) == 56 and value.isascii() and value.startswith("G"):
        if _strkey_ok(StrKey.is_valid_ed25519_public_key, value):
            return value
        raise ValidationError(field, "is not a valid Stellar account id (bad encoding or checksum)")
    if allow_muxed and len(value) == 69 and value.isascii() and value.startswith("M"):
        if _strkey_ok(StrKey.is_valid_med25519_public_key, value):
            return value
        raise ValidationError(field, "is not a valid muxed account id (bad encoding or checksum)")
    kinds = "a G… account id or an M… muxed id" if allow_muxed else "a G… account id"
    raise ValidationError(field, f"must be {kinds}")


def _strkey_ok(check: Any, value: str) -> bool:
    try:
        return bool(check(value))
    except Exception:  # stellar-sdk's decoders may raise on odd input; that means invalid
        return False


def validate_did(value: Any, field: str = "did") -> str:
    """A W3C DID (``did:<method>:<method-specific-id>``), with extra rules for did:stellar
    (``did:stellar:[<network>:]G…``), did:key (multibase base58btc ``z…``) and did:web (a host)."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if len(value) > MAX_DID_LENGTH:
        raise ValidationError(field, f"is longer than {MAX_DID_LENGTH} characters")
    match = _DID.fullmatch(value)
    if match is None:
        raise ValidationError(field, "is not a DID (expected did:<method>:<id>, DID Core syntax)")
    method, specific = match.group(1), match.group(2)
    if specific == "" or specific.endswith(":"):
        raise ValidationError(field, "has an empty method-specific id")
    if method == "stellar":
        parts = specific.split(":")
        if len(parts) > 2:
            raise ValidationError(field, "did:stellar takes [network:]account")
        validate_stellar_address(parts[-1], f"{field}.account")
    elif method == "key":
        if not _BASE58.fullmatch(specific):
            raise ValidationError(field, "did:key needs a multibase base58btc key (z…)")
    elif method == "web":
        host = specific.split(":")[0].replace("%3A", ":").replace("%3a", ":")
        name, _, port = host.partition(":")
        if not _HOST.fullmatch(name) or (port and not (port.isdigit() and 0 < int(port[:6]) < 65536)):
            raise ValidationError(field, "did:web needs a host name (optionally %3A port)")
    return value


def sanitize_string(
    value: Any,
    field: str = "value",
    max_length: int = 1000,
    allow_newlines: bool = False,
    allow_empty: bool = False,
) -> str:
    """NFC-normalise, drop control/format/surrogate characters, strip; reject if too long or empty."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if len(value) > 4 * max_length:
        raise ValidationError(field, f"is longer than {max_length} characters")
    keep = "\n\t" if allow_newlines else ""
    cleaned = "".join(
        ch for ch in value if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    cleaned = unicodedata.normalize("NFC", cleaned).strip()
    if len(cleaned) > max_length:
        raise ValidationError(field, f"is longer than {max_length} characters")
    if not cleaned and not allow_empty:
        raise ValidationError(field, "is empty")
    return cleaned


def validate_required_fields(data: Any, fields: Iterable[str], field: str = "body") -> Mapping[str, Any]:
    """`data` is a mapping holding every (dotted) path in `fields` with a non-None, non-blank value."""
    if not isinstance(data, Mapping):
        raise ValidationError(field, f"must be an object, not {type(data).__name__}")
    for path in fields:
        if not isinstance(path, str) or not path:
            raise ValidationError(field, "required field names must be non-empty strings")
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ValidationError(f"{field}.{path}", "is required")
            node = node[part]
        if node is None or (isinstance(node, str) and not node.strip()):
            raise ValidationError(f"{field}.{path}", "must not be empty")
    return data


def require_mapping(value: Any, field: str) -> Mapping[str, Any]:
    """`value` is a mapping with string keys."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be an object, not {type(value).__name__}")
    if not all(isinstance(key, str) for key in value):
        raise ValidationError(field, "keys must be strings")
    return value


def require_int(value: Any, field: str, minimum: int = 0, maximum: int = MAX_STROOPS) -> int:
    """An int (not a bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValidationError(field, f"must be between {minimum} and {maximum}")
    return value


def require_str(value: Any, field: str, max_length: int = 256, pattern: re.Pattern[str] | None = None) -> str:
    """A non-empty string of at most `max_length` characters, matching `pattern` if given."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if not value or len(value) > max_length:
        raise ValidationError(field, f"must be 1 to {max_length} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(field, "has an invalid format")
    return value


def validate_party(value: Any, field: str) -> str:
    """A Stellar account id or a DID."""
    if isinstance(value, str) and value.startswith("did:"):
        return validate_did(value, field)
    return validate_stellar_address(value, field)


def parse_transaction_envelope(
    value: Any, network_passphrase: str, field: str = "transaction"
) -> TransactionEnvelope | FeeBumpTransactionEnvelope:
    """Decode a base64 Stellar transaction envelope (plain or fee bump) bound to a network passphrase."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a base64 XDR string, not {type(value).__name__}")
    if not value or len(value) > MAX_XDR_LENGTH or not value.isascii():
        raise ValidationError(field, f"must be 1 to {MAX_XDR_LENGTH} ASCII characters of base64 XDR")
    try:
        envelope = TransactionBuilder.from_xdr(value, network_passphrase)
        canonical = envelope.to_xdr()
    except Exception:  # the XDR decoder raises many types (EOFError, ValueError, ...) on junk
        raise ValidationError(field, "is not a decodable Stellar transaction envelope") from None
    if canonical != value:
        raise ValidationError(field, "is not canonical XDR (padding, trailing or non-canonical base64 bits)")
    inner = (
        envelope.transaction.inner_transaction_envelope.transaction
        if isinstance(envelope, FeeBumpTransactionEnvelope)
        else envelope.transaction
    )
    if not inner.operations:
        raise ValidationError(field, "has no operations")
    return envelope
