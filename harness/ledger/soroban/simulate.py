"""simulateTransaction: stellar-rpc's checks (cmd/stellar-rpc/internal/methods/simulate_transaction.go:
one operation, no memo, the auth mode), then preflight as soroban-simulation v21 runs it
(`simulate_invoke_host_function_op`): the invocation in recording footprint mode against the latest
ledger (recording auth when the operation has no auth entries, enforcing otherwise), then the
resources it used - footprint, instructions, read and write bytes - adjusted as
`SimulationAdjustmentConfig::default_adjustment` adjusts them, and the minimum resource fee. The ledger
is left as it was (the journal rolls back).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from stellar_sdk import xdr as X

from harness.ledger.assets import account_strkey
from harness.ledger.journal import Journal
from harness.ledger.soroban.fees import (
    INSTRUCTIONS,
    REFUNDABLE_FEE,
    TX_SIZE,
    Adjustment,
    TxResources,
    max_transaction_size,
    rent_fee,
    transaction_resource_fee,
)
from harness.ledger.soroban.host import Host, source_address
from harness.ledger.soroban.network import SETTINGS, SorobanSettings
from harness.ledger.soroban.values import host_error_text
from harness.ledger.state import LedgerState

AUTH_MODES = ("enforce", "record", "record_allow_nonroot")


@dataclass(slots=True)
class Simulation:
    """What preflight returns: an error, or the transaction data, fee, result, auth and state changes."""

    latest_ledger: int
    error: str | None = None
    transaction_data: X.SorobanTransactionData | None = None
    min_resource_fee: int = 0
    result: X.SCVal | None = None
    auth: list[X.SorobanAuthorizationEntry] = field(default_factory=list)
    events: list[X.DiagnosticEvent] = field(default_factory=list)
    state_changes: list[tuple[X.LedgerKey, X.LedgerEntry | None, X.LedgerEntry | None]] = field(default_factory=list)


def _envelope_parts(envelope: X.TransactionEnvelope) -> tuple[X.Transaction | None, str | None]:
    if envelope.fee_bump is not None:
        inner = envelope.fee_bump.tx.inner_tx.v1
        return (inner.tx if inner is not None else None), None
    if envelope.v1 is not None:
        return envelope.v1.tx, None
    return None, "Transaction contains more than one operation"  # a v0 envelope cannot carry Soroban data


def simulate(state: LedgerState, envelope: X.TransactionEnvelope, network_id: bytes, latest_ledger: int,
             auth_mode: str = "", instruction_leeway: int = 0, rng: random.Random | None = None,
             settings: SorobanSettings = SETTINGS) -> Simulation:
    """Simulate the one operation of `envelope` at ledger `latest_ledger`; never changes `state`."""
    tx, problem = _envelope_parts(envelope)
    if tx is None or len(tx.operations) != 1:
        return Simulation(latest_ledger, problem or "Transaction contains more than one operation")
    if tx.memo.type != X.MemoType.MEMO_NONE:
        return Simulation(latest_ledger, "Transaction contains a memo. Soroban transactions do not support memos.")
    op = tx.operations[0]
    body = op.body
    if body.type in (X.OperationType.EXTEND_FOOTPRINT_TTL, X.OperationType.RESTORE_FOOTPRINT):
        return Simulation(latest_ledger, f"{body.type.name} is not simulated by the offline network")
    invoke = body.invoke_host_function_op
    if invoke is None:
        return Simulation(latest_ledger, f"Transaction contains unsupported operation type: {_go_name(body.type)}")
    if auth_mode not in ("", *AUTH_MODES):
        return Simulation(latest_ledger, "optional 'authMode' must be one of " + ",".join(AUTH_MODES) + " when included")
    has_auth = len(invoke.auth) > 0
    if has_auth and auth_mode in ("record", "record_allow_nonroot"):
        return Simulation(latest_ledger, f"cannot set authMode to '{auth_mode}' with an auth footprint")
    enforce = auth_mode == "enforce" or (auth_mode == "" and has_auth)
    source = op.source_account or tx.source_account
    raw = source.ed25519.uint256 if source.ed25519 is not None else source.med25519.ed25519.uint256  # type: ignore[union-attr]
    journal = Journal(state)
    host = Host(journal, None, list(invoke.auth) if enforce else None, source_address(account_strkey(raw)),
                latest_ledger, network_id, settings, settings.tx_max_instructions, rng or random.SystemRandom())
    try:
        outcome = host.invoke(invoke.host_function)
        if outcome.error is not None:
            return Simulation(latest_ledger, host_error_text(outcome.error, outcome.diagnostic_events),
                              events=outcome.diagnostic_events)
        storage = host.storage
        footprint = storage.footprint()
        instructions = Adjustment(INSTRUCTIONS.multiplicative, max(INSTRUCTIONS.additive, instruction_leeway))
        resources = X.SorobanResources(footprint, X.Uint32(instructions.apply(outcome.cpu)),
                                       X.Uint32(storage.read_bytes()), X.Uint32(storage.write_bytes()))
        auth = outcome.auth if not enforce else list(invoke.auth)
        sized = X.InvokeHostFunctionOp(invoke.host_function, auth)
        res = TxResources(resources.instructions.uint32, len(footprint.read_only) + len(footprint.read_write),
                          len(footprint.read_write), resources.disk_read_bytes.uint32, resources.write_bytes.uint32,
                          TX_SIZE.apply(max_transaction_size(sized, footprint)), outcome.events_size)
        non_refundable, refundable = transaction_resource_fee(res, settings)
        refundable = REFUNDABLE_FEE.apply(refundable + rent_fee(storage.rent_changes(), settings, latest_ledger))
        fee = non_refundable + refundable
        changes = [(a.key, a.old_entry, storage.entry(a.key)) for a in storage.accessed.values() if a.mode == "rw"]
        return Simulation(latest_ledger, None, X.SorobanTransactionData(X.SorobanTransactionDataExt(0), resources,
                                                                        X.Int64(fee)),
                          fee, outcome.return_value, auth, outcome.diagnostic_events,
                          [c for c in changes if c[1] is not None or c[2] is not None])
    finally:
        journal.rollback()


def _go_name(kind: X.OperationType) -> str:
    """xdr.OperationType.String() of stellar/go: OperationTypeCreateAccount, ..."""
    return "OperationType" + "".join(part.capitalize() for part in kind.name.split("_"))
