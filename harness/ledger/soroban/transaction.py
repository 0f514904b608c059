"""The Soroban part of a transaction: parsing, validity (stellar-core v21.3.1 TransactionFrame) and fees.

Validity, in core's order: `XDRProvidesValidFee` (a Soroban operation needs `sorobanData` with a resource
fee in [0, MAX_RESOURCE_FEE], else txMALFORMED), `validateSorobanOpsConsistency` (one Soroban operation
alone, else txMALFORMED), a classic transaction may not carry `sorobanData` (txMALFORMED since protocol
21), then `commonValidPreSeqNum`'s Soroban checks, each txSOROBAN_INVALID with the diagnostic core
pushes: resources within the network limits (`validateSorobanResources`), the resource fee not above
the full fee and not below the fee the declared resources cost, no footprint key twice. XDR that
protocol 21 does not have (newer credential kinds, `SorobanTransactionData` ext v1) is txMALFORMED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.soroban.fees import TxResources, transaction_resource_fee
from harness.ledger.soroban.footprint import has_duplicates, invalid_key
from harness.ledger.soroban.network import SETTINGS, SorobanSettings
from harness.ledger.soroban.values import EC, ET

if TYPE_CHECKING:
    from harness.ledger.envelope import ParsedTx

SOROBAN_OPS = ("invoke_host_function", "extend_footprint_ttl", "restore_footprint")
MAX_RESOURCE_FEE = 1 << 50
_P21_CREDENTIALS = (X.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT,
                    X.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS)


@dataclass(frozen=True, slots=True)
class SorobanTx:
    """`sorobanData` (None when absent), the invoke operation (None for other operations) and the
    envelope's XDR size (the inner envelope's for a fee bump: what core meters as transaction size)."""

    data: X.SorobanTransactionData | None
    invoke: X.InvokeHostFunctionOp | None
    size: int
    protocol_21_xdr: bool

    @property
    def resource_fee(self) -> int:
        return self.data.resource_fee.int64 if self.data is not None else 0

    @property
    def resources(self) -> X.SorobanResources:
        assert self.data is not None
        return self.data.resources


def soroban_part(tx: X.Transaction, size: int) -> SorobanTx | None:
    """The Soroban part of a v1 transaction, or None for a classic one without `sorobanData`."""
    data = tx.ext.soroban_data if tx.ext.v == 1 else None
    bodies = [op.body for op in tx.operations]
    invoke = next((b.invoke_host_function_op for b in bodies if b.invoke_host_function_op is not None), None)
    if data is None and invoke is None and not any(_is_soroban(b) for b in bodies):
        return None
    p21 = (data is None or data.ext.v == 0) and all(
        a.credentials.type in _P21_CREDENTIALS and _p21_address(a) for a in (invoke.auth if invoke else []))
    return SorobanTx(data, invoke, size, p21)


def _is_soroban(body: X.OperationBody) -> bool:
    return body.type.name.lower() in SOROBAN_OPS


def _p21_address(entry: X.SorobanAuthorizationEntry) -> bool:
    a = entry.credentials.address
    return a is None or a.address.type in (X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT,
                                           X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT)


def declared_resource_fee(ptx: ParsedTx) -> int:
    """sorobanData.resourceFee of a Soroban transaction, 0 for a classic one."""
    return ptx.soroban.resource_fee if ptx.soroban is not None else 0


def invokes_contract(ptx: ParsedTx) -> bool:
    """The transaction's invoke_host_function calls a contract function (HOST_FUNCTION_TYPE_INVOKE_CONTRACT)."""
    invoke = ptx.soroban.invoke if ptx.soroban is not None else None
    return invoke is not None and invoke.host_function.invoke_contract is not None


def declared_resources(soroban: SorobanTx, events_size: int = 0) -> TxResources:
    """The declared resources as core feeds them to the fee (computeSorobanResourceFee)."""
    r = soroban.resources
    return TxResources(r.instructions.uint32, len(r.footprint.read_only), len(r.footprint.read_write),
                       r.disk_read_bytes.uint32, r.write_bytes.uint32, soroban.size, events_size)


def pre_apply_fee(soroban: SorobanTx, settings: SorobanSettings = SETTINGS) -> tuple[int, int]:
    """computePreApplySorobanResourceFee: (non-refundable, refundable without events)."""
    return transaction_resource_fee(declared_resources(soroban), settings)


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why core refuses a transaction's Soroban part: the result code and the diagnostic it pushes
    (error type and code, message, arguments)."""

    code: str
    message: str = ""
    args: tuple[X.SCVal, ...] = ()
    error: tuple[X.SCErrorType, X.SCErrorCode] = (ET.SCE_STORAGE, EC.SCEC_EXCEEDED_LIMIT)


def soroban_invalid(ptx: ParsedTx, settings: SorobanSettings = SETTINGS) -> Invalid | None:
    """The Soroban checks of checkValid for `ptx` (plain or the inner transaction of a fee bump)."""
    soroban = ptx.soroban
    if soroban is None:
        return None
    is_soroban = [op.type in SOROBAN_OPS for op in ptx.operations]
    if not any(is_soroban):
        return Invalid("tx_malformed")  # a classic transaction with sorobanData
    if soroban.data is None or not 0 <= soroban.resource_fee <= MAX_RESOURCE_FEE or not soroban.protocol_21_xdr:
        return Invalid("tx_malformed")
    if len(is_soroban) != 1:
        return Invalid("tx_malformed")
    return _resources_invalid(soroban, settings) or _fee_invalid(ptx, soroban, settings)


def _resources_invalid(soroban: SorobanTx, s: SorobanSettings) -> Invalid | None:
    """validateSorobanResources."""
    r = soroban.resources
    fp = r.footprint
    limits = (
        (r.instructions.uint32, s.tx_max_instructions, "transaction instructions resources exceed network config limit"),
        (r.disk_read_bytes.uint32, s.tx_max_read_bytes, "transaction byte-read resources exceed network config limit"),
        (r.write_bytes.uint32, s.tx_max_write_bytes, "transaction byte-write resources exceed network config limit"),
        (len(fp.read_only) + len(fp.read_write), s.tx_max_read_ledger_entries,
         "transaction entry-read resources exceed network config limit"),
        (len(fp.read_write), s.tx_max_write_ledger_entries,
         "transaction entry-write resources exceed network config limit"))
    for i, (value, limit, message) in enumerate(limits):
        if value > limit:
            return Invalid("tx_soroban_invalid", message, (scval.to_uint64(value), scval.to_uint64(limit)),
                           (ET.SCE_BUDGET if i == 0 else ET.SCE_STORAGE, EC.SCEC_EXCEEDED_LIMIT))
    for key in (*fp.read_only, *fp.read_write):
        problem = invalid_key(key, s.max_contract_data_key_size_bytes)
        if problem is not None:
            return Invalid("tx_soroban_invalid", problem[0], (), (ET.SCE_STORAGE, problem[1]))
    if soroban.size > s.tx_max_size_bytes:
        return Invalid("tx_soroban_invalid", "total transaction size exceeds network config limit",
                       (scval.to_uint64(soroban.size), scval.to_uint64(s.tx_max_size_bytes)),
                       (ET.SCE_BUDGET, EC.SCEC_EXCEEDED_LIMIT))
    return None


def _fee_invalid(ptx: ParsedTx, soroban: SorobanTx, s: SorobanSettings) -> Invalid | None:
    """commonValidPreSeqNum: the declared resource fee against the full fee and the resources' cost."""
    declared = soroban.resource_fee
    if declared > ptx.fee:
        return Invalid("tx_soroban_invalid", "transaction `sorobanData.resourceFee` is higher than the full "
                       "transaction fee", (scval.to_uint64(declared), scval.to_uint64(ptx.fee)))
    non_refundable, refundable = pre_apply_fee(soroban, s)
    if declared < non_refundable + refundable:
        return Invalid("tx_soroban_invalid", "transaction `sorobanData.resourceFee` is lower than the actual "
                       "Soroban resource fee", (scval.to_uint64(declared), scval.to_uint64(non_refundable + refundable)))
    if has_duplicates(soroban.resources.footprint):
        return Invalid("tx_soroban_invalid", "Found duplicate key in the Soroban footprint; every key across "
                       "read-only and read-write footprints has to be unique.", (), (ET.SCE_STORAGE, EC.SCEC_INVALID_INPUT))
    return None
