"""Random operation sequences keep the invariants after every close; the checker catches violations.

Native payments, escrows (claimable balances, native and USDC), claims, data entries, USDC payments
(also to and from the issuer: burn and mint) and trustline changes, between random accounts.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Account, Asset, Claimant, ClaimPredicate, TransactionBuilder

from harness.ledger.config import STROOPS_PER_XLM, LedgerConfig, format_amount
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock

SEED = 3
N_ACCOUNTS = 4
KEYS = [generated_keypair(SEED, i) for i in range(N_ACCOUNTS)] + [issuer_keypair(SEED)]
USDC = Asset("USDC", issuer_keypair(SEED).public_key)
EUR = Asset("EUR", KEYS[0].public_key)

actions = st.lists(
    st.tuples(st.sampled_from(["pay", "pay", "escrow", "claim", "data", "usdc", "usdc", "usdc_escrow", "trust",
                               "eur"]), st.integers(0, N_ACCOUNTS),
              st.integers(0, N_ACCOUNTS - 1),
              st.sampled_from([1, 7 * STROOPS_PER_XLM, 24 * STROOPS_PER_XLM, 40 * STROOPS_PER_XLM])
              | st.integers(1, 40 * STROOPS_PER_XLM), st.booleans()),
    min_size=1, max_size=25)


def new_ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=N_ACCOUNTS, seed=SEED,
                               generated_balance=25 * STROOPS_PER_XLM, generated_credit=30 * STROOPS_PER_XLM),
                  clock=ManualClock())


@settings(max_examples=40)
@given(steps=actions)
def test_invariants_hold_after_every_close(steps: list[tuple[str, int, int, int, bool]]) -> None:
    """Every close keeps lumens and each credit asset conserved, no balance negative or over a limit."""
    ledger = new_ledger()
    local_seq = {kp.public_key: ledger.account(kp.public_key).seq_num for kp in KEYS}
    applied_seqs: dict[str, list[int]] = {}
    balance_ids: list[tuple[str, int]] = []  # (balance id, claimant index)
    for kind, src, dst, amount, close_now in steps:
        if kind == "claim" and balance_ids and src % 2 == 0:
            src = balance_ids[amount % len(balance_ids)][1]  # half the claims come from the real claimant
        kp = KEYS[src]
        b = TransactionBuilder(Account(kp.public_key, local_seq[kp.public_key]), ledger.passphrase, 100)
        if kind == "pay":
            b.append_payment_op(KEYS[dst].public_key, Asset.native(), format_amount(amount))
        elif kind in ("usdc", "eur"):
            b.append_payment_op(KEYS[dst].public_key, USDC if kind == "usdc" else EUR, format_amount(amount))
        elif kind == "trust":
            b.append_change_trust_op(EUR, format_amount(amount) if close_now else "0")
        elif kind == "usdc_escrow":
            b.append_create_claimable_balance_op(USDC, format_amount(amount), [Claimant(KEYS[dst].public_key)])
        elif kind == "escrow":
            b.append_create_claimable_balance_op(Asset.native(), format_amount(amount), [
                Claimant(KEYS[dst].public_key), Claimant(kp.public_key, ClaimPredicate.predicate_not(
                    ClaimPredicate.predicate_unconditional()))])
        elif kind == "claim":
            b.append_claim_claimable_balance_op(balance_ids[amount % len(balance_ids)][0] if balance_ids
                                                else "00000000" + "11" * 32)
        else:
            b.append_manage_data_op(f"k{dst}", None if amount % 3 == 0 else b"v")
        env = b.set_timeout(600).build()
        env.sign(kp)
        if kind in ("escrow", "usdc_escrow"):
            balance_ids.append((env.transaction.get_claimable_balance_id(0), dst))
        if ledger.submit(env.to_xdr()).status is SubmitStatus.PENDING:
            local_seq[kp.public_key] += 1
        if close_now:
            closed = ledger.close_ledger()
            assert closed.violations == ()
            for tx in closed.applied:
                applied_seqs.setdefault(tx.source, []).append(tx.seq)
            local_seq = {k: max(v, ledger.account(k).seq_num) for k, v in local_seq.items()}
    closed = ledger.close_ledger()
    assert closed.violations == () and ledger.check_invariants() == []
    for tx in closed.applied:
        applied_seqs.setdefault(tx.source, []).append(tx.seq)
    for seqs in applied_seqs.values():
        assert seqs == sorted(set(seqs))
    accounts = [ledger.account(k.public_key) for k in KEYS]
    native_cbs = sum(b.amount for b in ledger.claimable_balances() if b.asset == "native")
    held = sum(a.balance for a in accounts) + native_cbs
    assert held + ledger.fee_pool() == (N_ACCOUNTS + 1) * 25 * STROOPS_PER_XLM  # nothing left the group
    usdc = f"USDC:{USDC.issuer}"
    usdc_held = sum(t.balance for k in KEYS for t in ledger.trustlines(k.public_key) if t.asset == usdc)
    usdc_held += sum(b.amount for b in ledger.claimable_balances() if b.asset == usdc)
    assert usdc_held == ledger.issued(usdc)
    sponsored = sum(len(b.claimants) for b in ledger.claimable_balances())
    assert sum(a.num_sponsoring for a in accounts) == sponsored
    assert all(a.subentry_count == len(a.data) + len(ledger.trustlines(a.account_id)) for a in accounts)
    assert not any(r["kind"] == "invariant_violation" for r in ledger.history())


def test_checker_detects_each_violation() -> None:
    ledger = new_ledger()
    state = ledger._state
    account = state.accounts[KEYS[0].public_key]
    account.balance -= 1
    assert any("not conserved" in v for v in ledger.check_invariants())
    account.balance = 1
    violations = ledger.check_invariants()
    assert any("below its minimum balance" in v for v in violations)
    account.balance = -5
    assert any("negative balance" in v for v in ledger.check_invariants())
    account.balance = 25 * STROOPS_PER_XLM
    line = state.trustlines[KEYS[1].public_key][f"USDC:{USDC.issuer}"]
    line.balance += 1
    assert any("USDC" in v and "not conserved" in v for v in ledger.check_invariants())
    line.balance = line.limit + 1
    state.issued[line.asset] += line.limit + 1 - 30 * STROOPS_PER_XLM
    assert [v for v in ledger.check_invariants() if "USDC" in v] == [
        f"trustline {line.asset} of {line.account_id} holds {line.balance} (limit {line.limit})"]
    closed = ledger.close_ledger()
    assert closed.violations and any(r["kind"] == "invariant_violation" for r in ledger.history())


def test_random_load_is_deterministic_for_a_seed() -> None:
    def run() -> list[str]:
        ledger = new_ledger()
        rng = random.Random(42)
        for _ in range(30):
            src, dst = rng.randrange(N_ACCOUNTS), rng.randrange(N_ACCOUNTS)
            kp = KEYS[src]
            seq = ledger.account(kp.public_key).seq_num
            env = TransactionBuilder(Account(kp.public_key, seq), ledger.passphrase, 100) \
                .append_payment_op(KEYS[dst].public_key, Asset.native(), str(rng.randint(1, 9))) \
                .add_time_bounds(0, 0).build()
            env.sign(kp)
            ledger.submit(env.to_xdr())
            if rng.random() < 0.5:
                ledger.close_ledger()
        ledger.close_ledger()
        return [h.hash for h in ledger.headers(descending=False, limit=200, cursor=None)]

    assert run() == run()
