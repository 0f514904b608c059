"""The fuzz corpus: one defect per field case, named by the case, and named back by the validator.

Each template (scenarios/corpus.py TEMPLATES) passes the service's own request parsers as it is; each
field case changes exactly one field, and the parser's ValidationError names that field (the match
P32 applies to the service's 4xx `field`, harness/judges/rejections.py `names_field`)."""

from __future__ import annotations

import base64
import json

import pytest

from harness.judges.rejections import names_field
from reference_impl.clock import SystemClock
from reference_impl.errors import ValidationError
from reference_impl.input_validator import InputValidator
from reference_impl.service.channels import ChannelStore
from reference_impl.service.decisions import parse_decisions
from reference_impl.service.escrow import parse_escrow
from reference_impl.service.faults import LaxAmountValidator
from reference_impl.service.settlements import check_idempotency_key, parse_settlement
from scenarios.corpus import OTHER_G, TEMPLATES, generate_corpus

VALIDATOR = InputValidator()
ESCROW_ACCOUNT = "GCEZWKCA5VLDNRLN3RPRJMRZOX3Z6G5CHCGSNFHEYVXM3XOJMDS674JZ"


def parse(endpoint: str, body: object, headers: dict[str, str], validator: InputValidator = VALIDATOR) -> None:
    """What the service's handler validates for `endpoint`, in its order."""
    h = {k.lower(): v for k, v in headers.items()}
    clock = SystemClock()
    if endpoint in ("settlement", "escrow"):
        check_idempotency_key(h.get("idempotency-key"))
    if endpoint == "settlement":
        parse_settlement(body, h.get("x-agent-did"), validator)
    elif endpoint == "escrow":
        parse_escrow(body, h.get("x-agent-did"), ESCROW_ACCOUNT, validator, clock)
    elif endpoint == "decision":
        parse_decisions(body, h.get("x-agent-did"), OTHER_G, validator, clock)
    elif endpoint == "channel":
        ChannelStore(validator).check("fz-1", body)
    else:
        raise AssertionError(f"no parser for {endpoint}")


@pytest.mark.parametrize("endpoint", sorted(TEMPLATES))
def test_every_template_is_a_valid_request(endpoint):
    parse(endpoint, json.loads(json.dumps(TEMPLATES[endpoint])), {})


def test_every_field_case_is_refused_for_the_field_it_changed():
    cases = [c for c in generate_corpus(11, 1500) if c["field"]]
    fields = {c["field"] for c in cases}
    assert {"amount", "destination", "agent_did", "payee", "sequence", "total", "balances", "signatures",
            "Idempotency-Key", "X-Agent-DID", "opportunities[0].terms.principal"} <= fields
    for case in cases:
        with pytest.raises(ValidationError) as refused:
            parse(case["endpoint"], json.loads(base64.b64decode(case["raw_b64"])), case["headers"])
        assert names_field(case["field"], refused.value.field), (case, refused.value.field)


def test_whole_request_cases_name_no_field():
    cases = generate_corpus(5, 400)
    whole = [c for c in cases if not c["field"]]
    assert whole and all(c["endpoint"] in ("x402", "settlement", "decision", "escrow", "channel", "health",
                                           "metrics", "admin", "settlement_status", "unknown") for c in whole)
    assert any(c.get("pad_bytes") for c in whole) and any(c["method"] != "POST" for c in whole)


@pytest.mark.parametrize(("expected", "got", "named"), [
    ("amount", "amount", True), ("amount", "escrow.amount", True), ("amount", "body.amount", True),
    ("participants", "state.participants[0]", True), ("X-Agent-DID", "x-agent-did", True),
    ("opportunities[0].terms.principal", "opportunities[0].terms.principal", True),
    ("amount", "agent_did", False), ("amount", "", False), ("amount", "amounts", False),
    ("opportunities[0].terms.principal", "opportunities[0].terms", False), ("", "amount", False),
])
def test_names_field_matches_whole_path_components(expected, got, named):
    assert names_field(expected, got) is named


def _caught(case: dict, body: dict, validator: InputValidator) -> bool:
    """Whether P32 would see the fault on this case: accepted, or refused naming another field."""
    try:
        parse(case["endpoint"], body, case["headers"], validator)
    except ValidationError as refused:
        return not names_field(case["field"], refused.field)
    return True


def test_a_validator_ignoring_amounts_is_seen_only_with_valid_templates():
    """The `validator-ignores-amount` fault: with the valid templates some amount cases get through (or are
    refused for another field); with the old templates' invalid DID every one was refused for the DID, which
    a judge accepting any 4xx took for a pass."""
    lax = LaxAmountValidator()
    amount_cases = [c for c in generate_corpus(11, 1500) if c["field"] == "amount"]
    bodies = [json.loads(base64.b64decode(c["raw_b64"])) for c in amount_cases]
    assert any(_caught(c, b, lax) for c, b in zip(amount_cases, bodies, strict=True))
    assert not any(_caught(c, b, VALIDATOR) for c, b in zip(amount_cases, bodies, strict=True))
    old_did = [{**b, "agent_did": "did:key:z6MkFuzz"} for b in bodies]
    for case, body in zip(amount_cases, old_did, strict=True):
        with pytest.raises(ValidationError):  # masked: refused all the same, for its DID
            parse(case["endpoint"], body, case["headers"], lax)
