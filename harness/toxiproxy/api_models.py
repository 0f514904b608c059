"""JSON shapes of the Toxiproxy 2.12 API: request decoding with Go's rules, response encoding.

Decoding follows Go's `encoding/json` as Toxiproxy uses it: the first JSON value of the body is read
(trailing bytes ignored), keys match case-insensitively (the last match wins), unknown keys are
ignored, `null` keeps the default, and a value of the wrong type is a 400 `bad request body: ...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

TOXIPROXY_VERSION = "2.12.0"
STREAMS = ("upstream", "downstream")


class ApiError(HarnessError):
    """An API failure with Toxiproxy's error text and HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> bytes:
        """The error body as Toxiproxy writes it: compact JSON plus a newline."""
        return (json.dumps({"error": self.message, "status": self.status}, separators=(",", ":")) + "\n").encode()


ERR_PROXY_NOT_FOUND = ("proxy not found", 404)
ERR_PROXY_EXISTS = ("proxy already exists", 409)
ERR_INVALID_STREAM = ("stream was invalid, can be either upstream or downstream", 400)
ERR_INVALID_TOXIC_TYPE = ("invalid toxic type", 400)
ERR_TOXIC_EXISTS = ("toxic already exists", 409)
ERR_TOXIC_NOT_FOUND = ("toxic not found", 404)


def api_error(kind: tuple[str, int]) -> ApiError:
    return ApiError(*kind)


def bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(detail: str) -> ApiError:
    return ApiError(f"missing required field: {detail}", 400)


def decode_body(raw: bytes) -> Any:
    """Decode the first JSON value of `raw` like Go's json.Decoder (`EOF` on an empty body)."""
    text = raw.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise bad_body("EOF")
    try:
        value, _end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text):
            raise bad_body("unexpected EOF") from None
        raise bad_body(f"invalid character {text[exc.pos]!r} looking for beginning of value") from None
    return value


def fields_of(value: Any, target: str) -> dict[str, Any]:
    """Lower-cased key -> value of a JSON object (last case-insensitive match wins)."""
    if not isinstance(value, dict):
        raise bad_body(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {target}")
    return {key.lower(): item for key, item in value.items()}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def _type_error(value: Any, field: str, go_type: str) -> ApiError:
    return bad_body(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {field} of type {go_type}")


def take_str(obj: dict[str, Any], key: str, default: str, field: str) -> str:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _type_error(value, field, "string")
    return value


def take_bool(obj: dict[str, Any], key: str, default: bool, field: str) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _type_error(value, field, "bool")
    return value


def take_float(obj: dict[str, Any], key: str, default: float, field: str) -> float:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(value, field, "float32")
    return float(value)


def take_int(obj: dict[str, Any], key: str, default: int, field: str) -> int:
    """An int64 attribute: fractions, strings and booleans are rejected, as Go does."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(value, field, "int64")
    if not -(2**63) <= value < 2**63:
        raise _type_error(value, field, "int64")
    return value


@dataclass(slots=True)
class ProxyInput:
    """Fields of a proxy create/update/populate request, with the defaults already applied."""

    name: str
    listen: str
    upstream: str
    enabled: bool


def parse_proxy(value: Any, defaults: ProxyInput) -> ProxyInput:
    obj = fields_of(value, "main.Proxy")
    return ProxyInput(
        name=take_str(obj, "name", defaults.name, "Proxy.name"),
        listen=take_str(obj, "listen", defaults.listen, "Proxy.listen"),
        upstream=take_str(obj, "upstream", defaults.upstream, "Proxy.upstream"),
        enabled=take_bool(obj, "enabled", defaults.enabled, "Proxy.enabled"),
    )


def parse_populate(value: Any) -> list[ProxyInput]:
    """Validate every entry of a /populate body before anything is created."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_body(f"json: cannot unmarshal {_json_kind(value)} into Go value of type []struct")
    entries = [parse_proxy(item, ProxyInput("", "", "", True)) for item in value]
    for index, entry in enumerate(entries, start=1):
        if not entry.name:
            raise missing_field(f"name at proxy {index}")
        if not entry.upstream:
            raise missing_field(f"upstream at proxy {index}")
    return entries


@dataclass(slots=True)
class ToxicInput:
    """Fields of a toxic create request (attributes still raw: their type decides how to parse)."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Any


def parse_toxic_create(value: Any) -> ToxicInput:
    """Parse and check a create body in Toxiproxy's order: stream, default name (type checked later)."""
    obj = fields_of(value, "toxics.ToxicWrapper")
    raw_stream = take_str(obj, "stream", "downstream", "ToxicWrapper.stream")
    toxic_type = take_str(obj, "type", "", "ToxicWrapper.type")
    name = take_str(obj, "name", "", "ToxicWrapper.name")
    toxicity = take_float(obj, "toxicity", 1.0, "ToxicWrapper.toxicity")
    stream = raw_stream.lower()
    if stream not in STREAMS:
        raise api_error(ERR_INVALID_STREAM)
    if not name:
        name = f"{toxic_type}_{raw_stream}"
    return ToxicInput(name=name, type=toxic_type, stream=stream, toxicity=toxicity, attributes=obj.get("attributes"))


def format_number(value: float) -> float | int:
    """Go prints float32 1.0 as `1`: integral floats are emitted as integers."""
    return int(value) if float(value).is_integer() else round(value, 7)


def encode(value: Any) -> bytes:
    """Compact JSON, as Go's json.Marshal writes it (no trailing newline)."""
    return json.dumps(value, separators=(",", ":")).encode()
