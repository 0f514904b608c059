"""Result codes (Horizon's strings) and real `TransactionResult` XDR bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from stellar_sdk import xdr as X

TX_CODES: dict[str, X.TransactionResultCode] = {
    "tx_success": X.TransactionResultCode.txSUCCESS,
    "tx_failed": X.TransactionResultCode.txFAILED,
    "tx_too_early": X.TransactionResultCode.txTOO_EARLY,
    "tx_too_late": X.TransactionResultCode.txTOO_LATE,
    "tx_missing_operation": X.TransactionResultCode.txMISSING_OPERATION,
    "tx_bad_seq": X.TransactionResultCode.txBAD_SEQ,
    "tx_bad_auth": X.TransactionResultCode.txBAD_AUTH,
    "tx_insufficient_balance": X.TransactionResultCode.txINSUFFICIENT_BALANCE,
    "tx_no_source_account": X.TransactionResultCode.txNO_ACCOUNT,
    "tx_insufficient_fee": X.TransactionResultCode.txINSUFFICIENT_FEE,
    "tx_bad_auth_extra": X.TransactionResultCode.txBAD_AUTH_EXTRA,
    "tx_internal_error": X.TransactionResultCode.txINTERNAL_ERROR,
    "tx_not_supported": X.TransactionResultCode.txNOT_SUPPORTED,
    "tx_malformed": X.TransactionResultCode.txMALFORMED,
}

GENERIC_OP_CODES: dict[str, X.OperationResultCode] = {
    "op_bad_auth": X.OperationResultCode.opBAD_AUTH,
    "op_no_source_account": X.OperationResultCode.opNO_ACCOUNT,
    "op_not_supported": X.OperationResultCode.opNOT_SUPPORTED,
    "op_too_many_subentries": X.OperationResultCode.opTOO_MANY_SUBENTRIES,
}

_P, _CA, _CCB, _CLB, _MD = (X.PaymentResultCode, X.CreateAccountResultCode, X.CreateClaimableBalanceResultCode,
                            X.ClaimClaimableBalanceResultCode, X.ManageDataResultCode)
# operation type -> (xdr OperationType, result class, tr attribute, {horizon code: xdr result code})
INNER_OP_CODES: dict[str, tuple[X.OperationType, type, str, dict[str, object]]] = {
    "payment": (X.OperationType.PAYMENT, X.PaymentResult, "payment_result", {
        "op_success": _P.PAYMENT_SUCCESS, "op_malformed": _P.PAYMENT_MALFORMED,
        "op_underfunded": _P.PAYMENT_UNDERFUNDED, "op_src_no_trust": _P.PAYMENT_SRC_NO_TRUST,
        "op_src_not_authorized": _P.PAYMENT_SRC_NOT_AUTHORIZED, "op_no_destination": _P.PAYMENT_NO_DESTINATION,
        "op_no_trust": _P.PAYMENT_NO_TRUST, "op_not_authorized": _P.PAYMENT_NOT_AUTHORIZED,
        "op_line_full": _P.PAYMENT_LINE_FULL, "op_no_issuer": _P.PAYMENT_NO_ISSUER}),
    "create_account": (X.OperationType.CREATE_ACCOUNT, X.CreateAccountResult, "create_account_result", {
        "op_success": _CA.CREATE_ACCOUNT_SUCCESS, "op_malformed": _CA.CREATE_ACCOUNT_MALFORMED,
        "op_underfunded": _CA.CREATE_ACCOUNT_UNDERFUNDED, "op_low_reserve": _CA.CREATE_ACCOUNT_LOW_RESERVE,
        "op_already_exists": _CA.CREATE_ACCOUNT_ALREADY_EXIST}),
    "create_claimable_balance": (
        X.OperationType.CREATE_CLAIMABLE_BALANCE, X.CreateClaimableBalanceResult,
        "create_claimable_balance_result", {
            "op_success": _CCB.CREATE_CLAIMABLE_BALANCE_SUCCESS, "op_malformed": _CCB.CREATE_CLAIMABLE_BALANCE_MALFORMED,
            "op_low_reserve": _CCB.CREATE_CLAIMABLE_BALANCE_LOW_RESERVE,
            "op_no_trust": _CCB.CREATE_CLAIMABLE_BALANCE_NO_TRUST,
            "op_not_authorized": _CCB.CREATE_CLAIMABLE_BALANCE_NOT_AUTHORIZED,
            "op_underfunded": _CCB.CREATE_CLAIMABLE_BALANCE_UNDERFUNDED}),
    "claim_claimable_balance": (
        X.OperationType.CLAIM_CLAIMABLE_BALANCE, X.ClaimClaimableBalanceResult,
        "claim_claimable_balance_result", {
            "op_success": _CLB.CLAIM_CLAIMABLE_BALANCE_SUCCESS,
            "op_does_not_exist": _CLB.CLAIM_CLAIMABLE_BALANCE_DOES_NOT_EXIST,
            "op_cannot_claim": _CLB.CLAIM_CLAIMABLE_BALANCE_CANNOT_CLAIM,
            "op_line_full": _CLB.CLAIM_CLAIMABLE_BALANCE_LINE_FULL,
            "op_no_trust": _CLB.CLAIM_CLAIMABLE_BALANCE_NO_TRUST,
            "op_not_authorized": _CLB.CLAIM_CLAIMABLE_BALANCE_NOT_AUTHORIZED}),
    "manage_data": (X.OperationType.MANAGE_DATA, X.ManageDataResult, "manage_data_result", {
        "op_success": _MD.MANAGE_DATA_SUCCESS, "op_not_supported_yet": _MD.MANAGE_DATA_NOT_SUPPORTED_YET,
        "op_data_name_not_found": _MD.MANAGE_DATA_NAME_NOT_FOUND, "op_low_reserve": _MD.MANAGE_DATA_LOW_RESERVE,
        "op_invalid_name": _MD.MANAGE_DATA_INVALID_NAME}),
}


@dataclass(frozen=True, slots=True)
class OpResult:
    """Outcome of one operation: its type (snake_case), Horizon code and, for a created balance, its id."""

    op_type: str
    code: str
    balance_id: str | None = None  # 72 hex chars (type prefix + hash)


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of a transaction: Horizon code, fee charged (stroops) and per-operation results."""

    code: str
    fee_charged: int = 0
    operations: tuple[OpResult, ...] = field(default_factory=tuple)

    @property
    def successful(self) -> bool:
        return self.code == "tx_success"

    def result_codes(self) -> dict[str, object]:
        """Horizon's `extras.result_codes` object (operations only when there are op results)."""
        codes: dict[str, object] = {"transaction": self.code}
        if self.operations:
            codes["operations"] = [op.code for op in self.operations]
        return codes

    def to_xdr(self) -> str:
        """Base64 `TransactionResult` as stellar-core would produce it."""
        results = [_op_result_xdr(op) for op in self.operations] if self.code in ("tx_success", "tx_failed") else None
        return X.TransactionResult(
            fee_charged=X.Int64(self.fee_charged),
            result=X.TransactionResultResult(code=TX_CODES[self.code], results=results),
            ext=X.TransactionResultExt(0),
        ).to_xdr()


def _op_result_xdr(op: OpResult) -> X.OperationResult:
    if op.code in GENERIC_OP_CODES:
        return X.OperationResult(code=GENERIC_OP_CODES[op.code])
    op_type, result_cls, attr, codes = INNER_OP_CODES[op.op_type]
    if op.op_type == "create_claimable_balance" and op.code == "op_success":
        assert op.balance_id is not None
        balance = X.ClaimableBalanceID.from_xdr_bytes(bytes.fromhex(op.balance_id))
        inner = result_cls(codes[op.code], balance_id=balance)
    else:
        inner = result_cls(codes[op.code])
    return X.OperationResult(code=X.OperationResultCode.opINNER, tr=X.OperationResultTr(op_type, **{attr: inner}))
