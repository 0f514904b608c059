"""Trustlines and issued assets, as stellar-core's operation frames treat them.

Sources (stellar/stellar-core src/transactions/): ChangeTrustOpFrame.cpp (`doCheckValid`: native or
self-issued -> MALFORMED; `doApply`: NO_ISSUER, INVALID_LIMIT below the balance, limit 0 deletes,
LOW_RESERVE, auth_required issuers make unauthorized lines), PathPaymentOpFrameBase.cpp
(`updateDestBalance`: NO_TRUST / NOT_AUTHORIZED / LINE_FULL, `updateSourceBalance`: SRC_NO_TRUST /
SRC_NOT_AUTHORIZED / UNDERFUNDED, `shouldBypassIssuerCheck`), PathPaymentStrictReceiveOpFrame.cpp
(destination checked before the source), src/ledger/TrustLineWrapper.cpp (IssuerImpl: the issuer
needs no trustline), CreateClaimableBalanceOpFrame.cpp / ClaimClaimableBalanceOpFrame.cpp (credit
balances need an authorized trustline), SetOptionsOpFrame.cpp and SetTrustLineFlagsOpFrame.cpp.
Horizon's balance fields: stellar-horizon internal/resourceadapter/balance.go, account_entry.go.
"""

from __future__ import annotations

import pytest
from stellar_sdk import (
    Account,
    Asset,
    AuthorizationFlag,
    Claimant,
    Keypair,
    TransactionBuilder,
    TrustLineFlags,
)

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair, offline_asset
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from harness.ledger.resources import account_body
from reference_impl.clock import ManualClock

SEED = 23
A, B, C = (generated_keypair(SEED, i) for i in range(3))
ISSUER = issuer_keypair(SEED)
USDC = Asset("USDC", ISSUER.public_key)
USDC_S = f"USDC:{ISSUER.public_key}"


@pytest.fixture()
def ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=3, seed=SEED, generated_credit=50 * 10**7),
                  clock=ManualClock())


def run(ledger: Ledger, kp: Keypair, add: object, *extra_signers: Keypair) -> dict:
    """Submit one transaction from `kp`, close, return its result codes (the tx must be admitted)."""
    b = TransactionBuilder(Account(kp.public_key, ledger.account(kp.public_key).seq_num), ledger.passphrase, 100)
    add(b)  # type: ignore[operator]
    env = b.set_timeout(600).build()
    for signer in (kp, *extra_signers):
        env.sign(signer)
    submitted = ledger.submit(env.to_xdr())
    if submitted.status is SubmitStatus.ERROR:
        return submitted.rejection.result_codes()
    closed = ledger.close_ledger()
    assert closed.violations == (), closed.violations
    return closed.applied[0].result.result_codes()


def ok(codes: dict) -> None:
    assert codes["transaction"] == "tx_success", codes


def line(ledger: Ledger, kp: Keypair, asset: str = USDC_S) -> object:
    return next((t for t in ledger.trustlines(kp.public_key) if t.asset == asset), None)


def test_genesis_asset_and_account_resource(ledger: Ledger) -> None:
    assert offline_asset(ledger.config) == USDC_S
    assert ledger.account(ISSUER.public_key).flags == AuthorizationFlag.AUTHORIZATION_REVOCABLE
    assert ledger.issued(USDC_S) == 3 * 50 * 10**7
    body = account_body(ledger.account(A.public_key), "", ledger.trustlines(A.public_key))
    assert body["subentry_count"] == 1 and body["flags"]["auth_required"] is False
    credit, native = body["balances"]
    assert credit == {"balance": "50.0000000", "limit": "922337203685.4775807", "buying_liabilities": "0.0000000",
                      "selling_liabilities": "0.0000000", "last_modified_ledger": 1, "is_authorized": True,
                      "is_authorized_to_maintain_liabilities": True, "asset_type": "credit_alphanum4",
                      "asset_code": "USDC", "asset_issuer": ISSUER.public_key}
    assert native["asset_type"] == "native" and "limit" not in native


def test_change_trust_create_update_remove(ledger: Ledger) -> None:
    eur = Asset("EURO2", A.public_key)
    ok(run(ledger, B, lambda t: t.append_change_trust_op(eur, "100")))
    created = line(ledger, B, f"EURO2:{A.public_key}")
    assert created.limit == 100 * 10**7 and created.authorized and ledger.account(B.public_key).subentry_count == 2
    assert account_body(ledger.account(B.public_key), "", ledger.trustlines(B.public_key))["balances"][0]["asset_type"] \
        == "credit_alphanum12"
    ok(run(ledger, A, lambda t: t.append_payment_op(B.public_key, eur, "40")))
    assert run(ledger, B, lambda t: t.append_change_trust_op(eur, "39"))["operations"] == ["op_invalid_limit"]
    assert run(ledger, B, lambda t: t.append_change_trust_op(eur, "0"))["operations"] == ["op_invalid_limit"]
    ok(run(ledger, B, lambda t: t.append_change_trust_op(eur, "40")))
    ok(run(ledger, B, lambda t: t.append_payment_op(A.public_key, eur, "40")))  # back to the issuer: burned
    assert ledger.issued(f"EURO2:{A.public_key}") == 0
    ok(run(ledger, B, lambda t: t.append_change_trust_op(eur, "0")))
    assert line(ledger, B, f"EURO2:{A.public_key}") is None and ledger.account(B.public_key).subentry_count == 1


@pytest.mark.parametrize("asset, limit, code", [
    ("self", "10", "op_malformed"), ("missing_issuer", "10", "op_no_issuer"), ("new", "0", "op_invalid_limit")])
def test_change_trust_codes(ledger: Ledger, asset: str, limit: str, code: str) -> None:
    target = {"self": Asset("ABC", A.public_key), "missing_issuer": Asset("ABC", Keypair.random().public_key),
              "new": Asset("ABC", B.public_key)}[asset]
    assert run(ledger, A, lambda t: t.append_change_trust_op(target, limit))["operations"] == [code]


def test_change_trust_low_reserve(ledger: Ledger) -> None:
    poor = Keypair.random()
    ok(run(ledger, A, lambda t: t.append_create_account_op(poor.public_key, "1.0001")))
    codes = run(ledger, poor, lambda t: t.append_change_trust_op(Asset("ABC", A.public_key), "10"))
    assert codes["operations"] == ["op_low_reserve"]


@pytest.mark.parametrize("case, code", [
    ("to_no_trust", "op_no_trust"), ("from_no_trust", "op_src_no_trust"), ("line_full", "op_line_full"),
    ("underfunded", "op_underfunded"), ("no_destination", "op_no_destination")])
def test_credit_payment_codes(ledger: Ledger, case: str, code: str) -> None:
    """Destination side first (NO_DESTINATION, NO_TRUST, LINE_FULL), then the source side."""
    eur = Asset("EUR", C.public_key)
    if case == "line_full":
        ok(run(ledger, B, lambda t: t.append_change_trust_op(eur, "0.5")))
    source, add = {
        "to_no_trust": (C, lambda t: t.append_payment_op(B.public_key, eur, "1")),
        "from_no_trust": (A, lambda t: t.append_payment_op(C.public_key, eur, "1")),  # paying the issuer
        "line_full": (C, lambda t: t.append_payment_op(B.public_key, eur, "0.6")),
        "underfunded": (A, lambda t: t.append_payment_op(B.public_key, USDC, "50.0000001")),
        "no_destination": (A, lambda t: t.append_payment_op(Keypair.random().public_key, USDC, "1")),
    }[case]
    assert run(ledger, source, add)["operations"] == [code]


def test_issuer_mints_and_burns_without_a_trustline(ledger: Ledger) -> None:
    before = ledger.issued(USDC_S)
    ok(run(ledger, ISSUER, lambda t: t.append_payment_op(A.public_key, USDC, "7")))
    assert line(ledger, A).balance == 57 * 10**7 and ledger.issued(USDC_S) == before + 7 * 10**7
    ok(run(ledger, B, lambda t: t.append_payment_op(ISSUER.public_key, USDC, "20")))
    assert line(ledger, B).balance == 30 * 10**7 and ledger.issued(USDC_S) == before - 13 * 10**7
    assert ledger.trustlines(ISSUER.public_key) == [] and ledger.check_invariants() == []


def test_authorization_flags(ledger: Ledger) -> None:
    """auth_required issuer: new lines are unauthorized until set_trust_line_flags authorizes them;
    revoking needs auth_revocable (SetTrustLineFlagsOpFrame::isAuthRevocationValid)."""
    gold = Asset("GOLD", C.public_key)
    ok(run(ledger, C, lambda t: t.append_set_options_op(set_flags=AuthorizationFlag.AUTHORIZATION_REQUIRED)))
    ok(run(ledger, A, lambda t: t.append_change_trust_op(gold, "100")))
    assert not line(ledger, A, f"GOLD:{C.public_key}").authorized
    assert run(ledger, C, lambda t: t.append_payment_op(A.public_key, gold, "1"))["operations"] == ["op_not_authorized"]
    ok(run(ledger, C, lambda t: t.append_set_trust_line_flags_op(A.public_key, gold,
                                                                 set_flags=TrustLineFlags.AUTHORIZED_FLAG)))
    ok(run(ledger, C, lambda t: t.append_payment_op(A.public_key, gold, "5")))
    revoke = lambda t: t.append_set_trust_line_flags_op(  # noqa: E731
        A.public_key, gold, clear_flags=TrustLineFlags.AUTHORIZED_FLAG)
    assert run(ledger, C, revoke)["operations"] == ["op_cant_revoke"]
    ok(run(ledger, C, lambda t: t.append_set_options_op(set_flags=AuthorizationFlag.AUTHORIZATION_REVOCABLE)))
    ok(run(ledger, C, revoke))
    assert run(ledger, A, lambda t: t.append_payment_op(C.public_key, gold, "1"))["operations"] == \
        ["op_src_not_authorized"]
    authorize_b = lambda t: t.append_set_trust_line_flags_op(  # noqa: E731
        B.public_key, gold, set_flags=TrustLineFlags.AUTHORIZED_FLAG)
    assert run(ledger, C, authorize_b)["operations"] == ["op_no_trust"]
    assert run(ledger, A, authorize_b) == \
        {"transaction": "tx_failed", "operations": ["op_malformed"]}  # not the issuer: refused at submission


@pytest.mark.parametrize("options, code", [
    (dict(set_flags=8), "op_auth_revocable_required"), (dict(set_flags=16), "op_unknown_flag"),
    (dict(set_flags=1, clear_flags=1), "op_bad_flags"), (dict(master_weight=256), "op_threshold_out_of_range")])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK prefers AuthorizationFlag; 16 has none
def test_set_options_codes(ledger: Ledger, options: dict, code: str) -> None:
    assert run(ledger, A, lambda t: t.append_set_options_op(**options))["operations"] == [code]


def test_immutable_flags_cannot_change(ledger: Ledger) -> None:
    ok(run(ledger, A, lambda t: t.append_set_options_op(set_flags=AuthorizationFlag.AUTHORIZATION_IMMUTABLE)))
    required = AuthorizationFlag.AUTHORIZATION_REQUIRED
    assert run(ledger, A, lambda t: t.append_set_options_op(set_flags=required))["operations"] == ["op_cant_change"]


def test_signer_and_thresholds(ledger: Ledger) -> None:
    from stellar_sdk import Signer

    ok(run(ledger, A, lambda t: t.append_set_options_op(signer=Signer.ed25519_public_key(B.public_key, 1),
                                                        med_threshold=2)))
    assert ledger.account(A.public_key).signers == {B.public_key: 1} and ledger.account(A.public_key).subentry_count == 2
    pay = lambda t: t.append_payment_op(C.public_key, Asset.native(), "1")  # noqa: E731
    assert run(ledger, A, pay) == {"transaction": "tx_failed", "operations": ["op_bad_auth"]}
    ok(run(ledger, A, pay, B))


def test_credit_claimable_balances(ledger: Ledger) -> None:
    outsider = Keypair.random()
    ok(run(ledger, A, lambda t: t.append_create_account_op(outsider.public_key, "10")))
    issued = ledger.issued(USDC_S)
    b = TransactionBuilder(Account(A.public_key, ledger.account(A.public_key).seq_num), ledger.passphrase, 100)
    env = b.append_create_claimable_balance_op(USDC, "12", [Claimant(outsider.public_key), Claimant(B.public_key)]) \
        .set_timeout(600).build()
    env.sign(A)
    balance_id = env.transaction.get_claimable_balance_id(0)
    ledger.submit(env.to_xdr())
    ok(ledger.close_ledger().applied[0].result.result_codes())
    assert line(ledger, A).balance == 38 * 10**7 and ledger.issued(USDC_S) == issued
    assert ledger.claimable_balance(balance_id).asset == USDC_S
    claim = lambda t: t.append_claim_claimable_balance_op(balance_id)  # noqa: E731
    assert run(ledger, outsider, claim)["operations"] == ["op_no_trust"]
    ok(run(ledger, outsider, lambda t: t.append_change_trust_op(USDC, "5")))
    assert run(ledger, outsider, claim)["operations"] == ["op_line_full"]
    ok(run(ledger, B, claim))
    assert line(ledger, B).balance == 62 * 10**7 and ledger.claimable_balance(balance_id) is None
    history = [r for r in ledger.history() if r["kind"] == "applied"][-1]
    assert history["operations"][0]["amount"] == "12.0000000" and history["operations"][0]["asset"] == USDC_S
    assert ledger.check_invariants() == []


def test_create_claimable_balance_credit_codes(ledger: Ledger) -> None:
    gold = Asset("GOLD", C.public_key)
    create = lambda t: t.append_create_claimable_balance_op(gold, "1", [Claimant(B.public_key)])  # noqa: E731
    assert run(ledger, A, create)["operations"] == ["op_no_trust"]
    ok(run(ledger, A, lambda t: t.append_change_trust_op(gold, "10")))
    assert run(ledger, A, create)["operations"] == ["op_underfunded"]
    ok(run(ledger, C, lambda t: t.append_create_claimable_balance_op(gold, "3", [Claimant(A.public_key)])))
    assert ledger.issued(f"GOLD:{C.public_key}") == 3 * 10**7  # the issuer mints into the balance


def test_operation_descriptions(ledger: Ledger) -> None:
    ok(run(ledger, B, lambda t: t.append_change_trust_op(Asset("EUR", A.public_key), "9")))
    record = [r for r in ledger.history() if r["kind"] == "applied"][-1]["operations"][0]
    assert record == {"type": "change_trust", "source": B.public_key, "destination": None, "amount": None,
                      "asset": f"EUR:{A.public_key}", "balance_id": None, "trustor": B.public_key,
                      "limit": "9.0000000"}
