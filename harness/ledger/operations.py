"""What each supported operation does, as stellar-core's operation frames do it (src/transactions/):
CreateAccountOpFrame, PaymentOpFrame (via PathPaymentStrictReceiveOpFrame / PathPaymentOpFrameBase),
CreateClaimableBalanceOpFrame, ClaimClaimableBalanceOpFrame, ManageDataOpFrame, ChangeTrustOpFrame,
SetOptionsOpFrame and SetTrustLineFlagsOpFrame. `well_formed` is each frame's doCheckValid,
`apply_operation` its doApply. Credit balances go through `credit`/`debit`, which treat the
issuer as core's TrustLineWrapper::IssuerImpl does: no trustline, unlimited, always authorized,
and the issued amount grows (paid out) or shrinks (paid back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.ledger.assets import NATIVE, issuer_of
from harness.ledger.envelope import Op, ParsedTx
from harness.ledger.journal import Journal
from harness.ledger.predicates import predicate_holds, predicate_is_valid, predicate_to_json
from harness.ledger.state import (
    AUTH_CLAWBACK,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    MAX_SUBENTRIES,
    TL_AUTHORIZED,
    TL_CLAWBACK,
    TL_MAINTAIN_LIABILITIES,
    Account,
    ClaimableBalance,
    TrustLine,
)

INT64_MAX = 2**63 - 1
MAX_SIGNERS = 20
ACCOUNT_FLAGS = AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_IMMUTABLE | AUTH_CLAWBACK
TRUSTLINE_FLAGS = TL_AUTHORIZED | TL_MAINTAIN_LIABILITIES | TL_CLAWBACK
_LEVELS = {"create_account": "med", "payment": "med", "create_claimable_balance": "med",
           "claim_claimable_balance": "low", "manage_data": "med", "change_trust": "med",
           "set_trust_line_flags": "low", "set_options": "med", "invoke_host_function": "med"}
_HIGH_OPTIONS = ("master_weight", "low_threshold", "med_threshold", "high_threshold", "signer")


def op_threshold(op: Op) -> str | None:
    """The threshold level the op source must meet (getThresholdLevel), None for unsupported ops."""
    if op.type == "set_options" and any(op.option(name) is not None for name in _HIGH_OPTIONS):
        return "high"
    return _LEVELS.get(op.type)


def well_formed(op: Op, source: str) -> str:
    """doCheckValid: `op_success` or the malformed-kind code."""
    if op.type in ("payment", "create_claimable_balance") and (op.asset is None or op.amount <= 0):
        return "op_malformed"
    if op.type == "create_account":
        return "op_malformed" if op.amount < 0 or op.destination == source else "op_success"
    if op.type == "create_claimable_balance":
        destinations = [d for d, _ in op.claimants]
        bad = (not 1 <= len(destinations) <= 10 or len(set(destinations)) != len(destinations)
               or not all(predicate_is_valid(p) for _, p in op.claimants))
        return "op_malformed" if bad else "op_success"
    if op.type == "manage_data":
        name = op.data_name or b""
        return "op_success" if 1 <= len(name) <= 64 and all(32 <= c < 127 for c in name) else "op_invalid_name"
    if op.type == "change_trust":
        bad = op.amount < 0 or op.asset is None or op.asset == NATIVE or issuer_of(op.asset) == source
        return "op_malformed" if bad else "op_success"
    if op.type == "set_trust_line_flags":
        return _trust_flags_malformed(op, source)
    if op.type == "set_options":
        return _set_options_malformed(op, source)
    return "op_success"


def _trust_flags_malformed(op: Op, source: str) -> str:
    set_flags, clear_flags = op.int_option("set_flags"), op.int_option("clear_flags")
    bad = (op.asset is None or op.asset == NATIVE or issuer_of(op.asset) != source or op.destination == source
           or set_flags & clear_flags or set_flags & ~(TL_AUTHORIZED | TL_MAINTAIN_LIABILITIES)
           or (set_flags & TL_AUTHORIZED and set_flags & TL_MAINTAIN_LIABILITIES) or clear_flags & ~TRUSTLINE_FLAGS)
    return "op_malformed" if bad else "op_success"


def _set_options_malformed(op: Op, source: str) -> str:
    set_flags, clear_flags = op.option("set_flags"), op.option("clear_flags")
    if any(isinstance(f, int) and f & ~ACCOUNT_FLAGS for f in (set_flags, clear_flags)):
        return "op_unknown_flag"
    if isinstance(set_flags, int) and isinstance(clear_flags, int) and set_flags & clear_flags:
        return "op_bad_flags"
    if any(op.int_option(n) > 255 for n in ("master_weight", "low_threshold", "med_threshold",
                                                  "high_threshold")):
        return "op_threshold_out_of_range"
    signer = op.option("signer")
    if isinstance(signer, tuple) and (signer[1] == source or signer[2] > 255):
        return "op_bad_signer"
    domain = op.option("home_domain")
    if isinstance(domain, bytes) and not all(32 <= c < 127 for c in domain):
        return "op_invalid_home_domain"
    return "op_success"


@dataclass(frozen=True, slots=True)
class OpContext:
    ptx: ParsedTx
    index: int
    ledger_seq: int
    close_time: int
    soroban: Any = None  # harness.ledger.soroban.invoke.SorobanRun of a Soroban transaction


def apply_operation(j: Journal, ctx: OpContext, op: Op) -> tuple[str, str | None]:
    """doApply against the journal's state: (code, id of a created claimable balance or, for
    invoke_host_function, the hex hash of its success preimage)."""
    source = j.account(op.source or ctx.ptx.source)
    if source is None:
        return "op_no_source_account", None
    if op.type == "create_claimable_balance":
        return _create_claimable_balance(j, source, op, ctx)
    if op.type == "invoke_host_function":
        return ctx.soroban.invoke(j, source.account_id)
    handler = _HANDLERS.get(op.type)
    return (handler(j, source, op, ctx) if handler else "op_not_supported"), None


def _subentry_code(j: Journal, account: Account, low_reserve: str) -> str | None:
    """createEntryWithPossibleSponsorship for one more subentry: too many, or not enough reserve."""
    if account.subentry_count >= MAX_SUBENTRIES:
        return "op_too_many_subentries"
    return low_reserve if j.state.available(account) < j.state.base_reserve else None


def credit(j: Journal, account_id: str, asset: str, amount: int) -> str | None:
    """Add `amount` of a credit asset to an account; an error code when core would refuse."""
    if issuer_of(asset) == account_id:
        j.add_issued(asset, -amount)
        return None
    line = j.trustline(account_id, asset)
    if line is None:
        return "op_no_trust"
    if not line.authorized:
        return "op_not_authorized"
    if line.balance > line.limit - amount:
        return "op_line_full"
    line.balance += amount
    return None


def debit(j: Journal, account_id: str, asset: str, amount: int) -> str | None:
    """Take `amount` of a credit asset from an account (codes as PathPaymentOpFrameBase's source side)."""
    if issuer_of(asset) == account_id:
        j.add_issued(asset, amount)
        return None
    line = j.trustline(account_id, asset)
    if line is None:
        return "op_src_no_trust"
    if not line.authorized:
        return "op_src_not_authorized"
    if line.balance < amount:
        return "op_underfunded"
    line.balance -= amount
    return None


def _create_account(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.destination is not None
    if j.account(op.destination) is not None:
        return "op_already_exists"
    if op.amount < 2 * j.state.base_reserve:
        return "op_low_reserve"
    if j.state.available(source) < op.amount:
        return "op_underfunded"
    source.balance -= op.amount
    j.state.accounts[op.destination] = Account(op.destination, op.amount, ctx.ledger_seq << 32,
                                               last_modified_ledger=ctx.ledger_seq)
    return "op_success"


def _payment(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.destination is not None and op.asset is not None
    if op.asset == NATIVE:
        return _native_payment(j, source, op)
    if issuer_of(op.asset) != op.destination and j.account(op.destination) is None:
        return "op_no_destination"  # shouldBypassIssuerCheck: paying the issuer needs no account check
    return credit(j, op.destination, op.asset, op.amount) or debit(j, source.account_id, op.asset, op.amount) \
        or "op_success"


def _native_payment(j: Journal, source: Account, op: Op) -> str:
    assert op.destination is not None
    destination = j.account(op.destination)
    if destination is None:
        return "op_no_destination"
    if destination is source:
        return "op_success"  # PaymentOpFrame: native to self is an instant success
    if destination.balance > INT64_MAX - op.amount:
        return "op_line_full"
    if j.state.available(source) < op.amount:
        return "op_underfunded"
    source.balance -= op.amount
    destination.balance += op.amount
    return "op_success"


def _create_claimable_balance(j: Journal, source: Account, op: Op, ctx: OpContext) -> tuple[str, str | None]:
    assert op.asset is not None
    if op.asset == NATIVE:
        if j.state.available(source) < op.amount:
            return "op_underfunded", None
        source.balance -= op.amount
    else:
        code = debit(j, source.account_id, op.asset, op.amount)
        if code is not None:
            return {"op_src_no_trust": "op_no_trust", "op_src_not_authorized": "op_not_authorized"}.get(code, code), None
    if j.state.available(source) < len(op.claimants) * j.state.base_reserve:
        return "op_low_reserve", None
    balance_id = ctx.ptx.claimable_balance_id(ctx.index)
    j.balance(balance_id)
    source.num_sponsoring += len(op.claimants)
    j.state.claimable[balance_id] = ClaimableBalance(
        balance_id=balance_id, amount=op.amount, sponsor=source.account_id, asset=op.asset,
        claimants=[(d, predicate_to_json(p, ctx.close_time)) for d, p in op.claimants],
        last_modified_ledger=ctx.ledger_seq, last_modified_time=ctx.close_time)
    return "op_success", balance_id


def _claim(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.balance_id is not None
    balance = j.balance(op.balance_id)
    if balance is None:
        return "op_does_not_exist"
    predicate = next((p for d, p in balance.claimants if d == source.account_id), None)
    if predicate is None or not predicate_holds(predicate, ctx.close_time):
        return "op_cannot_claim"
    if balance.asset == NATIVE:
        if source.balance > INT64_MAX - balance.amount:
            return "op_line_full"
        source.balance += balance.amount
    else:
        code = credit(j, source.account_id, balance.asset, balance.amount)
        if code is not None:
            return code
    sponsor = j.account(balance.sponsor)
    if sponsor is not None:
        sponsor.num_sponsoring -= len(balance.claimants)
    del j.state.claimable[op.balance_id]
    return "op_success"


def _manage_data(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.data_name is not None
    name = op.data_name.decode("ascii")
    existing = j.data(source.account_id, name)
    if op.data_value is None:
        if existing is None:
            return "op_data_name_not_found"
        del source.data[name]
        source.subentry_count -= 1
        return "op_success"
    if existing is None:
        code = _subentry_code(j, source, "op_low_reserve")
        if code is not None:
            return code
        source.subentry_count += 1
    source.data[name] = op.data_value
    return "op_success"


def _change_trust(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.asset is not None
    issuer_id = issuer_of(op.asset)
    assert issuer_id is not None
    line = j.trustline(source.account_id, op.asset)
    if line is not None:
        if op.amount < line.balance:
            return "op_invalid_limit"
        if op.amount == 0:
            j.state.drop_trustline(source.account_id, op.asset)
            source.subentry_count -= 1
            return "op_success"
        if j.account(issuer_id) is None:
            return "op_no_issuer"
        line.limit = op.amount
        return "op_success"
    if op.amount == 0:
        return "op_invalid_limit"
    issuer = j.account(issuer_id)
    if issuer is None:
        return "op_no_issuer"
    flags = (0 if issuer.flags & AUTH_REQUIRED else TL_AUTHORIZED) | (TL_CLAWBACK if issuer.flags & AUTH_CLAWBACK else 0)
    code = _subentry_code(j, source, "op_low_reserve")
    if code is not None:
        return code
    source.subentry_count += 1
    j.state.put_trustline(TrustLine(source.account_id, op.asset, 0, op.amount, flags, ctx.ledger_seq, ctx.close_time))
    return "op_success"


def _set_trust_line_flags(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    assert op.asset is not None and op.destination is not None
    set_flags, clear_flags = op.int_option("set_flags"), op.int_option("clear_flags")
    if not source.flags & AUTH_REVOCABLE and clear_flags & (TL_AUTHORIZED | TL_MAINTAIN_LIABILITIES) \
            and not set_flags & TL_AUTHORIZED:
        return "op_cant_revoke"
    line = j.trustline(op.destination, op.asset)
    if line is None:
        return "op_no_trust"
    flags = (line.flags & ~clear_flags) | set_flags
    if flags & TL_AUTHORIZED and flags & TL_MAINTAIN_LIABILITIES:
        return "op_invalid_state"
    line.flags = flags
    return "op_success"


def _set_options(j: Journal, source: Account, op: Op, ctx: OpContext) -> str:
    signer = op.option("signer")
    if isinstance(signer, tuple) and signer[0] != "SIGNER_KEY_TYPE_ED25519":
        return "op_not_supported"  # pre-auth, hash(x) and signed-payload signers are not simulated
    inflation = op.option("inflation_dest")
    if isinstance(inflation, str):
        if inflation != source.account_id and j.account(inflation) is None:
            return "op_invalid_inflation"
        source.inflation_dest = inflation
    for name, combine in (("clear_flags", lambda f, v: f & ~v), ("set_flags", lambda f, v: f | v)):
        value = op.option(name)
        if isinstance(value, int):
            if value & ACCOUNT_FLAGS and source.flags & AUTH_IMMUTABLE:
                return "op_cant_change"
            source.flags = combine(source.flags, value)
    if source.flags & AUTH_CLAWBACK and not source.flags & AUTH_REVOCABLE:
        return "op_auth_revocable_required"
    domain = op.option("home_domain")
    if isinstance(domain, bytes):
        source.home_domain = domain.decode("ascii")
    for name in ("master_weight", "low_threshold", "med_threshold", "high_threshold"):
        value = op.option(name)
        if isinstance(value, int):
            setattr(source, name, value)
    return _set_signer(j, source, signer) if isinstance(signer, tuple) else "op_success"


def _set_signer(j: Journal, source: Account, signer: tuple[str, str, int]) -> str:
    _, key, weight = signer
    if weight == 0:
        if source.signers.pop(key, None) is not None:
            source.subentry_count -= 1
        return "op_success"
    if key not in source.signers:
        if len(source.signers) >= MAX_SIGNERS:
            return "op_too_many_signers"
        code = _subentry_code(j, source, "op_low_reserve")
        if code is not None:
            return code
        source.subentry_count += 1
    source.signers[key] = weight
    return "op_success"


_HANDLERS = {"create_account": _create_account, "payment": _payment, "claim_claimable_balance": _claim,
             "manage_data": _manage_data, "change_trust": _change_trust,
             "set_trust_line_flags": _set_trust_line_flags, "set_options": _set_options}
