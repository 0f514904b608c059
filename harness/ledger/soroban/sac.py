"""The Stellar Asset Contract's functions (rs-soroban-env v21.0.0
`builtin_contracts/stellar_asset_contract/contract.rs`, `balance.rs`, `event.rs`, `metadata.rs`).

Implemented: `balance`, `transfer`, `decimals`, `name`, `symbol`. A G-address's balance IS its account
(native) or trustline (credit; the issuer holds i64::MAX and paying from / to it mints / burns); a
C-address's balance is a persistent contract data entry `[Balance, address]` -> {amount, authorized,
clawback}. The SAC's other functions (allowances, admin, mint, burn, clawback, ...) fail with a
diagnostic saying they are not simulated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.assets import NATIVE, issuer_of
from harness.ledger.soroban.auth import contract_fn
from harness.ledger.soroban.contracts import PERSISTENT, data_key, metadata_field
from harness.ledger.soroban.values import (
    ACCOUNT_MISSING,
    BALANCE_DEAUTHORIZED,
    BALANCE_ERROR,
    EC,
    ET,
    NEGATIVE_AMOUNT,
    OVERFLOW,
    TRUSTLINE_MISSING,
    HostError,
    address_of,
    address_text,
    contract_address,
    contract_error,
    event,
    i128_of,
    sc_error,
)
from harness.ledger.state import AUTH_CLAWBACK, AUTH_REQUIRED, TL_AUTHORIZED, Account, TrustLine

if TYPE_CHECKING:
    from harness.ledger.soroban.host import Host

INT64_MAX = 2**63 - 1
DAY_IN_LEDGERS = 17_280
BALANCE_EXTEND_AMOUNT = 30 * DAY_IN_LEDGERS  # storage_types.rs
BALANCE_TTL_THRESHOLD = BALANCE_EXTEND_AMOUNT - DAY_IN_LEDGERS
NOT_SIMULATED = frozenset({b"allowance", b"approve", b"authorized", b"burn", b"burn_from", b"clawback", b"admin",
                           b"mint", b"set_admin", b"set_authorized", b"transfer_from", b"init_asset"})


class StellarAssetContract:
    """One call into the SAC `contract_id` of `asset`, whose instance entry is `instance`."""

    def __init__(self, host: Host, contract_id: bytes, asset: str, instance: X.ContractDataEntry) -> None:
        self.host, self.contract_id, self.asset, self.instance = host, contract_id, asset, instance
        self.issuer = issuer_of(asset)

    def call(self, function: bytes, args: list[X.SCVal]) -> X.SCVal:
        """The builtin dispatch (soroban-builtin-sdk-macros `derive_fn`): name, then arity."""
        table: dict[bytes, tuple[int, Callable[..., X.SCVal]]] = {
            b"balance": (1, self.balance), b"transfer": (3, self.transfer), b"decimals": (0, self.decimals),
            b"name": (0, self.name), b"symbol": (0, self.symbol)}
        symbol = scval.to_symbol(function.decode("ascii", "replace"))
        if function in NOT_SIMULATED:
            raise HostError(sc_error(ET.SCE_CONTEXT, EC.SCEC_INVALID_ACTION),
                            "Stellar Asset Contract function not simulated by the offline network", (symbol,))
        if function not in table:
            raise HostError(sc_error(ET.SCE_CONTEXT, EC.SCEC_MISSING_VALUE), "function does not exist", (symbol,))
        arity, fn = table[function]
        if len(args) != arity:
            raise HostError(sc_error(ET.SCE_CONTEXT, EC.SCEC_UNEXPECTED_SIZE), "wrong number of args to func",
                            (symbol,))
        return fn(*args)

    # ------------------------------------------------------------- functions
    def decimals(self) -> X.SCVal:
        return scval.to_uint32(7)

    def name(self) -> X.SCVal:
        return metadata_field(self.instance, "name")

    def symbol(self) -> X.SCVal:
        return metadata_field(self.instance, "symbol")

    def balance(self, addr: X.SCVal) -> X.SCVal:
        address = address_of(addr)
        if address.type == X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT:
            stored = self._contract_balance(address, write=False)
            return scval.to_int128(scval.from_int128(scval.from_struct(stored)["amount"]) if stored else 0)
        account_id = address_text(address)
        if self.asset == NATIVE:
            account = self.host.storage.account(account_id, False, addr)
            if account is None:
                raise contract_error(ACCOUNT_MISSING, "account entry is missing", addr)
            return scval.to_int128(account.balance)
        if account_id == self.issuer:
            return scval.to_int128(INT64_MAX)
        return scval.to_int128(self._trustline(account_id, addr, write=False).balance)

    def transfer(self, from_: X.SCVal, to: X.SCVal, amount_val: X.SCVal) -> X.SCVal:
        source, dest, amount = address_of(from_), address_of(to), i128_of(amount_val)
        if amount < 0:
            raise contract_error(NEGATIVE_AMOUNT, "negative amount is not allowed", amount_val)
        self.host.auth.require_auth(source, contract_fn(self.contract_id, b"transfer", [from_, to, amount_val]))
        self._spend(source, from_, amount)
        self._receive(dest, to, amount)
        topics = [scval.to_symbol("transfer"), from_, to, self.name()]
        self.host.emit(event(X.ContractEventType.CONTRACT, self.contract_id, topics, amount_val))
        return scval.to_void()

    # ------------------------------------------------------------- balances
    def _trustline(self, account_id: str, addr: X.SCVal, write: bool) -> TrustLine:
        line = self.host.storage.trustline(account_id, self.asset, write, addr)
        if line is None:
            raise contract_error(TRUSTLINE_MISSING, "trustline entry is missing for account", addr)
        return line

    def _authorized(self, address: X.SCAddress, addr: X.SCVal) -> bool:
        """is_authorized: native always; the issuer always; else the trustline's or balance's flag."""
        if address.type == X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT:
            stored = self._contract_balance(address, write=False)
            if stored is not None:
                return scval.from_struct(stored)["authorized"].b is True
            return not self._issuer_flag(AUTH_REQUIRED)
        account_id = address_text(address)
        if self.asset == NATIVE or account_id == self.issuer:
            return True
        return bool(self._trustline(account_id, addr, write=False).flags & TL_AUTHORIZED)

    def _spend(self, address: X.SCAddress, addr: X.SCVal, amount: int) -> None:
        if not self._authorized(address, addr):
            raise contract_error(BALANCE_DEAUTHORIZED, "balance is deauthorized")
        if address.type == X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT:
            self._debit_contract(address, amount)
            return
        if amount > INT64_MAX:
            raise contract_error(OVERFLOW, "spent amount is too large for an i64")
        self._classic_transfer(address_text(address), addr, -amount)

    def _receive(self, address: X.SCAddress, addr: X.SCVal, amount: int) -> None:
        if not self._authorized(address, addr):
            raise contract_error(BALANCE_DEAUTHORIZED, "balance is deauthorized")
        if address.type == X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT:
            self._credit_contract(address, amount)
            return
        if amount > INT64_MAX:
            raise contract_error(OVERFLOW, "received amount is too large for an i64")
        self._classic_transfer(address_text(address), addr, amount)

    def _classic_transfer(self, account_id: str, addr: X.SCVal, amount: int) -> None:
        """transfer_classic_balance: the new balance must stay within [minimum, maximum]."""
        entry: Account | TrustLine
        if self.asset == NATIVE:
            account = self.host.storage.account(account_id, True, addr)
            if account is None:
                raise contract_error(ACCOUNT_MISSING, "account entry is missing", addr)
            entry, low, high = account, self.host.min_balance(account), INT64_MAX
        elif account_id == self.issuer:
            self.host.journal.add_issued(self.asset, -amount)  # paying out mints, paying back burns
            return
        else:
            entry = self._trustline(account_id, addr, write=True)
            low, high = 0, entry.limit
        new = entry.balance + amount
        if not low <= new <= high:
            raise contract_error(BALANCE_ERROR, "resulting balance is not within the allowed range",
                                 scval.to_int64(low), scval.to_int64(new), scval.to_int64(high))
        entry.balance = new

    def _balance_key(self, address: X.SCAddress) -> X.LedgerKey:
        key = X.SCVal(X.SCValType.SCV_VEC, vec=X.SCVec([scval.to_symbol("Balance"), X.SCVal(X.SCValType.SCV_ADDRESS,
                                                                                           address=address)]))
        return data_key(contract_address(self.contract_id), key, PERSISTENT)

    def _contract_balance(self, address: X.SCAddress, write: bool) -> X.SCVal | None:
        key = self._balance_key(address)
        stored = self.host.storage.contract_data(key, write, "trying to access contract storage key outside of the "
                                                 "footprint", key.contract_data.key if key.contract_data else None)
        return stored.entry.val if stored is not None else None

    def _credit_contract(self, address: X.SCAddress, amount: int) -> None:
        """receive_balance for a C-address: create or grow its balance entry."""
        stored = self._contract_balance(address, write=True)
        fields = scval.from_struct(stored) if stored is not None else {
            "amount": scval.to_int128(0), "authorized": scval.to_bool(True),
            "clawback": scval.to_bool(self._issuer_flag(AUTH_CLAWBACK))}
        total = scval.from_int128(fields["amount"]) + amount
        if total >= 2**127:
            raise contract_error(OVERFLOW, "balance overflow in receive_balance")
        self._write_contract_balance(address, fields, total)

    def _debit_contract(self, address: X.SCAddress, amount: int) -> None:
        """spend_balance_no_authorization_check for a C-address (reached in recording mode: at apply
        the spender's __check_auth fails first, see auth.py)."""
        stored = self._contract_balance(address, write=True)
        if stored is None:
            if amount > 0:
                raise contract_error(BALANCE_ERROR, "zero balance is not sufficient to spend", scval.to_int128(amount))
            return
        fields = scval.from_struct(stored)
        have = scval.from_int128(fields["amount"])
        if have < amount:
            raise contract_error(BALANCE_ERROR, "balance is not sufficient to spend", stored, scval.to_int128(amount))
        self._write_contract_balance(address, fields, have - amount)

    def _write_contract_balance(self, address: X.SCAddress, fields: dict[str, X.SCVal], amount: int) -> None:
        """write_contract_balance: put the entry, then extend its TTL to 30 days when below 29."""
        fields["amount"] = scval.to_int128(amount)
        key = self._balance_key(address)
        assert key.contract_data is not None
        entry = X.ContractDataEntry(X.ExtensionPoint(0), key.contract_data.contract, key.contract_data.key, PERSISTENT,
                                    scval.to_struct(fields))
        seq = self.host.storage.ledger_seq
        old = self.host.storage.contract_data(key, True, "", None)
        live = old.live_until if old is not None else self.host.settings.min_live_until(seq, persistent=True)
        if live - seq < BALANCE_TTL_THRESHOLD:
            live = seq + BALANCE_EXTEND_AMOUNT
        self.host.storage.put_contract_data(key, entry, live, "", None)

    def _issuer_flag(self, flag: int) -> bool:
        """is_asset_issuer_flag_set: reads the issuer's account (never set for native)."""
        if self.issuer is None:
            return False
        issuer = self.host.storage.account(self.issuer, False, scval.to_address(self.issuer))
        return issuer is not None and bool(issuer.flags & flag)
