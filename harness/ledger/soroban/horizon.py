"""What Horizon shows of an invoke_host_function operation (stellar-horizon internal/ingest/processors/
operations_processor.go `Details`: `function`, `parameters` via `extractFunctionArgs`, and
`asset_balance_changes` from the transaction's SAC events via `parseAssetBalanceChangesFromContractEvents`
/ `createSACBalanceChangeEntry`; stellar/go `support/contractevents` recognises an event as a SAC's when its
contract id is the one its asset topic derives)."""

from __future__ import annotations

import base64
from typing import Any

from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.assets import NATIVE, is_valid_credit
from harness.ledger.config import format_amount
from harness.ledger.soroban.contracts import contract_id
from harness.ledger.soroban.values import address_text, contract_address, go_enum_name

# xdr.ScVal.ArmForSwitch (stellar/go xdr_generated.go): the arm name Horizon puts in `type`
_ARMS = {"SCV_BOOL": "B", "SCV_VOID": "", "SCV_ERROR": "Error", "SCV_U32": "U32", "SCV_I32": "I32", "SCV_U64": "U64",
         "SCV_I64": "I64", "SCV_TIMEPOINT": "Timepoint", "SCV_DURATION": "Duration", "SCV_U128": "U128",
         "SCV_I128": "I128", "SCV_U256": "U256", "SCV_I256": "I256", "SCV_BYTES": "Bytes", "SCV_STRING": "Str",
         "SCV_SYMBOL": "Sym", "SCV_VEC": "Vec", "SCV_MAP": "Map", "SCV_ADDRESS": "Address",
         "SCV_CONTRACT_INSTANCE": "Instance", "SCV_LEDGER_KEY_CONTRACT_INSTANCE": "", "SCV_LEDGER_KEY_NONCE": "NonceKey"}


def invoke_details(op: X.InvokeHostFunctionOp) -> dict[str, Any]:
    """`function` (Go's HostFunctionType name) and, for a contract call, `parameters`: the contract address,
    the function symbol, then the arguments, each {"value": base64 ScVal, "type": arm name}."""
    fn = op.host_function
    details: dict[str, Any] = {"function": go_enum_name("HostFunctionType", fn.type.name)}
    call = fn.invoke_contract
    if call is not None:
        values = [X.SCVal(X.SCValType.SCV_ADDRESS, address=call.contract_address),
                  X.SCVal(X.SCValType.SCV_SYMBOL, sym=call.function_name), *call.args]
        details["parameters"] = [{"value": base64.b64encode(v.to_xdr_bytes()).decode(), "type": _ARMS[v.type.name]}
                                 for v in values]
    return details


def asset_balance_changes(result_meta_xdr: str, network_id: bytes) -> list[dict[str, Any]]:
    """The SAC `transfer` events of a transaction's meta as balance changes (other SAC events - mint, burn,
    clawback - are never emitted at protocol 21 by the functions served here)."""
    meta = X.TransactionMeta.from_xdr(result_meta_xdr)
    soroban = meta.v3.soroban_meta if meta.v3 is not None else None
    changes = []
    for e in soroban.events if soroban is not None else []:
        body = e.body.v0
        topics = body.topics if body is not None else []
        if body is None or e.contract_id is None or len(topics) != 4 or not topics[0].sym \
                or topics[0].sym.sc_symbol != b"transfer" or topics[3].str is None \
                or topics[1].address is None or topics[2].address is None:
            continue
        asset = topics[3].str.sc_string.decode("ascii", "replace")
        if asset != NATIVE and not is_valid_credit(asset):
            continue
        if contract_address(contract_id(asset, network_id)).to_xdr_bytes() != \
                contract_address(e.contract_id.contract_id.hash).to_xdr_bytes():
            continue
        change: dict[str, Any] = {"from": address_text(topics[1].address), "to": address_text(topics[2].address),
                                  "type": "transfer", "amount": format_amount(scval.from_int128(body.data))}
        if asset == NATIVE:
            change["asset_type"] = "native"
        else:
            code, issuer = asset.split(":")
            change.update(asset_type="credit_alphanum4" if len(code) <= 4 else "credit_alphanum12",
                          asset_code=code, asset_issuer=issuer)
        changes.append(change)
    return changes


def invoke_participants(result_meta_xdr: str, index: int, network_id: bytes) -> tuple[list[str], bool]:
    """Participants of an invoke_host_function operation beyond its source, and whether Horizon counts it
    as a payment (operations_processor.go `Participants`: the accounts and trustline owners among the
    operation's ledger changes, plus the G-addresses of the transaction's SAC events; `IsPayment`: any
    SAC transfer event). A failed transaction has neither changes nor events."""
    meta = X.TransactionMeta.from_xdr(result_meta_xdr).v3 if result_meta_xdr else None
    if meta is None or index >= len(meta.operations):
        return [], False
    out: list[str] = []
    for change in meta.operations[index].changes.ledger_entry_changes:
        entry = change.created or change.updated or change.state
        data = entry.data if entry is not None else None
        if data is not None and data.account is not None:
            out.append(address_text(X.SCAddress(X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT,
                                                account_id=data.account.account_id)))
        elif data is not None and data.trust_line is not None:
            out.append(address_text(X.SCAddress(X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT,
                                                account_id=data.trust_line.account_id)))
    changes = asset_balance_changes(result_meta_xdr, network_id)
    out += [a for c in changes for a in (c["from"], c["to"]) if a.startswith("G")]
    return list(dict.fromkeys(out)), bool(changes)
