"""POST /agent/decisions: risk assessment of opportunities (loans, escrow offers) against the agent's
configured limits and risk tolerance, using the agent's balance read through the breaker-protected
client with a cached fallback.

Risk score in [0, 1]: a base per kind, plus the interest rate (high rates signal a risky borrower),
the duration, missing collateral, and the share of the balance at stake. An opportunity is accepted
when its score is within the risk tolerance, its amount within the per-operation limit, the running
total of accepted amounts within the spendable balance (balance minus a 1 XLM reserve), and the
agent's accepted total of the UTC day within its daily limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reference_impl.clock import SYSTEM_CLOCK, Clock
from reference_impl.config_schema import AgentConfig
from reference_impl.errors import ValidationError
from reference_impl.input_validator import InputValidator, stroops_to_amount
from reference_impl.service.settlements import agent_did_of, reject_unknown
from reference_impl.service.stellar_client import FailoverStellarClient, StellarUnavailableError

MAX_OPPORTUNITIES = 50
RESERVE_STROOPS = 10_000_000
YEAR_SECONDS = 365 * 86400
DECISION_FIELDS = frozenset({"agent_did", "account", "opportunities"})
OPPORTUNITY_FIELDS = frozenset({"id", "type", "terms", "escrow"})


@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    kind: str  # loan | escrow
    amount_stroops: int
    rate: float
    duration_seconds: float
    collateral_ratio: float  # collateral / amount (0 without collateral)


def parse_decisions(
    body: Any, agent_header: str | None, default_account: str, validator: InputValidator, clock: Clock
) -> tuple[str, str, list[Opportunity]]:
    """(agent DID, account, opportunities) or ValidationError naming the field."""
    body = validator.validate_required_fields(body, ("opportunities",), "body")
    reject_unknown(body, DECISION_FIELDS)
    account = validator.validate_stellar_address(body.get("account", default_account), "account")
    items = body["opportunities"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_OPPORTUNITIES:
        raise ValidationError("opportunities", f"must be a list of 1..{MAX_OPPORTUNITIES} objects")
    opportunities = [
        _parse_one(item, f"opportunities[{i}]", validator, clock) for i, item in enumerate(items)
    ]
    return agent_did_of(body, agent_header, validator), account, opportunities


def _parse_one(item: Any, field: str, validator: InputValidator, clock: Clock) -> Opportunity:
    item = validator.validate_required_fields(item, ("id", "type"), field)
    reject_unknown(item, OPPORTUNITY_FIELDS, f"{field}.")
    ident = validator.sanitize_string(item["id"], f"{field}.id", max_length=64)
    if item["type"] == "loan":
        terms = validator.validate_loan_terms(item.get("terms"), f"{field}.terms")
        amount = validator.validate_amount_stroops(terms["principal"], f"{field}.terms.principal")
        collateral = Decimal(terms.get("collateral", "0")) * 10_000_000
        return Opportunity(
            ident,
            "loan",
            amount,
            float(terms["interestRate"]),
            terms["durationSeconds"],
            float(collateral / amount),
        )
    if item["type"] == "escrow":
        params = validator.validate_escrow_params(item.get("escrow"), field=f"{field}.escrow")
        return Opportunity(
            ident, "escrow", params["amountStroops"], 0.0, max(0.0, params["deadline"] - clock.time()), 0.0
        )
    raise ValidationError(f"{field}.type", "must be 'loan' or 'escrow'")


def risk_score(op: Opportunity, balance_stroops: int) -> float:
    base = 0.2 if op.kind == "loan" else 0.1
    rate = min(1.0, op.rate / 0.5) * 0.25
    duration = min(1.0, op.duration_seconds / YEAR_SECONDS) * 0.15
    uncovered = max(0.0, 1.0 - op.collateral_ratio) * 0.15 if op.kind == "loan" else 0.0
    exposure = min(1.0, op.amount_stroops / balance_stroops) * 0.3 if balance_stroops > 0 else 0.3
    return round(min(1.0, base + rate + duration + uncovered + exposure), 4)


class DecisionEngine:
    """Evaluates opportunities; keeps the last good balance per account (bounded) as the fallback."""

    def __init__(
        self,
        client: FailoverStellarClient,
        agent: AgentConfig,
        clock: Clock = SYSTEM_CLOCK,
        cache_size: int = 10_000,
    ) -> None:
        self.client = client
        self.agent = agent
        self.clock = clock
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self._daily: OrderedDict[str, tuple[int, int]] = OrderedDict()  # agent DID -> (UTC day, stroops)

    def _spent_today(self, agent_did: str) -> tuple[int, int]:
        day = int(self.clock.time() // 86_400)
        spent_day, spent = self._daily.get(agent_did, (day, 0))
        return day, spent if spent_day == day else 0

    def _commit(self, agent_did: str, day: int, total: int) -> None:
        self._daily[agent_did] = (day, total)
        self._daily.move_to_end(agent_did)
        while len(self._daily) > self._cache_size:
            self._daily.popitem(last=False)

    async def balance(self, account: str) -> tuple[int | None, str]:
        """(stroops or None, source) where source is live, cache or unavailable."""
        try:
            stroops = await self.client.native_balance_stroops(account)
        except StellarUnavailableError:
            cached = self._cache.get(account)
            return (cached, "cache") if cached is not None else (None, "unavailable")
        if stroops is None:
            raise ValidationError("account", "does not exist on the ledger")
        self._cache[account] = stroops
        self._cache.move_to_end(account)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return stroops, "live"

    async def evaluate(
        self, agent_did: str, account: str, opportunities: list[Opportunity]
    ) -> dict[str, Any]:
        balance, source = await self.balance(account)
        limit = int(Decimal(str(self.agent.max_operation_amount)) * 10_000_000)
        daily_limit = int(Decimal(str(self.agent.daily_limit)) * 10_000_000)
        tolerance = self.agent.risk_level
        spendable = max(0, (balance or 0) - RESERVE_STROOPS)
        day, spent = self._spent_today(agent_did)
        committed = 0
        decisions = []
        for op in opportunities:
            score = risk_score(op, balance or 0)
            reasons = []
            if balance is None:
                reasons.append("balance_unavailable")
            if score > tolerance:
                reasons.append("risk_above_tolerance")
            if op.amount_stroops > limit:
                reasons.append("exceeds_limit")
            if balance is not None and committed + op.amount_stroops > spendable:
                reasons.append("exceeds_balance")
            if spent + committed + op.amount_stroops > daily_limit:
                reasons.append("exceeds_daily_limit")
            if not reasons:
                committed += op.amount_stroops
            decisions.append(
                {
                    "id": op.id,
                    "type": op.kind,
                    "action": "reject" if reasons else "accept",
                    "risk_score": score,
                    "amount": stroops_to_amount(op.amount_stroops),
                    "reasons": reasons,
                }
            )
        self._commit(agent_did, day, spent + committed)
        return {
            "agent_did": agent_did,
            "risk_tolerance": tolerance,
            "decisions": decisions,
            "balance": {
                "account": account,
                "source": source,
                "xlm": None if balance is None else stroops_to_amount(balance),
            },
        }
