"""The JavaScript Stellar SDK (npm @stellar/stellar-sdk, pinned in tests/js) against the offline network.

A client nobody in this project wrote is the judge of the offline network's fidelity: every script in
tests/js drives the same HTTP API stellar-sdk (Python) uses, and these tests assert what it saw.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import generated_keypair
from harness.ledger.http_api import LedgerServer
from tests.node_clients import run_script

pytestmark = pytest.mark.timeout(180)

SEED = 11


@pytest.fixture(scope="module")
def network() -> Iterator[tuple[LedgerServer, str]]:
    server = LedgerServer(LedgerConfig(close_interval=0.1, submit_timeout=5, seed=SEED, generate_accounts=4))
    with server.run_in_thread() as urls:
        yield server, urls[0]


def test_js_sdk_loads_reads_the_base_fee_and_pays_with_a_memo(network: tuple[LedgerServer, str]) -> None:
    server, url = network
    payer, payee = generated_keypair(SEED, 0), generated_keypair(SEED, 1)
    result = run_script("horizon_smoke.mjs", {"horizon": url, "passphrase": server.ledger.passphrase,
                                              "payer_secret": payer.secret, "payee": payee.public_key})
    assert result["base_fee"] == 100
    assert result["submitted"] == {"successful": True, "hash": result["submitted"]["hash"]}
    assert server.ledger.transaction(result["submitted"]["hash"]).successful
