"""ScVal helpers, host errors, contract events and their text form (rs-soroban-env v21.0.0
`soroban-env-host/src/events/mod.rs` `display_scval` / `HostEvent` Display, `host/error.rs` Debug).
"""

from __future__ import annotations

from stellar_sdk import StrKey, scval
from stellar_sdk import xdr as X

from harness.ledger.assets import account_id_strkey

T = X.SCValType
ET, EC = X.SCErrorType, X.SCErrorCode

# builtin_contracts/contract_error.rs ContractError
ACCOUNT_MISSING, NEGATIVE_AMOUNT, BALANCE_ERROR, BALANCE_DEAUTHORIZED, OVERFLOW, TRUSTLINE_MISSING = 6, 8, 10, 11, 12, 13
AUTHENTICATION_ERROR = 5

_TYPE_NAMES = {ET.SCE_CONTRACT: "Contract", ET.SCE_WASM_VM: "WasmVm", ET.SCE_CONTEXT: "Context",
               ET.SCE_STORAGE: "Storage", ET.SCE_OBJECT: "Object", ET.SCE_CRYPTO: "Crypto", ET.SCE_EVENTS: "Events",
               ET.SCE_BUDGET: "Budget", ET.SCE_VALUE: "Value", ET.SCE_AUTH: "Auth"}
_CODE_NAMES = {EC.SCEC_ARITH_DOMAIN: "ArithDomain", EC.SCEC_INDEX_BOUNDS: "IndexBounds",
               EC.SCEC_INVALID_INPUT: "InvalidInput", EC.SCEC_MISSING_VALUE: "MissingValue",
               EC.SCEC_EXISTING_VALUE: "ExistingValue", EC.SCEC_EXCEEDED_LIMIT: "ExceededLimit",
               EC.SCEC_INVALID_ACTION: "InvalidAction", EC.SCEC_INTERNAL_ERROR: "InternalError",
               EC.SCEC_UNEXPECTED_TYPE: "UnexpectedType", EC.SCEC_UNEXPECTED_SIZE: "UnexpectedSize"}


def go_enum_name(type_name: str, member: str) -> str:
    """How stellar/go's xdr enums print (`String()`): `OperationTypePayment` for OperationType.PAYMENT."""
    return type_name + "".join(part.capitalize() for part in member.split("_"))


def sc_error(kind: X.SCErrorType, code: X.SCErrorCode | int) -> X.SCError:
    """An ScError; contract errors carry a numeric code."""
    if kind == ET.SCE_CONTRACT:
        return X.SCError(kind, contract_code=X.Uint32(int(code)))
    assert isinstance(code, X.SCErrorCode)
    return X.SCError(kind, code=code)


class HostError(Exception):
    """A failed host invocation: the ScError plus the message and arguments of its diagnostic event."""

    def __init__(self, error: X.SCError, message: str = "", args: tuple[X.SCVal, ...] = (),
                 cause: HostError | None = None) -> None:
        super().__init__(message or error_text(error))
        self.error = error
        self.message = message
        self.args_ = args
        self.cause = cause  # an error this one wraps (its diagnostic event was recorded first)

    def chain(self) -> list[HostError]:
        """The wrapped errors first, this one last: the order their diagnostic events were recorded."""
        return (self.cause.chain() if self.cause is not None else []) + [self]

    @property
    def storage_limit(self) -> bool:
        """A footprint violation (Storage, ExceededLimit): never converted into an auth error."""
        return self.error.type == ET.SCE_STORAGE and self.error.code == EC.SCEC_EXCEEDED_LIMIT


def contract_error(code: int, message: str, *args: X.SCVal) -> HostError:
    return HostError(sc_error(ET.SCE_CONTRACT, code), message, args)


def error_text(error: X.SCError) -> str:
    """Error's Debug form: `Error(Auth, InvalidAction)`, `Error(Contract, #13)`."""
    if error.type == ET.SCE_CONTRACT:
        assert error.contract_code is not None
        return f"Error(Contract, #{error.contract_code.uint32})"
    assert error.code is not None
    return f"Error({_TYPE_NAMES[error.type]}, {_CODE_NAMES[error.code]})"


def address_of(value: X.SCVal) -> X.SCAddress:
    """The ScAddress of an Address value; anything else fails conversion as the host does."""
    if value.type != T.SCV_ADDRESS or value.address is None:
        raise HostError(sc_error(ET.SCE_VALUE, EC.SCEC_UNEXPECTED_TYPE))
    return value.address


def i128_of(value: X.SCVal) -> int:
    if value.type != T.SCV_I128:
        raise HostError(sc_error(ET.SCE_VALUE, EC.SCEC_UNEXPECTED_TYPE))
    return scval.from_int128(value)


def address_text(address: X.SCAddress) -> str:
    """G... or C... (other address kinds do not exist at protocol 21)."""
    if address.type == X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT:
        assert address.account_id is not None
        return account_id_strkey(address.account_id)
    assert address.contract_id is not None
    return StrKey.encode_contract(address.contract_id.contract_id.hash)


def contract_address(contract_id: bytes) -> X.SCAddress:
    return X.SCAddress(X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT, contract_id=X.ContractID(X.Hash(contract_id)))


def string(raw: bytes) -> X.SCVal:
    return X.SCVal(T.SCV_STRING, str=X.SCString(raw))


def vec(values: list[X.SCVal]) -> X.SCVal:
    return X.SCVal(T.SCV_VEC, vec=X.SCVec(values))


def data_of(args: list[X.SCVal]) -> X.SCVal:
    """A diagnostic event's data: one argument as is, several as a vector, none as Void."""
    if len(args) == 1:
        return args[0]
    return vec(args) if args else scval.to_void()


def event(kind: X.ContractEventType, contract_id: bytes | None, topics: list[X.SCVal],
          data: X.SCVal) -> X.ContractEvent:
    cid = X.ContractID(X.Hash(contract_id)) if contract_id is not None else None
    return X.ContractEvent(X.ExtensionPoint(0), cid, kind, X.ContractEventBody(0, v0=X.ContractEventV0(topics, data)))


def display(v: X.SCVal) -> str:
    """display_scval."""
    t = v.type
    if t == T.SCV_BOOL:
        return "true" if v.b else "false"
    if t == T.SCV_VOID:
        return "Void"
    if t == T.SCV_ERROR:
        assert v.error is not None
        return error_text(v.error)
    if t in (T.SCV_U32, T.SCV_I32, T.SCV_U64, T.SCV_I64, T.SCV_U128, T.SCV_I128):
        return str(scval.to_native(v))
    if t == T.SCV_BYTES:
        assert v.bytes is not None
        return f"Bytes({v.bytes.sc_bytes.hex()})"
    if t == T.SCV_STRING:
        assert v.str is not None
        return '"' + v.str.sc_string.decode("utf-8", "replace") + '"'
    if t == T.SCV_SYMBOL:
        assert v.sym is not None
        return v.sym.sc_symbol.decode("ascii", "replace")
    if t == T.SCV_VEC:
        return "[" + ", ".join(display(e) for e in (v.vec.sc_vec if v.vec else [])) + "]"
    if t == T.SCV_MAP:
        return "{" + ", ".join(f"{display(e.key)}: {display(e.val)}" for e in (v.map.sc_map if v.map else [])) + "}"
    if t == T.SCV_ADDRESS:
        assert v.address is not None
        return address_text(v.address)
    if t == T.SCV_LEDGER_KEY_NONCE:
        assert v.nonce_key is not None
        return f"LedgerKeyNonce({v.nonce_key.nonce.int64})"
    return t.name


def display_event(e: X.DiagnosticEvent) -> str:
    """HostEvent's Display: `[Diagnostic Event] contract:C..., topics:[...], data:...`."""
    ce = e.event
    kind = {X.ContractEventType.CONTRACT: "Contract", X.ContractEventType.SYSTEM: "System"}.get(ce.type, "Diagnostic")
    head = f"[{kind} Event] " if e.in_successful_contract_call else f"[Failed {kind} Event (not emitted)] "
    if ce.contract_id is not None:
        head += f"contract:{StrKey.encode_contract(ce.contract_id.contract_id.hash)}, "
    body = ce.body.v0
    assert body is not None
    return head + "topics:[" + ", ".join(display(t) for t in body.topics) + "], data:" + display(body.data)


def host_error_text(error: HostError, events: list[X.DiagnosticEvent]) -> str:
    """HostError's Debug form, the text stellar-rpc returns as a failed simulation's `error`."""
    lines = [f"HostError: {error_text(error.error)}"]
    if events:
        lines += ["", "Event log (newest first):"]
        lines += [f"   {i}: {display_event(e)}" for i, e in enumerate(reversed(events[-25:]))]
    return "\n".join(lines) + "\n"
