"""One host function invocation: the contract call, its auth, storage, events and resource metering.

The call path is rs-soroban-env v21.0.0 `host/frame.rs` (`invoke_function_and_return_val`,
`call_n_internal`: an `fn_call` diagnostic event, the contract instance loaded from storage, the
builtin dispatch, an `fn_return` event) with diagnostics enabled, as simulation runs them and as
stellar-core does with ENABLE_SOROBAN_DIAGNOSTIC_EVENTS. A failed call marks every event it recorded
as failed (`in_successful_contract_call` false) and the journal rolls its writes back.

Metering is a fixed cost model, not the host's budget: INVOKE_INSNS per call, ENTRY_INSNS per ledger
entry accessed, and each account authentication's payload hash plus ed25519 verification (auth.py);
memory likewise. Simulation and apply meter the same invocation identically, so a transaction
simulated here carries enough instructions to apply here; one declaring fewer fails at apply with
INVOKE_HOST_FUNCTION_RESOURCE_LIMIT_EXCEEDED as the host's exceeded budget does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from stellar_sdk import scval
from stellar_sdk import xdr as X

from harness.ledger.journal import Journal
from harness.ledger.soroban.auth import Authorizer
from harness.ledger.soroban.contracts import PERSISTENT, asset_of_instance, data_key
from harness.ledger.soroban.network import SorobanSettings
from harness.ledger.soroban.sac import StellarAssetContract
from harness.ledger.soroban.storage import HostStorage
from harness.ledger.soroban.values import EC, ET, HostError, contract_address, data_of, event, sc_error
from harness.ledger.state import Account

INVOKE_INSNS = 250_000
ENTRY_INSNS = 25_000
MEMORY_BASE = 600_000
MEMORY_PER_ENTRY = 12_000
_DIAG = X.ContractEventType.DIAGNOSTIC


@dataclass(slots=True)
class Meter:
    cpu: int = 0
    mem: int = 0


@dataclass(slots=True)
class Outcome:
    """What an invocation produced; `error` None = success."""

    return_value: X.SCVal | None
    error: HostError | None
    contract_events: list[X.ContractEvent]
    diagnostic_events: list[X.DiagnosticEvent]
    auth: list[X.SorobanAuthorizationEntry]
    cpu: int
    mem: int

    @property
    def events_size(self) -> int:
        """Contract events plus return value XDR bytes (what the events fee and limit meter)."""
        size = sum(len(e.to_xdr_bytes()) for e in self.contract_events)
        return size + (len(self.return_value.to_xdr_bytes()) if self.return_value is not None else 0)


@dataclass
class Host:
    """The environment of one invocation; `declared` None = recording footprint, `auth_entries` None =
    recording auth."""

    journal: Journal
    declared: dict[str, str] | None
    auth_entries: list[X.SorobanAuthorizationEntry] | None
    source: X.SCAddress
    ledger_seq: int
    network_id: bytes
    settings: SorobanSettings
    instruction_limit: int
    rng: random.Random = field(default_factory=random.SystemRandom)
    events: list[X.ContractEvent] = field(default_factory=list)
    contract_events: list[X.ContractEvent] = field(default_factory=list)
    current: bytes | None = None  # the contract being executed (error events carry its id)

    def __post_init__(self) -> None:
        self.meter = Meter(INVOKE_INSNS, MEMORY_BASE)
        self.storage = HostStorage(self.journal, self.declared, self.ledger_seq)
        self.auth = Authorizer(self.auth_entries, self.source, self.network_id, self.storage, self.settings,
                               self.meter, self.rng)

    def min_balance(self, account: Account) -> int:
        return self.journal.state.min_balance(account)

    def emit(self, contract_event: X.ContractEvent) -> None:
        self.events.append(contract_event)
        self.contract_events.append(contract_event)

    def _diagnostic(self, contract_id: bytes | None, topics: list[X.SCVal], args: list[X.SCVal]) -> None:
        self.events.append(event(_DIAG, contract_id, topics, data_of(args)))

    def invoke(self, function: X.HostFunction) -> Outcome:
        """Run an InvokeContract host function; any failure is an Outcome with `error` set."""
        value: X.SCVal | None = None
        error: HostError | None = None
        auth: list[X.SorobanAuthorizationEntry] = []
        try:
            value = self._call(function)
            auth = self.auth.recorded_entries() if self.auth.recording else []
        except HostError as exc:
            error = exc
        entries = len(self.storage.accessed)
        self.meter.cpu += ENTRY_INSNS * entries
        self.meter.mem += MEMORY_PER_ENTRY * entries
        if error is None and self.meter.cpu > self.instruction_limit:
            error = HostError(sc_error(ET.SCE_BUDGET, EC.SCEC_EXCEEDED_LIMIT))
        if error is not None:
            for link in error.chain():
                if link.message:  # a bare error (no message) records no event
                    self._diagnostic(self.current, [scval.to_symbol("error"),
                                                    X.SCVal(X.SCValType.SCV_ERROR, error=link.error)],
                                     [scval.to_string(link.message), *link.args_])
            value, auth = None, []
        ok = error is None
        return Outcome(value, error, self.contract_events if ok else [],
                       [X.DiagnosticEvent(ok, e) for e in self.events], auth, self.meter.cpu, self.meter.mem)

    def _call(self, function: X.HostFunction) -> X.SCVal:
        args = function.invoke_contract
        if function.type != X.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT or args is None:
            raise HostError(sc_error(ET.SCE_CONTEXT, EC.SCEC_INVALID_ACTION),
                            "host function not simulated by the offline network (no Wasm contracts)")
        address = args.contract_address
        name = args.function_name.sc_symbol
        if address.type != X.SCAddressType.SC_ADDRESS_TYPE_CONTRACT or address.contract_id is None:
            raise HostError(sc_error(ET.SCE_VALUE, EC.SCEC_UNEXPECTED_TYPE))
        cid = address.contract_id.contract_id.hash
        fn_symbol = X.SCVal(X.SCValType.SCV_SYMBOL, sym=args.function_name)
        self._diagnostic(None, [scval.to_symbol("fn_call"), scval.to_bytes(cid), fn_symbol], list(args.args))
        self.current = cid
        key = data_key(contract_address(cid), X.SCVal(X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), PERSISTENT)
        instance = self.storage.contract_data(key, False, "trying to access contract instance key outside of the "
                                              "footprint", X.SCVal(X.SCValType.SCV_ADDRESS, address=address))
        if instance is None:
            raise HostError(sc_error(ET.SCE_STORAGE, EC.SCEC_MISSING_VALUE))
        sac = StellarAssetContract(self, cid, asset_of_instance(instance.entry), instance.entry)
        result = sac.call(name, list(args.args))
        self._diagnostic(cid, [scval.to_symbol("fn_return"), fn_symbol], [result])
        return result


def source_address(account_id: str) -> X.SCAddress:
    """The invocation's source account as an ScAddress."""
    address = scval.to_address(account_id).address
    assert address is not None
    return address
