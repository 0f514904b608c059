"""How fast the offline ledger verifies and applies transactions, against stellar-sdk's own floor.

    .venv/bin/python benchmarks/bench_ledger.py [--txs 2000] [--accounts 1000] [--http]

Floor = what any verifier using stellar-sdk must do per transaction: parse the envelope
(`TransactionEnvelope.from_xdr`), hash it and check one ed25519 signature. The ledger does that
(with the fast hash over the raw envelope bytes instead of `env.hash()`, which re-serialises),
plus its own checks, fee/sequence/balance updates, result XDR and history records.
One thread, pre-built signed envelopes (building and signing are the client's cost, not measured);
CPU figures are process time, best of several runs; the optional HTTP figures are wall time.
Also runs under the shared runner: `python -m benchmarks ledger -- --http`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nacl.signing import VerifyKey
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder, TransactionEnvelope, xdr

from harness.ledger.config import LedgerConfig
from harness.ledger.envelope import decode_envelope, fast_hash, network_id, parse_envelope
from harness.ledger.genesis import generated_keypair
from harness.ledger.history_index import HistoryIndex
from harness.ledger.ledger import Ledger
from reference_impl.clock import ManualClock

SEED = 1


def envelopes(ledger: Ledger, n_txs: int, n_accounts: int) -> list[str]:
    keys = [generated_keypair(SEED, i) for i in range(n_accounts)]
    seqs = {k.public_key: ledger.account(k.public_key).seq_num for k in keys}
    out = []
    for i in range(n_txs):
        kp, dest = keys[i % n_accounts], keys[(i * 7 + 1) % n_accounts]
        env = TransactionBuilder(Account(kp.public_key, seqs[kp.public_key]), ledger.passphrase, 100) \
            .append_payment_op(dest.public_key, Asset.native(), "1.25").add_time_bounds(0, 0).build()
        env.sign(kp)
        seqs[kp.public_key] += 1
        out.append(env.to_xdr())
    return out


def per_tx_us(fn: Callable[[str], object], xdrs: list[str], repeats: int = 5) -> float:
    """Best-of-`repeats` CPU microseconds per transaction (process time: a busy machine inflates it less)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for x in xdrs:
            fn(x)
        best = min(best, (time.process_time() - start) / len(xdrs) * 1e6)
    return best


def floor_breakdown(xdrs: list[str], passphrase: str) -> dict[str, float]:
    net = network_id(passphrase)
    envs = [TransactionEnvelope.from_xdr(x, passphrase) for x in xdrs]
    keys = {e.transaction.source.account_id: VerifyKey(Keypair.from_public_key(e.transaction.source.account_id)
                                                       .raw_public_key()) for e in envs}
    by_xdr = dict(zip(xdrs, envs, strict=True))

    def floor(x: str) -> None:
        env = TransactionEnvelope.from_xdr(x, passphrase)
        keys[env.transaction.source.account_id].verify(env.hash(), env.signatures[0].signature)

    def sdk_hash(x: str) -> bytes:
        return by_xdr[x].hash()

    def raw_hash(x: str) -> bytes:
        return fast_hash(decode_envelope(x), net, [64])

    hashes = {x: e.hash() for x, e in by_xdr.items()}

    def verify(x: str) -> None:
        env = by_xdr[x]
        keys[env.transaction.source.account_id].verify(hashes[x], env.signatures[0].signature)

    return {
        "floor: from_xdr + env.hash() + verify": per_tx_us(floor, xdrs),
        "  from_xdr (XDR unpack + high-level objects, StrKeys)": per_tx_us(
            lambda x: TransactionEnvelope.from_xdr(x, passphrase), xdrs),
        "  env.hash() (re-serialises)": per_tx_us(sdk_hash, xdrs),
        "  ed25519 verify": per_tx_us(verify, xdrs),
        "ledger parts: XDR unpack only": per_tx_us(lambda x: xdr.TransactionEnvelope.from_xdr_bytes(
            base64.b64decode(x)), xdrs),
        "  fast hash (base64 decode + sha256 of raw bytes)": per_tx_us(raw_hash, xdrs),
        "  parse_envelope (unpack + fast hash + plain values)": per_tx_us(
            lambda x: parse_envelope(x, passphrase, net), xdrs),
    }


def ledger_throughput(n_txs: int, n_accounts: int, close_every: int, repeats: int = 3) -> dict[str, float]:
    """Best of `repeats` fresh ledgers: submit everything, closing every `close_every` transactions."""
    runs = [_ledger_run(n_txs, n_accounts, close_every) for _ in range(repeats)]
    return min(runs, key=lambda r: r["total us/tx"])


def _ledger_run(n_txs: int, n_accounts: int, close_every: int) -> dict[str, float]:
    if close_every > n_accounts:
        raise SystemExit("--close-every must be <= --accounts: stellar-core queues one transaction per account")
    config = LedgerConfig(auto_close=False, generate_accounts=n_accounts, seed=SEED,
                          max_tx_set_size=max(close_every, 1000), max_pending=n_txs + 1)
    ledger = Ledger(config, clock=ManualClock())
    index = HistoryIndex(ledger)
    xdrs = envelopes(ledger, n_txs, n_accounts)
    submit_s = close_s = index_s = 0.0
    for start in range(0, n_txs, close_every):
        t0 = time.process_time()
        for x in xdrs[start:start + close_every]:
            ledger.submit(x)
        t1 = time.process_time()
        closed = ledger.close_ledger()
        t2 = time.process_time()
        index.sync()  # what LedgerServer does after every close: the read side indexes the new ledger
        index_s += time.process_time() - t2
        close_s += t2 - t1
        submit_s += t1 - t0
        assert not closed.dropped and not closed.violations
    applied = sum(1 for r in ledger.history() if r["kind"] == "applied" and r["successful"])
    assert applied == n_txs, applied
    return {"submit (parse+fast hash+checks+verify) us/tx": submit_s / n_txs * 1e6,
            "close (re-check+apply+result xdr+history+invariants) us/tx": close_s / n_txs * 1e6,
            "read-side index (history sync after close) us/tx": index_s / n_txs * 1e6,
            "total us/tx": (submit_s + close_s) / n_txs * 1e6,
            "tx/s (one core)": n_txs / (submit_s + close_s)}


def http_throughput(n_txs: int, n_accounts: int, concurrency: int, path: str) -> dict[str, float]:
    """POST `path` to `harness ledger` running in its own process; aiohttp client in this one."""
    import aiohttp

    local = Ledger(LedgerConfig(auto_close=False, generate_accounts=n_accounts, seed=SEED), clock=ManualClock())
    xdrs = envelopes(local, n_txs, n_accounts)  # same seed and genesis as the server's
    cmd = [sys.executable, "-m", "harness.ledger", "--port", "0", "--close-interval", "0.1", "--seed", str(SEED),
           "--generate-accounts", str(n_accounts), "--max-pending", str(n_txs + 1)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    latencies: list[float] = []

    async def client(url: str, queue: list[str]) -> None:
        async with aiohttp.ClientSession() as session:
            while queue:
                x = queue.pop()
                t0 = time.perf_counter()
                async with session.post(url + path, data={"tx": x}) as resp:
                    await resp.read()
                    assert resp.status in (200, 201), resp.status
                latencies.append(time.perf_counter() - t0)

    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        queue = list(reversed(xdrs))
        cpu_before = _process_cpu_s(proc.pid)
        start = time.perf_counter()

        async def run() -> None:
            await asyncio.gather(*(client(url, queue) for _ in range(concurrency)))

        asyncio.run(run())
        elapsed = time.perf_counter() - start
        server_cpu_ms = (_process_cpu_s(proc.pid) - cpu_before) / n_txs * 1e3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    latencies.sort()
    label = f"http {path} x{concurrency}"
    return {f"{label} server CPU ms/req": server_cpu_ms,
            f"{label} tx/s": n_txs / elapsed,
            f"{label} p50 ms": statistics.median(latencies) * 1e3,
            f"{label} p95 ms": latencies[int(0.95 * (len(latencies) - 1))] * 1e3}


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_ledger", description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--close-every", type=int, default=500)
    parser.add_argument("--http", action="store_true", help="also measure sync HTTP submission")
    args = parser.parse_args(argv)
    ledger = Ledger(LedgerConfig(auto_close=False, generate_accounts=args.accounts, seed=SEED), clock=ManualClock())
    xdrs = envelopes(ledger, args.txs, args.accounts)
    results = floor_breakdown(xdrs, ledger.passphrase)
    results.update(ledger_throughput(args.txs, args.accounts, args.close_every))
    if args.http:
        for path in ("/transactions", "/transactions_async"):  # one tx per account: no TRY_AGAIN_LATER
            results.update(http_throughput(min(args.txs, args.accounts, 2000), args.accounts, 128, path))
    floor = results["floor: from_xdr + env.hash() + verify"]
    results["floor tx/s (one core)"] = 1e6 / floor
    results["ledger cost / floor"] = results["total us/tx"] / floor
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
