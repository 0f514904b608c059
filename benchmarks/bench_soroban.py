"""What a Soroban SAC transfer costs the offline ledger, step by step, next to a classic payment.

    .venv/bin/python benchmarks/bench_soroban.py [--txs 200]

The x402 shape: each payer signs an auth entry for `transfer(payer -> payee)` on the USDC SAC, a
distinct submitter is source and fee payer. Steps, each CPU (process) time per transaction over the
whole batch: recording simulation, enforcing simulation (the signed entry checked), submission
(parse + checkValid + queue), and the close that applies them all. The classic row is one native
payment per account through submission and close. Also: `python -m benchmarks soroban -- --txs 100`.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from stellar_sdk import Account, Asset, TransactionBuilder, scval
from stellar_sdk.auth import authorize_entry

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.soroban.simulate import Simulation, simulate
from reference_impl.clock import ManualClock

SEED = 3


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def _simulate(ledger: Ledger, env: Any, rng: random.Random) -> Simulation:
    return ledger.with_state(lambda s, h: simulate(s, env.to_xdr_object(), ledger.network_id, h.sequence, "", 0, rng))


def run(n: int) -> list[tuple[str, float]]:
    ledger = Ledger(LedgerConfig(auto_close=False, generate_accounts=2 * n + 1, seed=SEED), clock=ManualClock())
    payee = generated_keypair(SEED, 2 * n).public_key
    contract = Asset(ledger.config.asset_code, issuer_keypair(SEED).public_key).contract_id(ledger.passphrase)
    rng = random.Random(SEED)
    envs = []
    for i in range(n):
        payer, submitter = generated_keypair(SEED, i), generated_keypair(SEED, n + i)
        envs.append(TransactionBuilder(Account(submitter.public_key, ledger.account(submitter.public_key).seq_num),
                                       ledger.passphrase, 100)
                    .append_invoke_contract_function_op(contract, "transfer", [
                        scval.to_address(payer.public_key), scval.to_address(payee), scval.to_int128(1000)])
                    .set_timeout(300).build())
    recorded, t_record = _timed(lambda: [_simulate(ledger, e, rng) for e in envs])
    for i, (env, sim) in enumerate(zip(envs, recorded, strict=True)):
        env.transaction.operations[0].auth = [authorize_entry(a, generated_keypair(SEED, i), 100, ledger.passphrase)
                                              for a in sim.auth]
    enforced, t_enforce = _timed(lambda: [_simulate(ledger, e, rng) for e in envs])
    for i, (env, sim) in enumerate(zip(envs, enforced, strict=True)):
        assert sim.error is None and sim.transaction_data is not None, sim.error
        env.transaction.soroban_data = sim.transaction_data
        env.transaction.fee = 100 + sim.min_resource_fee
        env.sign(generated_keypair(SEED, n + i))
    statuses, t_submit = _timed(lambda: [ledger.submit(e.to_xdr(), endpoint="rpc").status.value for e in envs])
    closed, t_close = _timed(ledger.close_ledger)
    if set(statuses) != {"PENDING"} or not all(a.successful for a in closed.applied) or closed.violations:
        raise RuntimeError("the Soroban batch did not apply cleanly")
    payments = []
    for i in range(n):
        kp = generated_keypair(SEED, i)
        tx = (TransactionBuilder(Account(kp.public_key, ledger.account(kp.public_key).seq_num), ledger.passphrase, 100)
              .append_payment_op(payee, Asset.native(), "1").set_timeout(300).build())
        tx.sign(kp)
        payments.append(tx.to_xdr())
    _, t_classic_submit = _timed(lambda: [ledger.submit(x) for x in payments])
    _, t_classic_close = _timed(ledger.close_ledger)
    return [("simulate, recording auth", t_record / n), ("simulate, enforcing the signed entry", t_enforce / n),
            ("submit (parse, checkValid, queue)", t_submit / n), ("close (apply, refund, meta, invariants)", t_close / n),
            ("classic payment: submit", t_classic_submit / n), ("classic payment: close", t_classic_close / n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"{'step (CPU ms per transaction, ' + str(args.txs) + ' transfers)':<58} {'ms':>8}")
    for name, seconds in run(args.txs):
        print(f"{name:<58} {seconds * 1e3:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
