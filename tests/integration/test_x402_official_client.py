"""The official x402 client as judge: @x402/core 2.9.0 + @x402/stellar 2.9.0 (npm, pinned in tests/js)
pay the service through the fault proxies and the offline network, with and without a latency toxic,
and the run's x402 v2 checks hold on what they saw. The only shim is in tests/js/x402_official_pay.mjs
(the official client knows no network but testnet and pubnet; see its header): the service, the
facilitator and the network's passphrase are the ones every run uses.

Path of the client's Soroban RPC calls: https://127.0.0.1:<proxy soroban-rpc-tls> -> fault proxy ->
tests/tls_terminator.py -> the ledger's direct listener (AssembledTransaction refuses plain http).
The facilitator's RPC calls go through horizon-primary / horizon-secondary, as in a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults.client import FaultSpec
from harness.judges.context import VERDICT_PASS, JudgeContext
from harness.judges.nothing_lost import judge_nothing_lost
from harness.judges.rejections import judge_tampered_proofs
from harness.judges.targets import judge_target
from harness.ledger.config import OFFLINE_PASSPHRASE
from harness.outputs import RequestRecord
from reference_impl.facilitator.networks import OFFLINE_NETWORK
from tests.integration.x402_v2_stack import V2Stack, v2_stack
from tests.node_clients import run_script
from tests.tls_terminator import TlsTerminator, self_signed_certificate

pytestmark = pytest.mark.timeout(300)
PRICE = 100_000
PROXIES = ("horizon-primary", "horizon-secondary", "soroban-rpc-tls")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[V2Stack, str, Path]]:
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    with v2_stack(close_interval=1.0) as stack:
        direct = int(stack.ledger_urls[2].rsplit(":", 1)[1])
        with TlsTerminator(direct, cert, key) as tls:
            rpc = stack.faults.ensure_proxy("soroban-rpc-tls", f"127.0.0.1:{tls.port}")
            yield stack, f"https://{rpc}/soroban/rpc", cert


def official_pay(stack: V2Stack, rpc_url: str, cert: Path, paths: list[str], payer: int, replay: bool) -> Any:
    args = {"serviceUrl": stack.service_url, "facilitatorUrl": stack.facilitator_url, "paths": paths,
            "payerSecret": stack.payers[payer].secret, "rpcUrl": rpc_url, "passphrase": OFFLINE_PASSPHRASE,
            "network": OFFLINE_NETWORK, "horizonUrl": f"http://{stack.proxies['horizon-primary']}",
            "replay": replay}
    return run_script("x402_official_pay.mjs", args, timeout_s=240, env={"NODE_EXTRA_CA_CERTS": str(cert)})


def records(seen: Any) -> list[RequestRecord]:
    """What a run records for these payments (x402-v2 rows; the replays as user kind `replayer`)."""
    rows, t = [], 1.0
    for i, result in enumerate(seen["payments"]):
        assert result["ok"], result
        pay = result["value"]
        tx = (pay["receipt"] or {}).get("transaction", "")
        rows.append(RequestRecord(t, t, "x402-v2", "GET", f"/resources/o{i}", pay["status"], pay["latencyMs"],
                                  pay["latencyMs"], user_kind="paying_agent_v2", expected="ok", tx_hash=tx))
        if "replay" in pay:
            rows.append(RequestRecord(t + 0.5, t + 0.5, "x402-v2", "GET", f"/resources/o{i}", pay["replay"]["status"],
                                      5.0, 5.0, user_kind="replayer", expected="replay"))
        t += 2.0
    return rows


def check_payments(stack: V2Stack, seen: Any, payer: int, before: int) -> list[str]:
    assert seen["supported"]["ok"], seen["supported"]  # HTTPFacilitatorClient's schema accepted /supported
    assert seen["supported"]["value"]["kinds"] == [{"x402Version": 2, "scheme": "exact", "network": OFFLINE_NETWORK,
                                                    "extra": {"areFeesSponsored": True}}]
    hashes = []
    for result in seen["payments"]:
        pay = result["value"]
        assert (pay["challengeStatus"], pay["status"]) == (402, 200), pay
        assert pay["network"] == OFFLINE_NETWORK and pay["accepted"]["asset"] == stack.usdc_contract
        receipt = pay["receipt"]
        assert receipt["success"] is True and receipt["payer"] == stack.payers[payer].public_key
        hashes.append(receipt["transaction"])
    applied = {r["hash"]: r for r in stack.applied()}
    assert all(applied[h]["successful"] and applied[h]["operations"][0]["destination"] == stack.pay_to for h in hashes)
    assert stack.usdc_balance(stack.payers[payer].public_key) == before - PRICE * len(hashes)
    return hashes


def judged(stack: V2Stack, rows: list[RequestRecord], min_samples: int, since: int) -> JudgeContext:
    """The judges' view of these payments and the ledger history from index `since` (this test's part)."""
    end = max(r.sent_s for r in rows) + 10.0
    return JudgeContext.build(rows, ledger_history=stack.ledger.ledger.history(since=since),
                              phases=[{"name": "steady", "start_s": 0.0, "end_s": end, "steady": True}],
                              # a bound no loaded machine reaches: this asserts the judge reads the official
                              # client's handshakes, not their speed (benchmarks/bench_x402_v2.py measures that)
                              thresholds_ms={"x402.handshake.v2": 60_000.0},
                              params={"min_samples": min_samples, "min_window_samples": 1, "window_s": end,
                                      "min_cases": 1}, duration_s=end)


def test_the_official_client_pays_and_its_replay_is_refused(world: tuple[V2Stack, str, Path]) -> None:
    stack, rpc_url, cert = world
    before, since = stack.usdc_balance(stack.payers[0].public_key), len(stack.ledger.ledger.history(since=0))
    seen = official_pay(stack, rpc_url, cert, ["/resources/o0", "/resources/o1", "/resources/o2"], 0, replay=True)
    check_payments(stack, seen, 0, before)
    replays = [p["value"]["replay"] for p in seen["payments"]]
    assert all(r["status"] == 402 and r["required"] for r in replays)
    ctx = judged(stack, records(seen), min_samples=3, since=since)
    checks = [judge_nothing_lost(ctx), judge_tampered_proofs(ctx), judge_target(ctx, "x402.handshake.v2")]
    assert [c.verdict for c in checks] == [VERDICT_PASS] * 3, [(c.id, c.reason) for c in checks]
    assert checks[0].figures["x402_served"] == 3 and checks[0].figures["x402_unserved"] == 0
    assert checks[2].figures["samples"] == 3


def test_the_official_client_pays_through_a_latency_toxic(world: tuple[V2Stack, str, Path]) -> None:
    stack, rpc_url, cert = world
    names = {proxy: stack.faults.apply(FaultSpec(proxy, "latency", attributes={"latency": 150, "jitter": 20}))
             for proxy in PROXIES}
    try:
        before, since = stack.usdc_balance(stack.payers[1].public_key), len(stack.ledger.ledger.history(since=0))
        seen = official_pay(stack, rpc_url, cert, ["/resources/l0", "/resources/l1"], 1, replay=False)
    finally:
        for proxy, name in names.items():
            stack.faults.remove(name, proxy)
    check_payments(stack, seen, 1, before)
    assert min(p["value"]["latencyMs"] for p in seen["payments"]) > 150 * 4  # the toxic was on the path
    assert judge_nothing_lost(judged(stack, records(seen), min_samples=2, since=since)).verdict == VERDICT_PASS
