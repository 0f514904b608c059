"""Deliberately lenient variants of the offline network's Soroban checks (test helpers only): each undoes
one rule of the host or of stellar-core. tests/unit/test_soroban_apply.py must fail every one.
Never imported by production code."""

from __future__ import annotations

from typing import Any

from harness.ledger.soroban import auth, invoke, storage, transaction
from harness.ledger.soroban.fees import rent_fee


def _no_nonce_check(self: auth.Authorizer, address: Any, nonce: int, live_until: int) -> None:
    """Host::consume_nonce that overwrites an existing nonce instead of refusing it."""
    from stellar_sdk import scval
    from stellar_sdk import xdr as X

    from harness.ledger.soroban import contracts

    key_val = X.SCVal(X.SCValType.SCV_LEDGER_KEY_NONCE, nonce_key=X.SCNonceKey(X.Int64(nonce)))
    key = contracts.data_key(address, key_val, contracts.TEMPORARY)
    entry = X.ContractDataEntry(X.ExtensionPoint(0), address, key_val, contracts.TEMPORARY, scval.to_void())
    live = max(live_until, self.settings.min_live_until(self.storage.ledger_seq, persistent=False))
    self.storage.put_contract_data(key, entry, live, "", None)


def _no_expiry(self: auth.Authorizer, tracker: auth.Tracker) -> None:
    """verify_and_consume_nonce without the expiration checks."""
    if not tracker.source:
        self.put_nonce(tracker.address, tracker.nonce or 0, tracker.expiration)


def _no_signature_check(self: auth.Authorizer, tracker: auth.Tracker, payload: bytes) -> None:
    """check_account_authentication that trusts any signature."""


def _open_footprint(self: storage.HostStorage, key: Any, write: bool, message: str, arg: Any) -> str:
    """Footprint::enforce_access that lets every key through."""
    declared, self.declared = self.declared, None
    try:
        return ORIGINAL_TOUCH(self, key, write, message, arg)
    finally:
        self.declared = declared


def _free_rent(changes: Any, settings: Any, ledger_seq: int) -> int:
    """No rent: the refundable budget is never found short."""
    return 0


def _fee_blind(ptx: Any, soroban: Any, settings: Any) -> None:
    """commonValidPreSeqNum without its resource-fee checks."""
    return None


ORIGINAL_TOUCH = storage.HostStorage._touch
assert rent_fee is invoke.rent_fee

# name -> (object, attribute, lenient replacement)
SOROBAN_MUTANTS: dict[str, tuple[Any, str, Any]] = {
    "reuses-nonces": (auth.Authorizer, "put_nonce", _no_nonce_check),
    "ignores-expiry": (auth.Authorizer, "_consume_nonce", _no_expiry),
    "trusts-signatures": (auth.Authorizer, "_check_account", _no_signature_check),
    "open-footprint": (storage.HostStorage, "_touch", _open_footprint),
    "rent-free": (invoke, "rent_fee", _free_rent),
    "fee-blind": (transaction, "_fee_invalid", _fee_blind),
}
