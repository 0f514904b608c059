"""Soroban resource fees, as rs-soroban-env v21.0.0 `soroban-env-host/src/fees.rs` computes them, and the
simulation's resource adjustments (`soroban-simulation/src/simulation.rs` `default_adjustment`,
`resources.rs` `compute_resource_fee`, `compute_adjusted_transaction_resources`,
`estimate_max_transaction_size_for_operation`).

The formulas are exact; what is approximated is the resource consumption fed into them (instructions
and memory come from a fixed cost model, see host.py). Simulation and apply use the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import xdr as X

from harness.ledger.soroban.network import SorobanSettings

TX_BASE_RESULT_SIZE = 300
TTL_ENTRY_SIZE = 48
INSTRUCTIONS_INCREMENT = 10_000
DATA_SIZE_1KB_INCREMENT = 1024


def _per_increment(value: int, rate: int, increment: int) -> int:
    """compute_fee_per_increment: ceil(value x rate / increment)."""
    return -(-(value * rate) // increment)


@dataclass(frozen=True, slots=True)
class TxResources:
    """TransactionResources of fees.rs. The fee counts `read_entries + write_entries` reads: core passes
    the read-only footprint as `read_entries` (TransactionFrame::computeSorobanResourceFee), v21's
    simulation passes read-only + read-write (`compute_adjusted_transaction_resources`), so simulation
    charges every read-write entry's read twice - a safe overestimate kept as the source has it."""

    instructions: int
    read_entries: int
    write_entries: int
    read_bytes: int
    write_bytes: int
    transaction_size_bytes: int
    contract_events_size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class RentChange:
    """LedgerEntryRentChange: one entry whose TTL was extended or whose size grew."""

    persistent: bool
    old_size: int
    new_size: int
    old_live_until: int
    new_live_until: int


def transaction_resource_fee(res: TxResources, s: SorobanSettings) -> tuple[int, int]:
    """compute_transaction_resource_fee: (non-refundable, refundable) fee of these resources."""
    compute = _per_increment(res.instructions, s.fee_rate_per_instructions_increment, INSTRUCTIONS_INCREMENT)
    read_entries = s.fee_read_ledger_entry * (res.read_entries + res.write_entries)
    write_entries = s.fee_write_ledger_entry * res.write_entries
    read_bytes = _per_increment(res.read_bytes, s.fee_read_1kb, DATA_SIZE_1KB_INCREMENT)
    write_bytes = _per_increment(res.write_bytes, s.fee_write_1kb, DATA_SIZE_1KB_INCREMENT)
    historical = _per_increment(res.transaction_size_bytes + TX_BASE_RESULT_SIZE, s.fee_historical_1kb,
                                DATA_SIZE_1KB_INCREMENT)
    bandwidth = _per_increment(res.transaction_size_bytes, s.fee_tx_size_1kb, DATA_SIZE_1KB_INCREMENT)
    events = _per_increment(res.contract_events_size_bytes, s.fee_contract_events_1kb, DATA_SIZE_1KB_INCREMENT)
    return compute + read_entries + write_entries + read_bytes + write_bytes + historical + bandwidth, events


def rent_fee(changes: list[RentChange], s: SorobanSettings, ledger_seq: int) -> int:
    """compute_rent_fee: rent for the ledgers each entry was extended by and for its growth, plus the
    TTL entry writes of the extended entries."""
    fee, extended = 0, 0
    for c in changes:
        new = c.old_size == 0 and c.old_live_until == 0
        before = ledger_seq - 1 if new else c.old_live_until
        if c.new_live_until >= before:
            fee += _rent(c.persistent, c.new_size, c.new_live_until - before, s)
        if not new and c.old_live_until >= ledger_seq and c.new_size >= c.old_size:
            fee += _rent(c.persistent, c.new_size - c.old_size, c.old_live_until - ledger_seq + 1, s)
        if c.old_live_until < c.new_live_until:
            extended += 1
    fee += s.fee_write_ledger_entry * extended
    return fee + _per_increment(extended * TTL_ENTRY_SIZE, s.fee_write_1kb, DATA_SIZE_1KB_INCREMENT)


def _rent(persistent: bool, size: int, ledgers: int, s: SorobanSettings) -> int:
    """rent_fee_for_size_and_ledgers."""
    denominator = s.persistent_rent_rate_denominator if persistent else s.temp_rent_rate_denominator
    return -(-(size * s.fee_write_1kb * ledgers) // (DATA_SIZE_1KB_INCREMENT * denominator))


@dataclass(frozen=True, slots=True)
class Adjustment:
    """SimulationAdjustmentFactor: max(value + additive, floor(value x multiplicative)); 0 stays 0."""

    multiplicative: float
    additive: int

    def apply(self, value: int) -> int:
        return 0 if value == 0 else max(value + self.additive, int(value * self.multiplicative))


# SimulationAdjustmentConfig::default_adjustment (what stellar-rpc's preflight uses)
INSTRUCTIONS = Adjustment(1.04, 50_000)
TX_SIZE = Adjustment(1.1, 500)
REFUNDABLE_FEE = Adjustment(1.15, 0)


def max_transaction_size(op: X.InvokeHostFunctionOp, footprint: X.LedgerFootprint) -> int:
    """estimate_max_transaction_size_for_operation: the XDR size of the largest envelope that could
    carry this operation (muxed source, every precondition, a hash memo, 20 signatures)."""
    source = X.MuxedAccount(X.CryptoKeyType.KEY_TYPE_MUXED_ED25519,
                            med25519=X.MuxedAccountMed25519(X.Uint64(0), X.Uint256(bytes(32))))
    signer = X.SignerKey(X.SignerKeyType.SIGNER_KEY_TYPE_ED25519_SIGNED_PAYLOAD,
                         ed25519_signed_payload=X.SignerKeyEd25519SignedPayload(X.Uint256(bytes(32)), bytes(64)))
    cond = X.Preconditions(X.PreconditionType.PRECOND_V2, v2=X.PreconditionsV2(
        X.TimeBounds(X.TimePoint(X.Uint64(0)), X.TimePoint(X.Uint64(0))),
        X.LedgerBounds(X.Uint32(0), X.Uint32(0)), X.SequenceNumber(X.Int64(0)),
        X.Duration(X.Uint64(0)), X.Uint32(0), [signer, signer]))
    data = X.SorobanTransactionData(X.SorobanTransactionDataExt(0),
                                    X.SorobanResources(footprint, X.Uint32(0), X.Uint32(0), X.Uint32(0)), X.Int64(0))
    tx = X.Transaction(source, X.Uint32(0), X.SequenceNumber(X.Int64(0)), cond,
                       X.Memo(X.MemoType.MEMO_HASH, hash=X.Hash(bytes(32))),
                       [X.Operation(source, X.OperationBody(X.OperationType.INVOKE_HOST_FUNCTION,
                                                            invoke_host_function_op=op))],
                       X.TransactionExt(1, soroban_data=data))
    signatures = [X.DecoratedSignature(X.SignatureHint(bytes(4)), X.Signature(bytes(64)))] * 20
    return len(X.TransactionV1Envelope(tx, signatures).to_xdr_bytes())
