"""Random payment sequences keep the invariants after every close; the checker catches violations."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Account, Asset, Claimant, ClaimPredicate, TransactionBuilder

from harness.ledger.config import STROOPS_PER_XLM, LedgerConfig, format_amount
from harness.ledger.genesis import generated_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.records import SubmitStatus
from reference_impl.clock import ManualClock

SEED = 3
N_ACCOUNTS = 4
KEYS = [generated_keypair(SEED, i) for i in range(N_ACCOUNTS)]

actions = st.lists(
    st.tuples(st.sampled_from(["pay", "pay", "escrow", "claim", "data"]), st.integers(0, N_ACCOUNTS - 1),
              st.integers(0, N_ACCOUNTS - 1),
              st.sampled_from([1, 7 * STROOPS_PER_XLM, 24 * STROOPS_PER_XLM, 40 * STROOPS_PER_XLM])
              | st.integers(1, 40 * STROOPS_PER_XLM), st.booleans()),
    min_size=1, max_size=25)


def new_ledger() -> Ledger:
    return Ledger(LedgerConfig(auto_close=False, generate_accounts=N_ACCOUNTS, seed=SEED,
                               generated_balance=25 * STROOPS_PER_XLM), clock=ManualClock())


@settings(max_examples=40)
@given(steps=actions)
def test_invariants_hold_after_every_close(steps: list[tuple[str, int, int, int, bool]]) -> None:
    """Payments, escrows (claimable balances), claims and data entries between random accounts."""
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
        if kind == "escrow":
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
    held = sum(a.balance for a in accounts) + sum(b.amount for b in ledger.claimable_balances())
    assert held + ledger.fee_pool() == N_ACCOUNTS * 25 * STROOPS_PER_XLM  # nothing left the group
    sponsored = sum(len(b.claimants) for b in ledger.claimable_balances())
    assert sum(a.num_sponsoring for a in accounts) == sponsored
    assert all(a.subentry_count == len(a.data) for a in accounts)
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
