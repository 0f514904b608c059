"""The Soroban network settings of the offline network (what ConfigSettingEntry ledger entries hold on a
real network), fixed.

Values: the current testnet's published settings (stellar-core `soroban-settings/testnet_settings_upgrade.json`,
commit d96136efd), mapped onto protocol 21's fee formula (rs-soroban-env v21 `fees.rs`), in which every
footprint entry counts as a ledger read. Protocol 21 derives the write fee per KB from the bucket list
size (`compute_write_fee_per_1kb`); with testnet's state-size parameters and the offline network's tiny
state it is at its floor, MINIMUM_WRITE_FEE_PER_1KB (1000 stroops), which is the value used here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SorobanSettings:
    """Resource limits, fee rates and TTL bounds (names as in the ConfigSettingEntry XDR)."""

    # contract_compute_v0
    tx_max_instructions: int = 400_000_000
    tx_memory_limit: int = 41_943_040
    fee_rate_per_instructions_increment: int = 7
    # contract_ledger_cost_v0 (protocol 21 names: read = every footprint entry)
    tx_max_read_ledger_entries: int = 200
    tx_max_read_bytes: int = 200_000
    tx_max_write_ledger_entries: int = 200
    tx_max_write_bytes: int = 132_096
    fee_read_ledger_entry: int = 1_563
    fee_write_ledger_entry: int = 2_500
    fee_read_1kb: int = 447
    fee_write_1kb: int = 1_000
    # contract_historical_data_v0, contract_events_v0, contract_bandwidth_v0
    fee_historical_1kb: int = 4_059
    tx_max_contract_events_size_bytes: int = 16_384
    fee_contract_events_1kb: int = 5_000
    tx_max_size_bytes: int = 132_096
    fee_tx_size_1kb: int = 406
    # contract_data_key_size_bytes, contract_data_entry_size_bytes
    max_contract_data_key_size_bytes: int = 250
    max_contract_data_entry_size_bytes: int = 65_536
    # state_archival
    max_entry_ttl: int = 3_110_400
    min_temporary_ttl: int = 720
    min_persistent_ttl: int = 120_960
    persistent_rent_rate_denominator: int = 1_215
    temp_rent_rate_denominator: int = 2_430

    def min_live_until(self, ledger_seq: int, persistent: bool) -> int:
        """LedgerInfo::min_live_until_ledger_checked: a new entry lives at least this long."""
        return ledger_seq + (self.min_persistent_ttl if persistent else self.min_temporary_ttl) - 1

    def max_live_until(self, ledger_seq: int) -> int:
        """Host::max_live_until_ledger: no TTL (and no signature expiration) beyond this."""
        return ledger_seq + self.max_entry_ttl - 1


SETTINGS = SorobanSettings()
