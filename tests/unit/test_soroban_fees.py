"""Soroban resource fees: the formulas against rs-soroban-env v21.0.0's own test vectors
(soroban-env-host/tests/fees.rs), and simulation and apply agreeing (soroban-simulation resources.rs
adjustments; stellar-core TransactionFrame `computePreApplySorobanResourceFee`, `refundSorobanFee`)."""

from __future__ import annotations

from dataclasses import replace

from stellar_sdk import xdr as X

from harness.ledger.envelope import parse_envelope
from harness.ledger.soroban.fees import (
    INSTRUCTIONS,
    TTL_ENTRY_SIZE,
    RentChange,
    TxResources,
    max_transaction_size,
    rent_fee,
    transaction_resource_fee,
)
from harness.ledger.soroban.network import SorobanSettings
from harness.ledger.soroban.transaction import pre_apply_fee
from tests.soroban_support import PAYER, SUBMITTER, signed_transfer, simulated, soroban_ledger, transfer

RATES = SorobanSettings(fee_rate_per_instructions_increment=1000, fee_read_ledger_entry=2000,
                        fee_write_ledger_entry=3000, fee_read_1kb=4000, fee_write_1kb=5000, fee_historical_1kb=6000,
                        fee_contract_events_1kb=7000, fee_tx_size_1kb=8000)
NONE = TxResources(0, 0, 0, 0, 0, 0, 0)
BASE_HISTORICAL = 1758  # ceil(6000 * 300 / 1024): every result pays for 300 bytes


def test_ttl_entry_size_is_what_a_ttl_ledger_entry_encodes_to() -> None:
    entry = X.LedgerEntry(X.Uint32(0), X.LedgerEntryData(X.LedgerEntryType.TTL, ttl=X.TTLEntry(X.Hash(bytes(32)), X.Uint32(0))),
                          X.LedgerEntryExt(0))
    assert len(entry.to_xdr_bytes()) == TTL_ENTRY_SIZE


def test_resource_fee_single_resources_match_fees_rs() -> None:
    """resource_fee_computation_with_single_resource."""
    cases = [
        (replace(NONE, instructions=1), (1 + BASE_HISTORICAL, 0)),
        (replace(NONE, instructions=123_451_234), (12_345_124 + BASE_HISTORICAL, 0)),
        (replace(NONE, read_entries=5), (2000 * 5 + BASE_HISTORICAL, 0)),
        (replace(NONE, write_entries=5), ((2000 + 3000) * 5 + BASE_HISTORICAL, 0)),
        (replace(NONE, read_bytes=5 * 1024 + 1), (20_004 + BASE_HISTORICAL, 0)),
        (replace(NONE, write_bytes=5 * 1024 + 1), (25_005 + BASE_HISTORICAL, 0)),
        (replace(NONE, transaction_size_bytes=1), (6 + 8 + BASE_HISTORICAL, 0)),
        (replace(NONE, transaction_size_bytes=5 * 1024 + 1), (30_006 + 40_008 + BASE_HISTORICAL, 0)),
        (replace(NONE, contract_events_size_bytes=5 * 1024 + 1), (BASE_HISTORICAL, 35_007)),
    ]
    for resources, expected in cases:
        assert transaction_resource_fee(resources, RATES) == expected, resources


def test_rent_fee_matches_fees_rs() -> None:
    """test_rent_extend_with_size_change_and_extend, test_rent_extend_without_old_entry."""
    rates = SorobanSettings(fee_write_ledger_entry=10, fee_write_1kb=1000, persistent_rent_rate_denominator=10_000,
                            temp_rent_rate_denominator=100_000)
    grow = RentChange(True, 1, 100_000, 100_000, 300_000)
    assert rent_fee([grow], rates, 25_000) == 2_685_550 + 57
    assert rent_fee([replace(grow, persistent=False)], rates, 25_000) == 268_556 + 57
    assert rent_fee([grow, replace(grow, persistent=False)], rates, 25_000) == 2_954_106 + 94 + 20
    assert rent_fee([RentChange(True, 1, 2, 100_000, 100_001)], rates, 99_999) == 2 + 57
    assert rent_fee([RentChange(True, 0, 100_000, 0, 100_000)], rates, 25_000) == 732_432 + 57
    assert rent_fee([RentChange(False, 0, 100_000, 0, 100_000)], rates, 25_000) == 73_244 + 57


def test_simulation_pays_for_what_apply_charges() -> None:
    """A prepared transaction is admitted, and apply spends at most what simulation declared: the
    instructions adjustment covers the host's, the size estimate covers the envelope, the refundable
    part covers rent and events."""
    ledger = soroban_ledger()
    env = transfer(ledger, SUBMITTER, PAYER.public_key, SUBMITTER.public_key, 1)
    sim = simulated(ledger, env)
    resources = sim.transaction_data.resources
    op = env.transaction.operations[0]
    assert max_transaction_size(X.InvokeHostFunctionOp(op.host_function, sim.auth), resources.footprint) > len(
        env.to_xdr_object().to_xdr_bytes())
    for amount in (1, 10**7, 10**9):
        ready = signed_transfer(ledger, PAYER, SUBMITTER, amount)
        declared = ready.transaction.soroban_data.resource_fee.int64
        ptx = parse_envelope(ready.to_xdr(), ledger.passphrase)
        assert declared >= sum(pre_apply_fee(ptx.soroban))
        assert ledger.submit(ready.to_xdr(), endpoint="rpc").status.value == "PENDING"
        (applied,) = ledger.close_ledger().applied
        assert applied.result.code == "tx_success"
        assert 100 + pre_apply_fee(ptx.soroban)[0] < applied.result.fee_charged <= 100 + declared


def test_instruction_adjustment_is_soroban_simulations() -> None:
    assert INSTRUCTIONS.apply(0) == 0 and INSTRUCTIONS.apply(1_000) == 51_000 and INSTRUCTIONS.apply(10**7) == 10_400_000
