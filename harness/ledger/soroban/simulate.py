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

from stellar_sdk import MuxedAccount
from stellar_sdk import xdr as X

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
from harness.ledger.soroban.host import Host, Outcome, source_address
from harness.ledger.soroban.network import SETTINGS, SorobanSettings
from harness.ledger.soroban.values import go_enum_name, host_error_text
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
        return Simulation(latest_ledger, "Transaction contains unsupported operation type: "
                          + go_enum_name("OperationType", body.type.name))
    if auth_mode not in ("", *AUTH_MODES):
        return Simulation(latest_ledger, "optional 'authMode' must be one of " + ",".join(AUTH_MODES) + " when included")
    has_auth = len(invoke.auth) > 0
    if has_auth and auth_mode in ("record", "record_allow_nonroot"):
        return Simulation(latest_ledger, f"cannot set authMode to '{auth_mode}' with an auth footprint")
    enforce = auth_mode == "enforce" or (auth_mode == "" and has_auth)
    source = MuxedAccount.from_xdr_object(op.source_account or tx.source_account).account_id
    journal = Journal(state)
    host = Host(journal, None, list(invoke.auth) if enforce else None, source_address(source), latest_ledger,
                network_id, settings, settings.tx_max_instructions, rng or random.SystemRandom())
    try:
        outcome = host.invoke(invoke.host_function)
        if outcome.error is not None:
            return Simulation(latest_ledger, host_error_text(outcome.error, outcome.diagnostic_events),
                              events=outcome.diagnostic_events)
        auth = list(invoke.auth) if enforce else outcome.auth
        data = _transaction_data(host, outcome, X.InvokeHostFunctionOp(invoke.host_function, auth),
                                 max(INSTRUCTIONS.additive, instruction_leeway), latest_ledger, settings)
        changes = [(a.key, a.old_entry, host.storage.entry(a.key)) for a in host.storage.accessed.values()
                   if a.mode == "rw"]
        return Simulation(latest_ledger, None, data, data.resource_fee.int64, outcome.return_value, auth,
                          outcome.diagnostic_events, [c for c in changes if c[1] is not None or c[2] is not None])
    finally:
        journal.rollback()


def _transaction_data(host: Host, outcome: Outcome, op: X.InvokeHostFunctionOp, instruction_leeway: int,
                      ledger_seq: int, settings: SorobanSettings) -> X.SorobanTransactionData:
    """The adjusted resources of the invocation and their fee (compute_adjusted_transaction_resources,
    compute_resource_fee)."""
    storage = host.storage
    footprint = storage.footprint()
    instructions = Adjustment(INSTRUCTIONS.multiplicative, instruction_leeway).apply(outcome.cpu)
    resources = X.SorobanResources(footprint, X.Uint32(instructions), X.Uint32(storage.read_bytes()),
                                   X.Uint32(storage.write_bytes()))
    res = TxResources(instructions, len(footprint.read_only) + len(footprint.read_write), len(footprint.read_write),
                      storage.read_bytes(), storage.write_bytes(), TX_SIZE.apply(max_transaction_size(op, footprint)),
                      outcome.events_size)
    non_refundable, refundable = transaction_resource_fee(res, settings)
    refundable = REFUNDABLE_FEE.apply(refundable + rent_fee(storage.rent_changes(), settings, ledger_seq))
    return X.SorobanTransactionData(X.SorobanTransactionDataExt(0), resources, X.Int64(non_refundable + refundable))
