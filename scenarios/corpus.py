"""Seeded malformed-input corpus for the fuzzing clients, generated with Hypothesis.

Field cases start from a fully valid request of one endpoint (`TEMPLATES`: a valid agent DID,
addresses, amounts; the channel state signed by both parties) and change exactly one field or
header; the case names it (`field`, a path such as `amount` or `opportunities[0].terms.principal`),
so the 4xx must name that field too (its JSON body's `field`): a rejection for another reason is a
finding (P32). The other cases break the request as a whole (invalid JSON, body not an object, a
bad X-PAYMENT, oversized or deeply nested body, bad path parameter, unknown route, wrong method,
bad admin cursor) and carry `field = ""`. Every case is refused *before* any signature check or
ledger call, so each must get a 4xx JSON answer, never 5xx, never a CRITICAL record, never a ledger
effect. Every route of the contract is covered, and every request header it reads (X-PAYMENT,
Idempotency-Key, X-Agent-DID, X-API-Key, Content-Type). An oversized body is stored as its size
(`pad_bytes`) and built by the sender. Generation runs in the harness process (never in Locust), which
keeps the corpus in the run folder (`corpus.json`). The corpus is a function of (seed, size, Hypothesis
version, Python's Unicode data) alone: Hypothesis's draws from the literals of imported project modules are
switched off (`scenarios/pure_hypothesis.py`), so neither the modules loaded nor an edit of a string literal
elsewhere changes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from stellar_sdk import Keypair

from reference_impl.crypto_verification import sign_channel_state
from scenarios.pure_hypothesis import without_local_constants

VALID_G = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7"
OTHER_G = "GA5WUJ54Z23KILLCUOUNAKTPBVZWKMQVO4O6EQ5GHLAERIMLLHNCSKYH"
VALID_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"  # W3C did:key example (Ed25519)
_PARTIES = tuple(Keypair.from_raw_ed25519_seed(hashlib.sha256(f"srh-fuzz-party-{i}".encode()).digest())
                 for i in range(2))
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
_bad_amount = st.one_of(  # a positive integer up to int64 stroops is a valid JSON amount, so none here
    st.sampled_from(["0", "-1", "-0.5", "1.12345678", "abc", "", "NaN", "922337203685.4775808", "0x10"]),
    st.decimals(max_value=0, allow_nan=False, allow_infinity=False).map(str),
    st.none(), st.booleans(), st.integers(-10**20, 0), st.integers(922337203686, 10**20),
    st.lists(st.integers(), max_size=3),
)
_bad_did = st.one_of(_junk_text.filter(lambda s: not s.startswith("did:")), st.just("did:"), st.just("did::x"), _not_a_string)
_not_object = st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=10), st.none())
_bad_json = st.sampled_from([b"{", b"{\"a\":", b"not json", b"\xff\xfe", b"[1,2", b"{\"destination\": }"])
_bad_key_header = st.sampled_from(["", " ", "a b", "x" * 129, "k/1", "k\u00e9"])


def _signed_channel_state() -> dict[str, Any]:
    a, b = (k.public_key for k in _PARTIES)
    state: dict[str, Any] = {"channelId": "fz-1", "sequence": 1, "participants": [a, b], "balances": {a: 10, b: 0},
                             "total": 10}
    for keypair in _PARTIES:
        state = sign_channel_state(state, keypair)
    return state


# The valid request each field case changes one field of (tests/unit/test_corpus.py: each is accepted
# by the service's validators as it is).
TEMPLATES: dict[str, dict[str, Any]] = {
    # no `asset`: it is optional and the service's own (native or USDC); a junk one is a case of its own
    "settlement": {"destination": VALID_G, "amount": "1.5", "agent_did": VALID_DID},
    "channel": _signed_channel_state(),
    "decision": {"agent_did": VALID_DID, "opportunities": [
        {"id": "o1", "type": "loan", "terms": {"lender": VALID_G, "borrower": OTHER_G, "principal": "10",
                                               "interestRate": 0.1, "durationSeconds": 86400}}]},
    "escrow": {"agent_did": VALID_DID, "payee": VALID_G, "amount": "1", "deadline_seconds": 3600},
}


def _settlement() -> st.SearchStrategy[dict[str, Any]]:
    valid = TEMPLATES["settlement"]
    field_breaks = st.one_of(
        st.tuples(st.just("destination"), _bad_address),
        st.tuples(st.just("amount"), _bad_amount),
        st.tuples(st.just("asset"), st.one_of(_junk_text.filter(lambda s: s != "native"), _not_a_string)),
        st.tuples(st.just("agent_did"), _bad_did),
    )
    broken = field_breaks.map(lambda kv: _case("settlement", "POST", "/settlements", body={**valid, kv[0]: kv[1]},
                                               field=kv[0]))
    missing = st.sampled_from(["destination", "amount"]).map(lambda k: _case(
        "settlement", "POST", "/settlements", body={x: v for x, v in valid.items() if x != k}, field=k))
    return st.one_of(broken, missing)


def _channel() -> st.SearchStrategy[dict[str, Any]]:
    # The template is signed by both parties; each break fails structural validation, which runs
    # before the signatures are checked (a changed field no longer matches them either).
    state = TEMPLATES["channel"]
    breaks: st.SearchStrategy[tuple[str, Any]] = st.one_of(
        st.tuples(st.just("sequence"), st.one_of(st.integers(max_value=-1), _junk_text, st.none())),
        st.tuples(st.just("total"), st.one_of(st.integers(max_value=-1), st.just("10"), st.booleans())),
        # Balances that no longer sum to the total (the validator names `balances`, what disagrees with it).
        st.integers(11, 10**9).map(lambda n: ("balances", {**state["balances"], state["participants"][0]: n})),
        st.tuples(st.just("participants"), st.one_of(st.just([VALID_G]), st.lists(_bad_address, min_size=2, max_size=2))),
        st.tuples(st.just("channelId"), st.just("other-id")),
        st.tuples(st.just("signatures"), st.one_of(st.just({}), _not_object)),
    )
    return breaks.map(
        lambda kv: _case("channel", "POST", "/channels/fz-1/updates", body={**state, kv[0]: kv[1]}, field=kv[0])
    )


def _decision() -> st.SearchStrategy[dict[str, Any]]:
    did, (opp,) = TEMPLATES["decision"]["agent_did"], TEMPLATES["decision"]["opportunities"]
    terms = opp["terms"]
    first = "opportunities[0]"
    bodies = st.one_of(
        st.just(({"agent_did": did, "opportunities": []}, "opportunities")),
        st.just(({"agent_did": did, "opportunities": [opp] * 51}, "opportunities")),
        _bad_amount.map(lambda a: ({"agent_did": did, "opportunities": [{**opp, "terms": {**terms, "principal": a}}]},
                                   f"{first}.terms.principal")),
        st.floats(1.01, 1e6).map(
            lambda r: ({"agent_did": did, "opportunities": [{**opp, "terms": {**terms, "interestRate": r}}]},
                       f"{first}.terms.interestRate")),
        _junk_text.filter(lambda s: s not in ("loan", "escrow")).map(
            lambda t: ({"agent_did": did, "opportunities": [{**opp, "type": t}]}, f"{first}.type")),
        _bad_did.map(lambda d: ({"agent_did": d, "opportunities": [opp]}, "agent_did")),
    )
    return bodies.map(lambda bf: _case("decision", "POST", "/agent/decisions", body=bf[0], field=bf[1]))


def _escrow() -> st.SearchStrategy[dict[str, Any]]:
    valid = TEMPLATES["escrow"]
    breaks = st.one_of(
        st.tuples(st.just("payee"), _bad_address),
        st.tuples(st.just("amount"), _bad_amount),
        st.tuples(st.just("deadline_seconds"), st.one_of(st.integers(max_value=0), _junk_text)),
    )
    return breaks.map(lambda kv: _case("escrow", "POST", "/contracts/escrow", body={**valid, kv[0]: kv[1]},
                                       field=kv[0]))


def _raw_and_headers() -> st.SearchStrategy[dict[str, Any]]:
    paths = st.sampled_from([("settlement", "/settlements"), ("decision", "/agent/decisions"),
                             ("escrow", "/contracts/escrow")])
    bad_json = st.tuples(paths, _bad_json).map(lambda p: _case(p[0][0], "POST", p[0][1], raw=p[1]))
    not_object = st.tuples(paths, _not_object).map(lambda p: _case(p[0][0], "POST", p[0][1], body=p[1]))
    bad_idem = _bad_key_header.map(lambda k: _case(
        "settlement", "POST", "/settlements",
        body=TEMPLATES["settlement"], headers={"Idempotency-Key": k}, field="Idempotency-Key"))
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


def _header_cases() -> st.SearchStrategy[dict[str, Any]]:
    """A junk X-Agent-DID on a valid settlement without `agent_did` (the header is its one defect), and a
    junk X-API-Key (an unissued key: the anonymous client) or Content-Type, neither of which the contract
    validates, on an escrow whose one defect is its amount."""
    did_body = {k: v for k, v in TEMPLATES["settlement"].items() if k != "agent_did"}
    did_header = _bad_did.filter(lambda d: isinstance(d, str) and d.isprintable() and d.isascii()).map(
        lambda d: _case("settlement", "POST", "/settlements", body=did_body, headers={"X-Agent-DID": str(d)},
                        field="X-Agent-DID"))
    junk_value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=300)
    other = st.tuples(st.sampled_from(["X-API-Key", "Content-Type"]), junk_value, _bad_amount).map(
        lambda h: _case("escrow", "POST", "/contracts/escrow", body={**TEMPLATES["escrow"], "amount": h[2]},
                        headers={h[0]: h[1]}, field="amount"))
    return st.one_of(did_header, other)


def _case(endpoint: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
          headers: dict[str, str] | None = None, field: str = "") -> dict[str, Any]:
    case: dict[str, Any] = {"endpoint": endpoint, "method": method, "path": path, "headers": headers or {},
                            "field": field}
    if raw is not None:
        case["raw_b64"] = base64.b64encode(raw).decode()
    elif body is not None or method == "POST":
        case["raw_b64"] = base64.b64encode(json.dumps(body).encode()).decode()
    return case


CASES = st.one_of(_settlement(), _channel(), _decision(), _escrow(), _raw_and_headers(),
                  _paths_methods_and_sizes(), _header_cases())


def generate_corpus(seed: int, size: int = 300) -> list[dict[str, Any]]:
    """`size` malformed request cases, the same for a given seed in any process."""
    if not 1 <= size <= MAX_CORPUS:
        raise ValueError(f"corpus size must be 1..{MAX_CORPUS}, got {size}")
    out: list[dict[str, Any]] = []

    @hypothesis_seed(seed)
    @settings(settings.get_profile("default"),  # not whatever profile the process loaded (tests load "ci")
              max_examples=size, database=None, phases=[Phase.generate], deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(CASES)
    def collect(case: dict[str, Any]) -> None:
        out.append(case)

    with without_local_constants():
        collect()
    return out[:size]


def case_body(case: dict[str, Any]) -> bytes | None:
    """The raw body of a corpus case: decoded, or padded to its `pad_bytes` size."""
    if case.get("pad_bytes"):
        return b'{"destination": "' + b"A" * int(case["pad_bytes"]) + b'"}'
    return base64.b64decode(case["raw_b64"]) if case.get("raw_b64") is not None else None


def write_corpus(path: Path, seed: int, size: int = 300) -> int:
    cases = generate_corpus(seed, size)
    Path(path).write_text(json.dumps(cases))
    return len(cases)
