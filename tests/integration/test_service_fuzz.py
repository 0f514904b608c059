"""Generated malformed requests against the running service: every answer is a 4xx (or a success)
with a JSON body carrying an `error` code — never a 5xx — and nothing reaches the ledger."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.judges.rejections import names_field
from scenarios.corpus import case_body, generate_corpus
from tests.integration.test_service_support import running_stack

pytestmark = pytest.mark.timeout(120)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
SETTLEMENT_KEYS = ("destination", "amount", "asset", "agent_did")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def stack():
    with running_stack(env={"SRH__SECURITY__RATE_LIMIT__ENABLED": "false"}) as s:
        yield s


def check(response):
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


@FUZZ
@given(path=st.sampled_from(["/settlements", "/agent/decisions", "/contracts/escrow", "/channels/c1/updates"]),
       body=JSON)
def test_arbitrary_json_bodies_never_cause_server_errors(stack, path, body):
    applied = len(stack.applied())
    check(stack.http.post(path, content=json.dumps(body).encode()))
    assert len(stack.applied()) == applied


@FUZZ
@given(field=st.sampled_from(SETTLEMENT_KEYS), value=JSON)
def test_one_bad_field_in_a_settlement_is_a_4xx(stack, field, value):
    body = {"destination": stack.keys[9].public_key, "amount": "1", "agent_did": "did:web:a.example.com",
            field: value}
    response = stack.http.post("/settlements", json=body)
    check(response)


@FUZZ
@given(raw=st.binary(max_size=200),
       header=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=200))
def test_raw_bytes_and_junk_payment_headers_are_refused_cleanly(stack, raw, header):
    check(stack.http.post("/settlements", content=raw))
    check(stack.http.post("/channels/c2/updates", content=raw))
    check(stack.http.get("/resources/fuzz", headers={"X-PAYMENT": header}))  # (HTTP-legal header values)


def test_every_single_field_corpus_case_is_refused_naming_its_field(stack):
    """The fuzz corpus over HTTP (scenarios/corpus.py): each case that changed one field of a valid request
    gets a 4xx whose body's `field` names that field (what P32 checks), and nothing reaches the ledger."""
    applied = len(stack.applied())
    judged = 0
    for case in (c for c in generate_corpus(5, 300) if c["field"]):
        try:
            response = stack.http.request(case["method"], case["path"], content=case_body(case),
                                          headers={"Content-Type": "application/json", **case["headers"]})
        except (httpx.LocalProtocolError, UnicodeEncodeError):  # header values httpx will not send (Locust does)
            continue
        judged += 1
        assert 400 <= response.status_code < 500, (case["field"], response.text)
        assert names_field(case["field"], response.json().get("field", "")), (case["field"], response.text)
    assert judged > 150 and len(stack.applied()) == applied
