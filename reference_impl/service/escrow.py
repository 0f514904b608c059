"""POST /contracts/escrow: a claimable balance from the escrow account with two claimants: the payee
may claim before the deadline, the escrow account may reclaim after it (windows never overlap).

The escrow account is the operation's source (it funds and sponsors the balance); the transaction's
source is a channel account from the pool, so escrows are not limited to the one transaction per
source account that stellar-core queues (TransactionQueue::canAdd). The balance holds the configured
asset (`payment.asset`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stellar_sdk import Claimant, ClaimPredicate, TransactionBuilder, TransactionEnvelope

from reference_impl.clock import Clock
from reference_impl.errors import ValidationError
from reference_impl.input_validator import InputValidator
from reference_impl.service.settlements import agent_did_of, fingerprint, payment_asset, reject_unknown

ESCROW_FIELDS = frozenset({"agent_did", "payee", "amount", "deadline_seconds", "loan_terms"})
MAX_DEADLINE_SECONDS = 365 * 86400


@dataclass(frozen=True, slots=True)
class EscrowRequest:
    payer: str
    payee: str
    amount: str
    amount_stroops: int
    deadline: int  # unix seconds
    agent_did: str
    loan_terms: dict[str, Any] | None

    def fingerprint(self) -> str:
        return fingerprint(
            {
                "payee": self.payee,
                "amount_stroops": self.amount_stroops,
                "agent_did": self.agent_did,
                "loan_terms": self.loan_terms,
            }
        )


def parse_escrow(
    body: Any, agent_header: str | None, escrow_account: str, validator: InputValidator, clock: Clock
) -> EscrowRequest:
    body = validator.validate_required_fields(body, ("payee", "amount", "deadline_seconds"), "body")
    reject_unknown(body, ESCROW_FIELDS)
    seconds = body["deadline_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_DEADLINE_SECONDS:
        raise ValidationError("deadline_seconds", f"must be an integer in 1..{MAX_DEADLINE_SECONDS}")
    params = validator.validate_escrow_params(
        {
            "payer": escrow_account,
            "payee": body["payee"],
            "amount": body["amount"],
            "deadline": int(clock.time()) + seconds,
        },
        field="escrow",
    )
    terms = validator.validate_loan_terms(body["loan_terms"], "loan_terms") if "loan_terms" in body else None
    return EscrowRequest(
        params["payer"],
        params["payee"],
        params["amount"],
        params["amountStroops"],
        params["deadline"],
        agent_did_of(body, agent_header, validator),
        terms,
    )


def escrow_builder(request: EscrowRequest, memo: bytes, asset: str = "native") -> Any:
    held = payment_asset(asset)
    before = ClaimPredicate.predicate_before_absolute_time(request.deadline)
    claimants = [
        Claimant(request.payee, before),
        Claimant(request.payer, ClaimPredicate.predicate_not(before)),
    ]

    def build(builder: TransactionBuilder) -> TransactionBuilder:
        return builder.append_create_claimable_balance_op(
            held, request.amount, claimants, source=request.payer
        ).add_hash_memo(memo)

    return build


def describe_escrow(request: EscrowRequest, asset: str = "native") -> Any:
    def describe(envelope: TransactionEnvelope) -> dict[str, Any]:
        return {
            "balance_id": envelope.transaction.get_claimable_balance_id(0),
            "payee": request.payee,
            "amount": request.amount,
            "asset": asset,
            "deadline": request.deadline,
            "claimants": [
                {"destination": request.payee, "predicate": f"before {request.deadline}"},
                {"destination": request.payer, "predicate": f"not before {request.deadline}"},
            ],
        }

    return describe
