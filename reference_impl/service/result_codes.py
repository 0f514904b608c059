"""Horizon's result-code strings from a base64 `TransactionResult` (an async submission's
`error_result_xdr`), as Horizon's internal/codes/main.go names them: `tx_bad_seq`,
`tx_no_source_account`, `op_no_destination`, ... A fee bump adds `inner_transaction`."""

from __future__ import annotations

from typing import Any

from stellar_sdk import xdr as X

_TX_SPECIAL = {"txNO_ACCOUNT": "tx_no_source_account", "txBAD_MIN_SEQ_AGE_OR_GAP": "tx_bad_minseq_age_or_gap"}
_OP_SPECIAL = {"opNO_ACCOUNT": "op_no_source_account", "ALREADY_EXIST": "op_already_exists",
               "NAME_NOT_FOUND": "op_data_name_not_found", "NO_TRUST_LINE": "op_no_trust"}
# Horizon names these without the `op_` prefix (internal/codes/main.go, InvokeHostFunctionResultCode)
_HOST_FUNCTION = {"TRAPPED": "function_trapped", "RESOURCE_LIMIT_EXCEEDED": "resource_limit_exceeded",
                  "ENTRY_ARCHIVED": "entry_archived", "INSUFFICIENT_REFUNDABLE_FEE": "insufficient_refundable_fee"}
_FEE_BUMP = (X.TransactionResultCode.txFEE_BUMP_INNER_SUCCESS, X.TransactionResultCode.txFEE_BUMP_INNER_FAILED)


def tx_code(code: X.TransactionResultCode) -> str:
    return _TX_SPECIAL.get(code.name, "tx_" + code.name[2:].lower())


def op_code(result: X.OperationResult) -> str:
    if result.code is not X.OperationResultCode.opINNER:
        return _OP_SPECIAL.get(result.code.name, "op_" + result.code.name[2:].lower())
    tr = result.tr
    assert tr is not None
    inner: Any = next(v for k, v in vars(tr).items() if k != "type" and v is not None)
    name = inner.code.name
    prefix = tr.type.name + "_"
    suffix = name[len(prefix):] if name.startswith(prefix) else name.split("_", 1)[-1]
    if tr.type is X.OperationType.INVOKE_HOST_FUNCTION and suffix in _HOST_FUNCTION:
        return _HOST_FUNCTION[suffix]
    return _OP_SPECIAL.get(suffix, "op_" + suffix.lower())


def codes_from_result_xdr(result_xdr: str) -> dict[str, Any]:
    """{"transaction": ..., ["inner_transaction": ...], ["operations": [...]]} of a TransactionResult."""
    result = X.TransactionResult.from_xdr(result_xdr).result
    codes: dict[str, Any] = {"transaction": tx_code(result.code)}
    results = result.results
    if result.code in _FEE_BUMP and result.inner_result_pair is not None:
        inner = result.inner_result_pair.result.result
        codes["inner_transaction"] = tx_code(inner.code)
        results = inner.results
    if results:
        codes["operations"] = [op_code(r) for r in results]
    return codes
