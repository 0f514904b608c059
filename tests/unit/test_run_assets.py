"""The offline world a run pays in: the profile's asset, else each configured asset's offline counterpart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from stellar_sdk import Keypair

from harness.errors import HarnessConfigurationError
from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import offline_asset
from harness.profiles import ProfileError, load_profile, parse_profile
from harness.run.assets import RunAssets, offline_counterpart, run_assets

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
OFFLINE_USDC = offline_asset(LedgerConfig())


@pytest.mark.parametrize("env", ["development", "testnet", "mainnet"])
def test_every_environment_pays_the_offline_usdc_by_default(env):
    """Circle's USDC on testnet and mainnet (config/<env>.json) becomes the offline network's USDC."""
    assert run_assets(env, None) == RunAssets(OFFLINE_USDC, OFFLINE_USDC)
    assert run_assets(env, None).service_environ() == {"SRH__PAYMENT__ASSET": OFFLINE_USDC,
                                                       "SRH__PAYMENT__X402__ASSET": OFFLINE_USDC}


def test_the_profile_chooses_the_scenarios_asset():
    assert run_assets("mainnet", "native") == RunAssets("native", "native")
    assert run_assets("development", "USDC") == RunAssets(OFFLINE_USDC, OFFLINE_USDC)
    assert load_profile("e2e-short").asset == "native"  # one shipped run keeps paying XLM
    assert load_profile("smoke").asset is None  # the environment's (USDC)
    with pytest.raises(ProfileError) as info:
        parse_profile({"name": "t", "phases": [{"name": "s", "shape": "steady", "duration_s": 5, "rate": 1}],
                       "mix": {"settler": 1}, "asset": "EURC"})
    assert info.value.field == "asset"


def test_an_asset_the_offline_network_does_not_issue_is_refused(tmp_path):
    shutil.copy(CONFIG_DIR / "testnet.json", tmp_path / "testnet.json")
    raw = json.loads((tmp_path / "testnet.json").read_text())
    raw["payment"]["asset"] = f"EURC:{Keypair.from_raw_ed25519_seed(bytes(32)).public_key}"
    (tmp_path / "testnet.json").write_text(json.dumps(raw))
    with pytest.raises(HarnessConfigurationError, match="issues only USDC"):
        run_assets("testnet", None, config_dir=tmp_path)
    assert offline_counterpart("native") == "native"
    assert offline_counterpart("USDC:GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN") == OFFLINE_USDC
