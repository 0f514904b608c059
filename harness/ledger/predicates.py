"""Claim predicates: XDR <-> Horizon JSON (absolute times), validity and evaluation as stellar-core does."""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr as X

from harness.ledger.state import iso_time

MAX_TIME = 2**63 - 1


def predicate_to_json(predicate: X.ClaimPredicate, close_time: int, depth: int = 0) -> dict[str, Any]:
    """XDR ClaimPredicate -> Horizon JSON; relative deadlines become absolute at `close_time`."""
    if depth > 8:
        raise ValueError("claim predicate nested too deeply")
    T = X.ClaimPredicateType
    kind = predicate.type
    if kind == T.CLAIM_PREDICATE_UNCONDITIONAL:
        return {"unconditional": True}
    if kind in (T.CLAIM_PREDICATE_AND, T.CLAIM_PREDICATE_OR):
        parts = predicate.and_predicates if kind == T.CLAIM_PREDICATE_AND else predicate.or_predicates
        key = "and" if kind == T.CLAIM_PREDICATE_AND else "or"
        return {key: [predicate_to_json(p, close_time, depth + 1) for p in parts or []]}
    if kind == T.CLAIM_PREDICATE_NOT:
        assert predicate.not_predicate is not None
        return {"not": predicate_to_json(predicate.not_predicate, close_time, depth + 1)}
    if kind == T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        assert predicate.abs_before is not None
        deadline = predicate.abs_before.int64
    else:
        assert predicate.rel_before is not None
        deadline = min(close_time + predicate.rel_before.int64, MAX_TIME)
    return {"abs_before": iso_time(max(0, min(deadline, 253402300799))), "abs_before_epoch": str(deadline)}


def predicate_is_valid(predicate: X.ClaimPredicate, depth: int = 1) -> bool:
    """stellar-core's validity rule: and/or have two parts, times are non-negative, depth <= 4."""
    if depth > 4:
        return False
    T = X.ClaimPredicateType
    kind = predicate.type
    if kind in (T.CLAIM_PREDICATE_AND, T.CLAIM_PREDICATE_OR):
        parts = predicate.and_predicates if kind == T.CLAIM_PREDICATE_AND else predicate.or_predicates
        return parts is not None and len(parts) == 2 and all(predicate_is_valid(p, depth + 1) for p in parts)
    if kind == T.CLAIM_PREDICATE_NOT:
        return predicate.not_predicate is not None and predicate_is_valid(predicate.not_predicate, depth + 1)
    if kind == T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        return predicate.abs_before is not None and predicate.abs_before.int64 >= 0
    if kind == T.CLAIM_PREDICATE_BEFORE_RELATIVE_TIME:
        return predicate.rel_before is not None and predicate.rel_before.int64 >= 0
    return True


def predicate_holds(predicate: dict[str, Any], close_time: int, depth: int = 0) -> bool:
    """Evaluate a JSON predicate at a ledger close time (depth-bounded like core's 4 levels)."""
    if depth > 8:
        return False
    if predicate.get("unconditional"):
        return True
    if "and" in predicate:
        return all(predicate_holds(p, close_time, depth + 1) for p in predicate["and"])
    if "or" in predicate:
        return any(predicate_holds(p, close_time, depth + 1) for p in predicate["or"])
    if "not" in predicate:
        return not predicate_holds(predicate["not"], close_time, depth + 1)
    if "abs_before_epoch" in predicate:
        return close_time < int(predicate["abs_before_epoch"])
    return False


def predicate_from_json(predicate: dict[str, Any], depth: int = 0) -> X.ClaimPredicate:
    """Horizon JSON (absolute times) -> XDR, as core stores a predicate after updatePredicatesForApply."""
    if depth > 8:
        raise ValueError("claim predicate nested too deeply")
    T = X.ClaimPredicateType
    if predicate.get("unconditional"):
        return X.ClaimPredicate(T.CLAIM_PREDICATE_UNCONDITIONAL)
    if "and" in predicate:
        return X.ClaimPredicate(T.CLAIM_PREDICATE_AND,
                                and_predicates=[predicate_from_json(p, depth + 1) for p in predicate["and"]])
    if "or" in predicate:
        return X.ClaimPredicate(T.CLAIM_PREDICATE_OR,
                                or_predicates=[predicate_from_json(p, depth + 1) for p in predicate["or"]])
    if "not" in predicate:
        return X.ClaimPredicate(T.CLAIM_PREDICATE_NOT, not_predicate=predicate_from_json(predicate["not"], depth + 1))
    return X.ClaimPredicate(T.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME,
                            abs_before=X.Int64(int(predicate["abs_before_epoch"])))
