"""Helpers for tests of Soroban in the offline network: SAC calls built with stellar-sdk, simulated and
prepared in-process the way SorobanServer.prepare_transaction does over HTTP."""

from __future__ import annotations

import itertools
import random
from typing import Any

from stellar_sdk import Account, Asset, Keypair, StrKey, TransactionBuilder, TransactionEnvelope, scval
from stellar_sdk.auth import authorize_entry
from stellar_sdk.base_soroban_server import _assemble_transaction
from stellar_sdk.soroban_rpc import SimulateTransactionResponse

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair, issuer_keypair
from harness.ledger.ledger import Ledger
from harness.ledger.soroban.rpc_methods import _simulation_body
from harness.ledger.soroban.simulate import Simulation, simulate
from reference_impl.clock import ManualClock

SEED = 5
PAYER, PAYEE, SUBMITTER = (generated_keypair(SEED, i) for i in range(3))
ISSUER = issuer_keypair(SEED)


def soroban_ledger(**overrides: Any) -> Ledger:
    """A manually closed ledger with three funded accounts holding USDC trustlines."""
    config = LedgerConfig(auto_close=False, generate_accounts=3, seed=SEED, **overrides)
    return Ledger(config, clock=ManualClock())


def usdc(ledger: Ledger) -> Asset:
    return Asset(ledger.config.asset_code, ISSUER.public_key)


def sac(ledger: Ledger, asset: Asset | None = None) -> str:
    """The C... id of an asset's Stellar Asset Contract (stellar-sdk's own derivation)."""
    return (asset or usdc(ledger)).contract_id(ledger.passphrase)


def invoke(ledger: Ledger, source: Keypair, contract: str, function: str, args: list[Any], fee: int = 100) -> TransactionEnvelope:
    """An unsigned InvokeHostFunction transaction of `source` (no Soroban data yet)."""
    seq = ledger.account(source.public_key).seq_num if ledger.account(source.public_key) else 0
    return (TransactionBuilder(Account(source.public_key, seq), ledger.passphrase, fee)
            .append_invoke_contract_function_op(contract, function, args).set_timeout(300).build())


def transfer(ledger: Ledger, source: Keypair, frm: str, to: str, amount: int, contract: str | None = None) -> TransactionEnvelope:
    return invoke(ledger, source, contract or sac(ledger), "transfer",
                  [scval.to_address(frm), scval.to_address(to), scval.to_int128(amount)])


_SEEDS = itertools.count(1)


def simulated(ledger: Ledger, env: TransactionEnvelope, auth_mode: str = "") -> Simulation:
    """simulateTransaction in-process; each call draws its recording nonces from a fresh seeded generator."""
    rng = random.Random(next(_SEEDS))
    return ledger.with_state(lambda state, header: simulate(state, env.to_xdr_object(), ledger.network_id,
                                                            header.sequence, auth_mode, 0, rng))


def prepared(ledger: Ledger, env: TransactionEnvelope, sim: Simulation | None = None) -> TransactionEnvelope:
    """SorobanServer.prepare_transaction: the simulation's data, fee and (absent any) auth."""
    sim = sim or simulated(ledger, env)
    assert sim.error is None, sim.error
    return _assemble_transaction(env, SimulateTransactionResponse.model_validate(_simulation_body(sim)))


def signed_transfer(ledger: Ledger, signer: Keypair, submitter: Keypair, amount: int, to: str | None = None,
                    valid_for: int = 20, passphrase: str | None = None, contract: str | None = None) -> TransactionEnvelope:
    """The x402 shape: `signer` authorises transfer(signer -> to) by an auth entry; `submitter` is the
    source and fee payer. Prepared from the enforcing simulation, signed by the submitter."""
    env = transfer(ledger, submitter, signer.public_key, to or PAYEE.public_key, amount, contract)
    recorded = simulated(ledger, env)
    assert recorded.error is None, recorded.error
    until = ledger.latest().sequence + valid_for
    env.transaction.operations[0].auth = [authorize_entry(e, signer, until, passphrase or ledger.passphrase)
                                          for e in recorded.auth]
    enforced = simulated(ledger, env)
    ready = prepared(ledger, env, enforced) if enforced.error is None else _with_data(env, recorded)
    ready.sign(submitter)
    return ready


def _with_data(env: TransactionEnvelope, sim: Simulation) -> TransactionEnvelope:
    """Keep the auth entries (even ones the network will refuse) with the recording simulation's data."""
    auth = env.transaction.operations[0].auth
    ready = _assemble_transaction(env, SimulateTransactionResponse.model_validate(_simulation_body(sim)))
    ready.transaction.operations[0].auth = auth
    return ready


def contract_id_bytes(contract: str) -> bytes:
    return StrKey.decode_contract(contract)


def usdc_balance(ledger: Ledger, account_id: str) -> int:
    lines = [t for t in ledger.trustlines(account_id) if t.asset.startswith(ledger.config.asset_code + ":")]
    return lines[0].balance if lines else 0
