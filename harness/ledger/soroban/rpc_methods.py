"""Soroban RPC methods over the offline ledger, shaped as stellar-rpc's (cmd/stellar-rpc/internal/methods/
*.go; response types from go-stellar-sdk protocols/rpc). Each method takes the request's params (a dict)
and returns the result dict, or raises RpcError with jrpc2's code.

Not served: getEvents, getTransactions, getLedgers (no client the harness uses calls them) and the
`xdrFormat: "json"` variants (InvalidParams). getLedgerEntries finds ACCOUNT, TRUSTLINE and CONTRACT_DATA
entries (the kinds Soroban clients read); other kinds are absent from the answer, as missing keys are.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from stellar_sdk import xdr as X

from harness.ledger.envelope import parse_envelope
from harness.ledger.errors import MalformedEnvelopeError
from harness.ledger.history_index import HistoryIndex
from harness.ledger.journal import Journal
from harness.ledger.ledger import Ledger
from harness.ledger.records import AppliedTx, LedgerHeader, SubmitStatus
from harness.ledger.resources import HORIZON_VERSION
from harness.ledger.soroban.contracts import key_id
from harness.ledger.soroban.ledger_meta import fee_windows, ledger_close_meta
from harness.ledger.soroban.simulate import simulate
from harness.ledger.soroban.storage import HostStorage
from harness.ledger.soroban.transaction import soroban_invalid
from harness.ledger.soroban.values import data_of, event, sc_error
from harness.ledger.state import LedgerState
from reference_impl.clock import Clock

INVALID_PARAMS, INTERNAL_ERROR = -32602, -32603
RETENTION_WINDOW = 17_280  # stellar-rpc's default HistoryRetentionWindow (one day of 5 s ledgers)
MAX_LEDGER_ENTRY_KEYS = 200  # getLedgerEntriesMaxKeys
MAX_HEALTHY_LEDGER_LATENCY = 30.0  # seconds: MaxHealthyLedgerLatency's default
Method = Callable[[dict[str, Any], str], dict[str, Any]]


class RpcError(Exception):
    """A JSON-RPC error object: jrpc2 code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _string(params: dict[str, Any], name: str, required: bool = True) -> str:
    value = params.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"invalid parameters: {name} must be a string")
    return value


def _format(params: dict[str, Any]) -> None:
    """protocol.IsValidFormat; the JSON rendering of XDR is not served by the offline network."""
    fmt = _string(params, "xdrFormat", required=False)
    if fmt not in ("", "base64", "json"):
        raise RpcError(INVALID_PARAMS, f"got '{fmt}': expected base64, json for optional 'xdrFormat'")
    if fmt == "json":
        raise RpcError(INVALID_PARAMS, "xdrFormat 'json' is not served by the offline network")


class SorobanMethods:
    """The methods, bound to one ledger and the read side's index (for closed ledgers' transactions)."""

    def __init__(self, ledger: Ledger, index: HistoryIndex, clock: Clock, rng: random.Random | None = None) -> None:
        self.ledger, self.index, self.clock = ledger, index, clock
        self.rng = rng or random.SystemRandom()
        self._meta_cache: tuple[int, str, str] | None = None

    def table(self) -> dict[str, Method]:
        return {"getHealth": self.get_health, "getNetwork": self.get_network, "getVersionInfo": self.get_version_info,
                "getLatestLedger": self.get_latest_ledger, "getFeeStats": self.get_fee_stats,
                "getLedgerEntries": self.get_ledger_entries, "getTransaction": self.get_transaction,
                "sendTransaction": self.send_transaction, "simulateTransaction": self.simulate_transaction}

    def _range(self) -> tuple[LedgerHeader, LedgerHeader]:
        """(oldest, latest) ledger within the retention window."""
        latest = self.ledger.latest()
        oldest = self.ledger.header(max(1, latest.sequence - RETENTION_WINDOW + 1))
        assert oldest is not None
        return oldest, latest

    # ------------------------------------------------------------- ledger and network
    def get_health(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        oldest, latest = self._range()
        latency = self.clock.time() - latest.close_time
        if latency > MAX_HEALTHY_LEDGER_LATENCY:
            raise RpcError(INTERNAL_ERROR, f"latency ({round(latency)}s) since last known ledger closed is too high "
                                           f"(>{MAX_HEALTHY_LEDGER_LATENCY:.0f}s)")
        return {"status": "healthy", "latestLedger": latest.sequence, "latestLedgerCloseTime": str(latest.close_time),
                "oldestLedger": oldest.sequence, "oldestLedgerCloseTime": str(oldest.close_time),
                "ledgerRetentionWindow": RETENTION_WINDOW}

    def get_network(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        return {"friendbotUrl": base + "/friendbot", "passphrase": self.ledger.passphrase,
                "protocolVersion": self.ledger.latest().protocol_version}

    def get_version_info(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        return {"version": HORIZON_VERSION, "commitHash": "", "buildTimestamp": "", "captiveCoreVersion": "",
                "protocolVersion": self.ledger.latest().protocol_version}

    def get_latest_ledger(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        latest = self.ledger.latest()
        cached = self._meta_cache
        if cached is None or cached[0] != latest.sequence:
            header = self.index.header_xdr(latest.sequence)
            applied = [r.applied for r in self.index.in_ledger(latest.sequence)]
            size = self.ledger.with_state(lambda state, _: _soroban_state_size(state))
            cached = self._meta_cache = (latest.sequence, header, ledger_close_meta(latest, header, applied, size))
        return {"id": latest.hash, "protocolVersion": latest.protocol_version, "sequence": latest.sequence,
                "closeTime": str(latest.close_time), "headerXdr": cached[1], "metadataXdr": cached[2]}

    def get_fee_stats(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        latest = self.ledger.latest().sequence
        classic, soroban = fee_windows(latest, lambda seq: [r.applied for r in self.index.in_ledger(seq)])
        return {"sorobanInclusionFee": soroban.distribution(), "inclusionFee": classic.distribution(),
                "latestLedger": latest}

    def get_ledger_entries(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        _format(params)
        keys = params.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise RpcError(INVALID_PARAMS, "invalid parameters: keys must be an array of strings")
        if len(keys) > MAX_LEDGER_ENTRY_KEYS:
            raise RpcError(INVALID_PARAMS, f"key count ({len(keys)}) exceeds maximum supported ({MAX_LEDGER_ENTRY_KEYS})")
        decoded = []
        for i, text in enumerate(keys):
            try:
                key = X.LedgerKey.from_xdr(text)
            except Exception:  # xdrlib3 raises several unrelated types for garbage
                raise RpcError(INVALID_PARAMS, f"cannot unmarshal key value {text} at index {i}") from None
            if key.type == X.LedgerEntryType.TTL:
                raise RpcError(INVALID_PARAMS, "ledger ttl entries cannot be queried directly")
            decoded.append(key)
        found, latest = self.ledger.with_state(lambda state, header: (_lookup(state, header.sequence, decoded),
                                                                       header.sequence))
        return {"entries": found, "latestLedger": latest}

    # ------------------------------------------------------------- transactions
    def get_transaction(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        _format(params)
        tx_hash = _string(params, "hash")
        if len(tx_hash) != 64:
            raise RpcError(INVALID_PARAMS, f"unexpected hash length ({len(tx_hash)})")
        try:
            bytes.fromhex(tx_hash)
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, f"incorrect hash: {exc}") from None
        oldest, latest = self._range()
        body: dict[str, Any] = {
            "status": "NOT_FOUND", "txHash": tx_hash, "latestLedger": latest.sequence,
            "latestLedgerCloseTime": str(latest.close_time), "oldestLedger": oldest.sequence,
            "oldestLedgerCloseTime": str(oldest.close_time), "applicationOrder": 0, "feeBump": False, "events": {},
            "ledger": 0, "createdAt": "0"}
        applied = self.ledger.transaction(tx_hash)
        if applied is None or applied.hash != tx_hash.lower() or applied.ledger < oldest.sequence:
            return body  # stellar-rpc indexes a fee bump by its own hash only
        body.update(_transaction_body(applied))
        return body

    def send_transaction(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        _format(params)
        envelope = _string(params, "transaction")
        latest = self.ledger.latest()
        try:
            result = self.ledger.submit(envelope, endpoint="rpc")
        except MalformedEnvelopeError:
            raise RpcError(INVALID_PARAMS, "invalid_xdr") from None
        body: dict[str, Any] = {"status": result.status.value, "hash": result.hash,
                                "latestLedger": latest.sequence, "latestLedgerCloseTime": str(latest.close_time)}
        if result.status is SubmitStatus.ERROR:
            assert result.rejection is not None
            body["errorResultXdr"] = result.rejection.to_xdr()
            events = validation_events(envelope, self.ledger.passphrase)
            if events:
                body["diagnosticEventsXdr"] = [e.to_xdr() for e in events]
        return body

    def simulate_transaction(self, params: dict[str, Any], base: str) -> dict[str, Any]:
        try:
            _format(params)
        except RpcError as exc:
            return {"error": exc.message, "latestLedger": 0}
        text = params.get("transaction")
        try:
            envelope = X.TransactionEnvelope.from_xdr(text) if isinstance(text, str) else None
        except Exception:  # xdrlib3 raises several unrelated types for garbage
            envelope = None
        if envelope is None:
            return {"error": "Could not unmarshal transaction", "latestLedger": 0}
        config = params.get("resourceConfig") or {}
        leeway = config.get("instructionLeeway", 0) if isinstance(config, dict) else 0
        if not isinstance(leeway, int) or not 0 <= leeway < 2**32:
            raise RpcError(INVALID_PARAMS, "invalid parameters: resourceConfig.instructionLeeway must be a uint32")
        auth_mode = params.get("authMode") or ""
        if not isinstance(auth_mode, str):
            raise RpcError(INVALID_PARAMS, "invalid parameters: authMode must be a string")
        sim = self.ledger.with_state(lambda state, header: simulate(
            state, envelope, self.ledger.network_id, header.sequence, auth_mode, leeway, self.rng))
        return _simulation_body(sim)


def _soroban_state_size(state: LedgerState) -> int:
    return sum(len(d.ledger_entry().to_xdr_bytes()) for d in state.contract_data.values())


def _lookup(state: LedgerState, ledger_seq: int, keys: list[X.LedgerKey]) -> list[dict[str, Any]]:
    """The live entries under `keys`, in request order (missing ones left out)."""
    storage = HostStorage(Journal(state), None, ledger_seq)
    out = []
    for key in keys:
        if key.type not in (X.LedgerEntryType.ACCOUNT, X.LedgerEntryType.TRUSTLINE, X.LedgerEntryType.CONTRACT_DATA):
            continue
        entry = storage.entry(key)
        if entry is None:
            continue
        item: dict[str, Any] = {"key": key.to_xdr(), "xdr": entry.data.to_xdr(),
                                "lastModifiedLedgerSeq": entry.last_modified_ledger_seq.uint32,
                                "extXdr": entry.ext.to_xdr()}
        if key.type == X.LedgerEntryType.CONTRACT_DATA:
            item["liveUntilLedgerSeq"] = state.contract_data[key_id(key)].live_until
        out.append(item)
    return out


def _transaction_body(applied: AppliedTx) -> dict[str, Any]:
    """TransactionDetails of an applied transaction (base64 XDR)."""
    meta = X.TransactionMeta.from_xdr(applied.result_meta_xdr)
    soroban = meta.v3.soroban_meta if meta.v3 is not None else None
    body: dict[str, Any] = {
        "status": "SUCCESS" if applied.successful else "FAILED", "applicationOrder": applied.application_order,
        "feeBump": applied.inner_hash is not None, "envelopeXdr": applied.envelope_xdr,
        "resultXdr": applied.result_xdr, "resultMetaXdr": applied.result_meta_xdr, "ledger": applied.ledger,
        "createdAt": str(applied.close_time), "events": {}}
    if soroban is not None:  # ingest.LedgerTransaction.GetTransactionEvents for meta v3
        body["events"] = {"contractEventsXdr": [[e.to_xdr() for e in soroban.events]]}
        if soroban.diagnostic_events:
            body["diagnosticEventsXdr"] = [e.to_xdr() for e in soroban.diagnostic_events]
    return body


def _simulation_body(sim: Any) -> dict[str, Any]:
    """protocol.SimulateTransactionResponse (base64), omitting what Go's omitempty omits."""
    body: dict[str, Any] = {"latestLedger": sim.latest_ledger}
    if sim.error is not None:
        body["error"] = sim.error
    if sim.events:
        body["events"] = [e.to_xdr() for e in sim.events]
    if sim.transaction_data is not None:
        body["transactionData"] = sim.transaction_data.to_xdr()
        body["minResourceFee"] = str(sim.min_resource_fee)
    if sim.result is not None:
        body["results"] = [{"auth": [a.to_xdr() for a in sim.auth], "xdr": sim.result.to_xdr()}]
    changes = []
    for key, before, after in sim.state_changes:
        kind = "updated" if before is not None and after is not None else ("created" if after is not None else "deleted")
        changes.append({"type": kind, "key": key.to_xdr(), "before": before.to_xdr() if before else None,
                        "after": after.to_xdr() if after else None})
    if changes:
        body["stateChanges"] = changes
    return body


def validation_events(envelope: str, passphrase: str) -> list[X.DiagnosticEvent]:
    """The diagnostic core pushes when it refuses a transaction's Soroban part (with
    ENABLE_DIAGNOSTICS_FOR_TX_SUBMISSION, as quickstart's local network runs)."""
    invalid = soroban_invalid(parse_envelope(envelope, passphrase))
    if invalid is None or not invalid.message:
        return []
    topics = [X.SCVal(X.SCValType.SCV_SYMBOL, sym=X.SCSymbol(b"error")),
              X.SCVal(X.SCValType.SCV_ERROR, error=sc_error(*invalid.error))]
    args = [X.SCVal(X.SCValType.SCV_STRING, str=X.SCString(invalid.message.encode())), *invalid.args]
    return [X.DiagnosticEvent(False, event(X.ContractEventType.DIAGNOSTIC, None, topics, data_of(args)))]


