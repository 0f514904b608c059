"""The mutant table of the x402 v2 tamperers: P33 must fail whenever any one kind is accepted.

For each kind, a deliberately broken facilitator (built here, substituted at its composition root
`make_settler`; nothing of it ships) lets exactly that kind through, the tamperer's payments go
through the real service, facilitator, Soroban RPC and ledger, and the P33 judge reads what a run
would record. Kinds the ledger itself refuses at apply time (expired or wrong-network authorization,
a consumed nonce) can only reach a client as a 200 when the facilitator also trusts `sendTransaction`'s
PENDING instead of waiting for the ledger; those mutants do both. The real facilitator refuses every
kind and P33 passes on the same traffic.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from stellar_sdk import Address, TransactionEnvelope, scval

from harness.judges.context import VERDICT_FAIL, VERDICT_PASS, JudgeContext
from harness.judges.rejections import judge_tampered_proofs
from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.outputs import Event, RequestRecord
from reference_impl.facilitator.payload import Transfer
from reference_impl.facilitator.settler import Settlement, Settler
from reference_impl.facilitator.verifier import ExactStellarVerifier, ReplayCache, Verified
from scenarios.users.x402_v2_client import CRYPTO_TAMPERINGS, Tamper, decode_header, pay
from tests.integration.x402_v2_stack import V2Stack, v2_stack

pytestmark = pytest.mark.timeout(600)
ATTEMPTS = 3


def _transfer_args(payload: dict[str, Any]) -> tuple[str, str, int]:
    """(contract, to, amount) the payload's transaction invokes, read without any check."""
    env = TransactionEnvelope.from_xdr(payload["payload"]["transaction"], OFFLINE_PASSPHRASE)
    call = env.transaction.operations[0].host_function.invoke_contract
    return (Address.from_xdr_sc_address(call.contract_address).address, scval.from_address(call.args[1]).address,
            scval.from_int128(call.args[2]))


def _blind(field: str) -> type[ExactStellarVerifier]:
    """A verifier that checks the payment against what the payment itself says for `field`."""
    class Blind(ExactStellarVerifier):
        async def verify(self, payload: Any, requirements: Any) -> Verified:
            contract, to, amount = _transfer_args(payload)
            seen = {"amount": str(amount), "payTo": to, "asset": contract}[field]
            return await super().verify(payload, {**requirements, field: seen})
    return Blind


class _NoSimulation(ExactStellarVerifier):
    async def simulate(self, transfer: Transfer) -> None:
        return None


class ExpiryBlind(_NoSimulation):
    def check_window(self, transfer: Transfer, latest: int, max_ledger: int) -> None:
        return None


class SignatureBlind(_NoSimulation):
    def check_signatures(self, transfer: Transfer) -> None:
        return None


class ForgetfulCache(ReplayCache):
    def __contains__(self, key: object) -> bool:
        return False

    def claim(self, key: Any, ttl: float | None = None) -> bool:
        return True


class PendingTrustingSettler(Settler):
    """Reports success once the network queued the transaction, without waiting for the ledger."""

    async def _await(self, sub: Any, payer: str, resend: bool) -> Settlement:
        return Settlement("success", transaction=sub.tx_hash, payer=payer)


MUTANTS: dict[str, dict[str, Any]] = {
    "wrong_amount": {"verifier_type": _blind("amount")},
    "wrong_pay_to": {"verifier_type": _blind("payTo")},
    "wrong_asset": {"verifier_type": _blind("asset")},
    "expired": {"verifier_type": ExpiryBlind, "settler_type": PendingTrustingSettler},
    "wrong_network": {"verifier_type": SignatureBlind, "settler_type": PendingTrustingSettler},
    "replay": {"verifier_type": _NoSimulation, "settler_type": PendingTrustingSettler, "replays": ForgetfulCache(1.0)},
}


def play(stack: V2Stack, kind: str, attempt: int) -> list[RequestRecord]:
    """What a v2 tamperer records for one arrival of `kind` (tamperer_v2.TampererV2.act)."""
    path = f"/resources/t{attempt}"
    rows = []
    with httpx.Client(base_url=stack.service_url, timeout=30) as http:
        def send(headers: dict[str, str], user: str, expected: str) -> int:
            t0 = time.time()
            resp = http.get(path, headers=headers)
            receipt = decode_header(resp.headers, "PAYMENT-RESPONSE") or {}
            rows.append(RequestRecord(t0, t0, "x402-v2", "GET", path, resp.status_code, (time.time() - t0) * 1000,
                                      (time.time() - t0) * 1000, user_kind=user, expected=expected,
                                      tx_hash=str(receipt.get("transaction") or "")))
            return resp.status_code

        payer = stack.payers[attempt % len(stack.payers)]
        tamper = None if kind == "replay" else Tamper(kind, stack.keys[0].public_key)
        value, _ = pay(stack.rpc(), http.get(path).headers, payer, tamper=tamper)
        if kind == "replay":
            if send({"PAYMENT-SIGNATURE": value}, "replayer", "ok") == 200:
                send({"PAYMENT-SIGNATURE": value}, "replayer", "replay")
        else:
            send({"PAYMENT-SIGNATURE": value}, "tamperer_v2", "reject" if kind in CRYPTO_TAMPERINGS else "mismatch")
    return rows


def p33(stack: V2Stack, records: list[RequestRecord]) -> Any:
    time.sleep(1.5)  # a settlement the mutant answered early reaches the ledger
    with httpx.Client(timeout=10) as http:
        events = [Event(e["t"], "service", e["kind"], e["data"]) for e in stack.events(http)]
    ctx = JudgeContext.build(records, events=events, ledger_history=stack.ledger.ledger.history(since=0),
                             params={"min_cases": ATTEMPTS}, run_start_epoch=0.0)
    return judge_tampered_proofs(ctx)


def _run(kinds: list[str], **parts: Any) -> Any:
    with v2_stack(close_interval=0.3, **parts) as stack:
        records = [r for i in range(ATTEMPTS) for kind in kinds for r in play(stack, kind, i)]
        return p33(stack, records)


@pytest.mark.parametrize("kind", sorted(MUTANTS))
def test_p33_fails_when_the_facilitator_accepts_this_kind(kind: str) -> None:
    check = _run([kind], **MUTANTS[kind])
    assert check.verdict == VERDICT_FAIL, check.reason
    assert check.figures["accepted"] >= 1


def test_the_real_facilitator_refuses_every_kind_and_p33_passes() -> None:
    check = _run(sorted(MUTANTS))
    assert check.verdict == VERDICT_PASS, check.reason
    assert check.figures["accepted"] == 0 and check.figures["crypto"] == 2 * ATTEMPTS
    assert check.figures["critical_records"] == 2 * ATTEMPTS
