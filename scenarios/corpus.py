"""Seeded malformed-input corpus for the fuzzing clients, generated with Hypothesis.

Every case starts from a valid request of one endpoint and breaks it in at least one way the
service's contract rejects *before* any signature check or ledger call (bad field value or type,
missing field, body not an object, invalid JSON, bad header, oversized or deeply nested body, bad
path parameter, unknown route, wrong method). So each case must get a 4xx JSON answer, never 5xx,
never a CRITICAL record, never a ledger effect. Every route of the contract is covered, and every
request header it reads (X-PAYMENT, Idempotency-Key, X-Agent-DID, X-API-Key, Content-Type), each
on a request that is broken anyway. An oversized body is stored as its size (`pad_bytes`) and
built by the sender. Generation runs in the harness process (never in Locust); the same seed gives
the same corpus.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

VALID_G = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
OTHER_G = "GA5WUJ54Z23KILLCUOUNAKTPBVZWKMQVO4O6EQ5GHLAERIMLLHNCSKYH"
MAX_CORPUS = 5000
OVERSIZE_BYTES = (64 * 1024 + 1, 200_000)  # beyond the service's 64 KiB body limit
ROUTES = (("x402", "GET", "/resources/r1"), ("channel", "POST", "/channels/c1/updates"),
          ("settlement", "POST", "/settlements"), ("settlement_status", "GET", "/settlements/s1"),
          ("decision", "POST", "/agent/decisions"), ("escrow", "POST", "/contracts/escrow"),
          ("health", "GET", "/health"), ("metrics", "GET", "/metrics"), ("admin", "GET", "/admin/events"))

_junk_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_not_a_string = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.lists(st.integers(), max_size=3))
_bad_address = st.one_of(
    _junk_text.filter(lambda s: not (len(s) == 56 and s.startswith("G"))),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=55, max_size=55).map(lambda s: "G" + s),
    _not_a_string,
)
_bad_amount = st.one_of(
    st.sampled_from(["0", "-1", "-0.5", "1.12345678", "abc", "", "NaN", "922337203685.4775808", "0x10"]),
    st.decimals(max_value=0, allow_nan=False, allow_infinity=False).map(str),
    _not_a_string,
)
_bad_did = st.one_of(_junk_text.filter(lambda s: not s.startswith("did:")), st.just("did:"), st.just("did::x"), _not_a_string)
_not_object = st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=10), st.none())
_bad_json = st.sampled_from([b"{", b"{\"a\":", b"not json", b"\xff\xfe", b"[1,2", b"{\"destination\": }"])
_bad_key_header = st.sampled_from(["", " ", "a b", "x" * 129, "k/1", "k\u00e9"])


def _settlement() -> st.SearchStrategy[dict[str, Any]]:
    # no `asset`: it is optional and the service's own (native or USDC), so the other fields are the ones broken
    valid = {"destination": VALID_G, "amount": "1.5", "agent_did": "did:key:z6MkFuzz"}
    field_breaks = st.one_of(
        st.tuples(st.just("destination"), _bad_address),
        st.tuples(st.just("amount"), _bad_amount),
        st.tuples(st.just("asset"), st.one_of(_junk_text.filter(lambda s: s != "native"), _not_a_string)),
        st.tuples(st.just("agent_did"), _bad_did),
    )
    broken = field_breaks.map(lambda kv: {**valid, kv[0]: kv[1]})
    missing = st.sampled_from(["destination", "amount"]).map(lambda k: {x: v for x, v in valid.items() if x != k})
    return st.one_of(broken, missing).map(lambda b: _case("settlement", "POST", "/settlements", body=b))


def _channel() -> st.SearchStrategy[dict[str, Any]]:
    # Signatures are always 3 bytes (not 64), so every case fails validation before any crypto check.
    state = {"channelId": "fz-1", "sequence": 1, "participants": [VALID_G, OTHER_G],
             "balances": {VALID_G: 10, OTHER_G: 0}, "total": 10, "signatures": {VALID_G: "AAAA", OTHER_G: "AAAA"}}
    breaks: st.SearchStrategy[tuple[str, Any]] = st.one_of(
        st.tuples(st.just("sequence"), st.one_of(st.integers(max_value=-1), _junk_text, st.none())),
        st.tuples(st.just("total"), st.one_of(st.integers(min_value=11), st.integers(max_value=-1), st.just("10"))),
        st.tuples(st.just("participants"), st.one_of(st.just([VALID_G]), st.lists(_bad_address, min_size=2, max_size=2))),
        st.tuples(st.just("channelId"), st.just("other-id")),
        st.tuples(st.just("signatures"), st.one_of(st.just({}), _not_object)),
    )
    return breaks.map(
        lambda kv: _case("channel", "POST", "/channels/fz-1/updates", body={**state, kv[0]: kv[1]})
    )


def _decision() -> st.SearchStrategy[dict[str, Any]]:
    terms = {"lender": VALID_G, "borrower": OTHER_G, "principal": "10", "interestRate": 0.1,
             "durationSeconds": 86400}
    opp = {"id": "o1", "type": "loan", "terms": terms}
    did = "did:key:z6MkFuzz"
    bodies = st.one_of(
        st.just({"agent_did": did, "opportunities": []}),
        st.just({"agent_did": did, "opportunities": [opp] * 51}),
        _bad_amount.map(lambda a: {"agent_did": did, "opportunities": [{**opp, "terms": {**terms, "principal": a}}]}),
        st.floats(1.01, 1e6).map(
            lambda r: {"agent_did": did, "opportunities": [{**opp, "terms": {**terms, "interestRate": r}}]}),
        _junk_text.filter(lambda s: s not in ("loan", "escrow")).map(
            lambda t: {"agent_did": did, "opportunities": [{**opp, "type": t}]}),
        _bad_did.map(lambda d: {"agent_did": d, "opportunities": [opp]}),
    )
    return bodies.map(lambda b: _case("decision", "POST", "/agent/decisions", body=b))


def _escrow() -> st.SearchStrategy[dict[str, Any]]:
    valid = {"agent_did": "did:key:z6MkFuzz", "payee": VALID_G, "amount": "1", "deadline_seconds": 3600}
    breaks = st.one_of(
        st.tuples(st.just("payee"), _bad_address),
        st.tuples(st.just("amount"), _bad_amount),
        st.tuples(st.just("deadline_seconds"), st.one_of(st.integers(max_value=0), _junk_text)),
    )
    return breaks.map(lambda kv: _case("escrow", "POST", "/contracts/escrow", body={**valid, kv[0]: kv[1]}))


def _raw_and_headers() -> st.SearchStrategy[dict[str, Any]]:
    paths = st.sampled_from([("settlement", "/settlements"), ("decision", "/agent/decisions"),
                             ("escrow", "/contracts/escrow")])
    bad_json = st.tuples(paths, _bad_json).map(lambda p: _case(p[0][0], "POST", p[0][1], raw=p[1]))
    not_object = st.tuples(paths, _not_object).map(lambda p: _case(p[0][0], "POST", p[0][1], body=p[1]))
    bad_idem = _bad_key_header.map(lambda k: _case(
        "settlement", "POST", "/settlements",
        body={"destination": VALID_G, "amount": "1", "agent_did": "did:key:z6MkFuzz"},
        headers={"Idempotency-Key": k}))
    bad_payment = st.one_of(
        _junk_text.map(lambda s: s.encode("utf-8", "ignore").hex()),
        st.just(base64.b64encode(b"{\"x402Version\": 7}").decode()),
        st.just(base64.b64encode(b"{\"x402Version\": 1, \"scheme\": \"upto\"}").decode()),
    ).map(lambda h: _case("x402", "GET", "/resources/fuzz", headers={"X-PAYMENT": h}))
    bad_v2_payment = st.one_of(  # x402 v2: PAYMENT-SIGNATURE that is no PaymentPayload
        _junk_text.map(lambda s: s.encode("utf-8", "ignore").hex()),
        st.just(base64.b64encode(b"{\"x402Version\": 2, \"payload\": []}").decode()),
        st.just(base64.b64encode(b"{\"x402Version\": 2, \"payload\": {}, \"accepted\": {\"scheme\": \"exact\"}}").decode()),
    ).map(lambda h: _case("x402", "GET", "/resources/fuzz", headers={"PAYMENT-SIGNATURE": h}))
    return st.one_of(bad_json, not_object, bad_idem, bad_payment, bad_v2_payment)


def _paths_methods_and_sizes() -> st.SearchStrategy[dict[str, Any]]:
    """Bad path parameters, unknown routes, wrong methods, oversized and deeply nested bodies."""
    url_junk = _junk_text.filter(bool).map(lambda t: quote(t, safe=""))
    bad_name = st.one_of(url_junk.filter(lambda q: not all(c.isalnum() or c in "-_" for c in q)),
                         st.integers(65, 300).map(lambda n: "r" * n))
    resource = bad_name.map(lambda n: _case("x402", "GET", f"/resources/{n}"))
    status = url_junk.map(lambda n: _case("settlement_status", "GET", f"/settlements/{n}"))
    unknown = url_junk.map(lambda n: _case("unknown", "GET", f"/no-such-route/{n}"))
    wrong_method = st.tuples(st.sampled_from(ROUTES), st.sampled_from(["PUT", "PATCH", "DELETE", "POST", "GET"])).filter(
        lambda rm: rm[1] != rm[0][1]).map(lambda rm: _case(rm[0][0], rm[1], rm[0][2]))
    admin = st.tuples(st.one_of(st.none(), _bad_key_header, st.just("Bearer wrong-token")),
                      st.sampled_from(["0", "-1", "x", "1e9"])).map(lambda a: _case(
                          "admin", "GET", f"/admin/events?since={a[1]}",
                          headers={"Authorization": a[0]} if a[0] is not None else {}))
    posts = st.sampled_from([r for r in ROUTES if r[1] == "POST"])
    oversized = st.tuples(posts, st.integers(*OVERSIZE_BYTES)).map(
        lambda p: {**_case(p[0][0], "POST", p[0][2]), "raw_b64": None, "pad_bytes": p[1]})
    nested = st.tuples(posts, st.integers(1000, 20_000)).map(
        lambda p: _case(p[0][0], "POST", p[0][2], raw=b"[" * p[1] + b"]" * p[1]))
    return st.one_of(resource, status, unknown, wrong_method, admin, oversized, nested)


def _headers_on_broken_requests() -> st.SearchStrategy[dict[str, Any]]:
    """Junk X-Agent-DID, X-API-Key (an unissued key: the anonymous client) or Content-Type on
    requests whose body is broken anyway, so no header makes a case valid."""
    did_header = _bad_did.filter(lambda d: isinstance(d, str) and d.isprintable() and d.isascii()).map(
        lambda d: _case("settlement", "POST", "/settlements", body={"destination": VALID_G, "amount": "1"},
                        headers={"X-Agent-DID": str(d)}))
    junk_value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=300)
    other = st.tuples(st.sampled_from(["X-API-Key", "Content-Type"]), junk_value, _bad_amount).map(
        lambda h: _case("escrow", "POST", "/contracts/escrow",
                        body={"agent_did": "did:key:z6MkFuzz", "payee": VALID_G, "amount": h[2],
                              "deadline_seconds": 3600}, headers={h[0]: h[1]}))
    return st.one_of(did_header, other)


def _case(endpoint: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    case: dict[str, Any] = {"endpoint": endpoint, "method": method, "path": path, "headers": headers or {}}
    if raw is not None:
        case["raw_b64"] = base64.b64encode(raw).decode()
    elif body is not None or method == "POST":
        case["raw_b64"] = base64.b64encode(json.dumps(body).encode()).decode()
    return case


CASES = st.one_of(_settlement(), _channel(), _decision(), _escrow(), _raw_and_headers(),
                  _paths_methods_and_sizes(), _headers_on_broken_requests())


def generate_corpus(seed: int, size: int = 300) -> list[dict[str, Any]]:
    """`size` malformed request cases, deterministic for a given seed."""
    if not 1 <= size <= MAX_CORPUS:
        raise ValueError(f"corpus size must be 1..{MAX_CORPUS}, got {size}")
    out: list[dict[str, Any]] = []

    @hypothesis_seed(seed)
    @settings(max_examples=size, database=None, phases=[Phase.generate], deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(CASES)
    def collect(case: dict[str, Any]) -> None:
        out.append(case)

    collect()
    return out[:size]


def write_corpus(path: Path, seed: int, size: int = 300) -> int:
    cases = generate_corpus(seed, size)
    Path(path).write_text(json.dumps(cases))
    return len(cases)
