"""Result codes (Horizon's strings, internal/codes/main.go) and real `TransactionResult` XDR bytes.

A fee-bump result (stellar-core FeeBumpMutableTransactionResult) has the outer code
`tx_fee_bump_inner_success`/`tx_fee_bump_inner_failed` and an inner result pair: the inner hash
and the inner transaction's own code, fee and operation results.
"""

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
    "tx_fee_bump_inner_success": X.TransactionResultCode.txFEE_BUMP_INNER_SUCCESS,
    "tx_fee_bump_inner_failed": X.TransactionResultCode.txFEE_BUMP_INNER_FAILED,
    "tx_soroban_invalid": X.TransactionResultCode.txSOROBAN_INVALID,
}
FEE_BUMP_CODES = ("tx_fee_bump_inner_success", "tx_fee_bump_inner_failed")
SUCCESS_CODES = ("tx_success", "tx_fee_bump_inner_success")

GENERIC_OP_CODES: dict[str, X.OperationResultCode] = {
    "op_bad_auth": X.OperationResultCode.opBAD_AUTH,
    "op_no_source_account": X.OperationResultCode.opNO_ACCOUNT,
    "op_not_supported": X.OperationResultCode.opNOT_SUPPORTED,
    "op_too_many_subentries": X.OperationResultCode.opTOO_MANY_SUBENTRIES,
    "op_too_many_sponsoring": X.OperationResultCode.opTOO_MANY_SPONSORING,
}

_P, _CA, _CCB, _CLB, _MD = (X.PaymentResultCode, X.CreateAccountResultCode, X.CreateClaimableBalanceResultCode,
                            X.ClaimClaimableBalanceResultCode, X.ManageDataResultCode)
_CT, _SO, _TF = X.ChangeTrustResultCode, X.SetOptionsResultCode, X.SetTrustLineFlagsResultCode
_IHF = X.InvokeHostFunctionResultCode
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
    "change_trust": (X.OperationType.CHANGE_TRUST, X.ChangeTrustResult, "change_trust_result", {
        "op_success": _CT.CHANGE_TRUST_SUCCESS, "op_malformed": _CT.CHANGE_TRUST_MALFORMED,
        "op_no_issuer": _CT.CHANGE_TRUST_NO_ISSUER, "op_invalid_limit": _CT.CHANGE_TRUST_INVALID_LIMIT,
        "op_low_reserve": _CT.CHANGE_TRUST_LOW_RESERVE, "op_self_not_allowed": _CT.CHANGE_TRUST_SELF_NOT_ALLOWED}),
    "set_options": (X.OperationType.SET_OPTIONS, X.SetOptionsResult, "set_options_result", {
        "op_success": _SO.SET_OPTIONS_SUCCESS, "op_low_reserve": _SO.SET_OPTIONS_LOW_RESERVE,
        "op_too_many_signers": _SO.SET_OPTIONS_TOO_MANY_SIGNERS, "op_bad_flags": _SO.SET_OPTIONS_BAD_FLAGS,
        "op_invalid_inflation": _SO.SET_OPTIONS_INVALID_INFLATION, "op_cant_change": _SO.SET_OPTIONS_CANT_CHANGE,
        "op_unknown_flag": _SO.SET_OPTIONS_UNKNOWN_FLAG,
        "op_threshold_out_of_range": _SO.SET_OPTIONS_THRESHOLD_OUT_OF_RANGE,
        "op_bad_signer": _SO.SET_OPTIONS_BAD_SIGNER, "op_invalid_home_domain": _SO.SET_OPTIONS_INVALID_HOME_DOMAIN,
        "op_auth_revocable_required": _SO.SET_OPTIONS_AUTH_REVOCABLE_REQUIRED}),
    "invoke_host_function": (X.OperationType.INVOKE_HOST_FUNCTION, X.InvokeHostFunctionResult,
                             "invoke_host_function_result", {
        "op_success": _IHF.INVOKE_HOST_FUNCTION_SUCCESS, "op_malformed": _IHF.INVOKE_HOST_FUNCTION_MALFORMED,
        "function_trapped": _IHF.INVOKE_HOST_FUNCTION_TRAPPED,
        "resource_limit_exceeded": _IHF.INVOKE_HOST_FUNCTION_RESOURCE_LIMIT_EXCEEDED,
        "entry_archived": _IHF.INVOKE_HOST_FUNCTION_ENTRY_ARCHIVED,
        "insufficient_refundable_fee": _IHF.INVOKE_HOST_FUNCTION_INSUFFICIENT_REFUNDABLE_FEE}),
    "set_trust_line_flags": (X.OperationType.SET_TRUST_LINE_FLAGS, X.SetTrustLineFlagsResult,
                             "set_trust_line_flags_result", {
        "op_success": _TF.SET_TRUST_LINE_FLAGS_SUCCESS, "op_malformed": _TF.SET_TRUST_LINE_FLAGS_MALFORMED,
        "op_no_trust": _TF.SET_TRUST_LINE_FLAGS_NO_TRUST_LINE, "op_cant_revoke": _TF.SET_TRUST_LINE_FLAGS_CANT_REVOKE,
        "op_invalid_state": _TF.SET_TRUST_LINE_FLAGS_INVALID_STATE}),
}


@dataclass(frozen=True, slots=True)
class OpResult:
    """Outcome of one operation: its type (snake_case), Horizon code and, for a created balance, its id;
    a successful invoke_host_function has the hex SHA-256 of its InvokeHostFunctionSuccessPreImage."""

    op_type: str
    code: str
    balance_id: str | None = None  # 72 hex chars (type prefix + hash)
    success_hash: str | None = None


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of a transaction: Horizon code, fee charged (stroops) and per-operation results.

    A fee bump's result has `inner` (the inner transaction's result) and `inner_hash` (hex) when its
    code is one of FEE_BUMP_CODES; `operations` are then the inner ones.
    """

    code: str
    fee_charged: int = 0
    operations: tuple[OpResult, ...] = field(default_factory=tuple)
    inner: TxResult | None = None
    inner_hash: str | None = None

    @property
    def successful(self) -> bool:
        return self.code in SUCCESS_CODES

    @property
    def op_results(self) -> tuple[OpResult, ...]:
        return self.inner.operations if self.inner is not None else self.operations

    def result_codes(self, requested_hash: str | None = None) -> dict[str, object]:
        """Horizon's `extras.result_codes` (txsub FailedTransactionError.TransactionResultCodes): a fee
        bump seen through its inner hash shows the inner code only, else the outer code plus
        `inner_transaction`; operations only when there are op results."""
        codes: dict[str, object] = {"transaction": self.code}
        if self.inner is not None:
            if requested_hash is not None and requested_hash == self.inner_hash:
                codes = {"transaction": self.inner.code}
            else:
                codes["inner_transaction"] = self.inner.code
        if self.op_results:
            codes["operations"] = [op.code for op in self.op_results]
        return codes

    def to_xdr(self) -> str:
        """Base64 `TransactionResult` as stellar-core would produce it."""
        return X.TransactionResult(fee_charged=X.Int64(self.fee_charged), result=self._result_xdr(),
                                   ext=X.TransactionResultExt(0)).to_xdr()

    def _op_results_xdr(self) -> list[X.OperationResult] | None:
        return [_op_result_xdr(op) for op in self.operations] if self.code in ("tx_success", "tx_failed") else None

    def _result_xdr(self) -> X.TransactionResultResult:
        if self.code not in FEE_BUMP_CODES:
            return X.TransactionResultResult(code=TX_CODES[self.code], results=self._op_results_xdr())
        assert self.inner is not None and self.inner_hash is not None
        inner = X.InnerTransactionResult(
            fee_charged=X.Int64(self.inner.fee_charged),
            result=X.InnerTransactionResultResult(code=TX_CODES[self.inner.code], results=self.inner._op_results_xdr()),
            ext=X.InnerTransactionResultExt(0))
        pair = X.InnerTransactionResultPair(X.Hash(bytes.fromhex(self.inner_hash)), inner)
        return X.TransactionResultResult(code=TX_CODES[self.code], inner_result_pair=pair)

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "fee_charged": self.fee_charged,
                "operations": [[o.op_type, o.code, o.balance_id, o.success_hash] for o in self.operations],
                "inner": self.inner.to_json() if self.inner is not None else None, "inner_hash": self.inner_hash}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> TxResult:
        ops = obj.get("operations") or []
        inner = obj.get("inner")
        return cls(str(obj["code"]), int(obj["fee_charged"]),  # type: ignore[call-overload]
                   tuple(OpResult(*op) for op in ops),  # type: ignore[attr-defined]
                   cls.from_json(inner) if isinstance(inner, dict) else None,
                   obj.get("inner_hash"))  # type: ignore[arg-type]


def _op_result_xdr(op: OpResult) -> X.OperationResult:
    if op.code in GENERIC_OP_CODES:
        return X.OperationResult(code=GENERIC_OP_CODES[op.code])
    op_type, result_cls, attr, codes = INNER_OP_CODES[op.op_type]
    if op.op_type == "create_claimable_balance" and op.code == "op_success":
        assert op.balance_id is not None
        balance = X.ClaimableBalanceID.from_xdr_bytes(bytes.fromhex(op.balance_id))
        inner = result_cls(codes[op.code], balance_id=balance)
    elif op.op_type == "invoke_host_function" and op.code == "op_success":
        assert op.success_hash is not None
        inner = result_cls(codes[op.code], success=X.Hash(bytes.fromhex(op.success_hash)))
    else:
        inner = result_cls(codes[op.code])
    return X.OperationResult(code=X.OperationResultCode.opINNER, tr=X.OperationResultTr(op_type, **{attr: inner}))
