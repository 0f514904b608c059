"""Request decoding with Go's json rules, and the listen-address helpers."""

from __future__ import annotations

import pytest

from harness.toxiproxy.api_models import (
    ApiError,
    ProxyInput,
    decode_body,
    format_number,
    parse_populate,
    parse_proxy,
    parse_toxic_create,
)
from harness.toxiproxy.proxy import canonical_listen, resolve_listen, split_host_port

DEFAULTS = ProxyInput("", "", "", True)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "bad request body: EOF"),
    (b"  \n", "bad request body: EOF"),
    (b'{"name": "a"', "bad request body: unexpected EOF"),
    (b"nope", "bad request body: invalid character 'n' looking for beginning of value"),
])
def test_decode_errors_use_go_wording(raw: bytes, message: str) -> None:
    with pytest.raises(ApiError) as info:
        decode_body(raw)
    assert (info.value.message, info.value.status) == (message, 400)
    assert info.value.body() == (b'{"error":"' + message.encode() + b'","status":400}\n')


def test_decode_reads_the_first_value_and_ignores_trailing_bytes() -> None:
    assert decode_body(b' {"a": 1} trailing') == {"a": 1}


def test_proxy_keys_are_case_insensitive_null_keeps_default_unknown_ignored() -> None:
    spec = parse_proxy({"NAME": "p", "Upstream": "127.0.0.1:1", "enabled": None, "extra": [1]}, DEFAULTS)
    assert spec == ProxyInput("p", "", "127.0.0.1:1", True)


@pytest.mark.parametrize("body", [{"name": 5}, {"enabled": "yes"}, ["name"], "text"])
def test_wrongly_typed_proxy_fields_are_400(body: object) -> None:
    with pytest.raises(ApiError) as info:
        parse_proxy(body, DEFAULTS)
    assert info.value.status == 400 and info.value.message.startswith("bad request body: json: cannot unmarshal")


def test_populate_validates_every_entry_first_with_one_based_positions() -> None:
    with pytest.raises(ApiError, match=r"^missing required field: upstream at proxy 2$"):
        parse_populate([{"name": "a", "upstream": "x:1"}, {"name": "b"}])
    with pytest.raises(ApiError, match=r"^missing required field: name at proxy 1$"):
        parse_populate([{"upstream": "x:1"}])
    assert parse_populate(None) == []


def test_toxic_create_defaults_and_stream_check() -> None:
    spec = parse_toxic_create({"type": "latency"})
    assert (spec.name, spec.stream, spec.toxicity, spec.attributes) == ("latency_downstream", "downstream", 1.0, None)
    assert parse_toxic_create({"type": "noop", "stream": "UpStream"}).stream == "upstream"
    with pytest.raises(ApiError, match="stream was invalid, can be either upstream or downstream"):
        parse_toxic_create({"type": "latency", "stream": "sideways"})
    with pytest.raises(ApiError, match="cannot unmarshal string"):
        parse_toxic_create({"type": "latency", "toxicity": "0.5"})


def test_numbers_print_like_go_float32() -> None:
    assert format_number(1.0) == 1 and format_number(0.5) == 0.5


def test_listen_resolution() -> None:
    assert split_host_port("[::1]:80") == ("::1", "80")
    assert resolve_listen("localhost:0") == ("127.0.0.1", 0)
    assert resolve_listen(":8080") == ("::", 8080)
    assert canonical_listen("localhost:5") == "127.0.0.1:5"
    with pytest.raises(ApiError, match="missing port in address") as info:
        resolve_listen("127.0.0.1")
    assert info.value.status == 500
    with pytest.raises(ApiError, match="invalid port"):
        resolve_listen("127.0.0.1:99999")
