"""The offline world a run binds the service under test to, whatever environment it judges.

A run under `--env testnet` or `--env mainnet` judges that environment's *settings* (thresholds,
breaker timeout, retries, rate limits, ledger cadence), never its network: the service signs for the
offline network's own passphrase (its `--network-passphrase`, which names an isolated `standalone`
network, so mainnet's safety rules accept loopback Horizons and nothing else), talks to the run's
loopback Horizon proxies, and pays in the offline network's assets. The configured assets keep their
meaning: `native` stays XLM, and an issued asset is replaced by the offline asset of the same code
(USDC by Circle on testnet or mainnet -> the offline network's USDC). A profile may choose the asset
of its scenario (`asset`: "native" or "USDC") instead of the environment's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.cadence import CONFIG_DIR
from harness.errors import HarnessConfigurationError
from harness.ledger.config import LedgerConfig
from harness.ledger.genesis import offline_asset

NATIVE = "native"


@dataclass(frozen=True, slots=True)
class RunAssets:
    """What the run's settlements and escrows (`payment`) and x402 prices (`x402`) pay in."""

    payment: str
    x402: str

    def service_environ(self) -> dict[str, str]:
        """The service's config overrides (ConfigManager's `SRH__` scheme) for these assets."""
        return {"SRH__PAYMENT__ASSET": self.payment, "SRH__PAYMENT__X402__ASSET": self.x402}

    def to_dict(self) -> dict[str, str]:
        return {"payment": self.payment, "x402": self.x402}


def offline_counterpart(asset: str, ledger: LedgerConfig | None = None) -> str:
    """`asset` ("native" or "CODE[:ISSUER]") in the offline network: native, or its issued asset of that code."""
    config = ledger or LedgerConfig()  # the run's ledger uses the default seed, hence this issuer
    if asset == NATIVE:
        return NATIVE
    code = asset.partition(":")[0]
    if code != config.asset_code:
        raise HarnessConfigurationError(f"asset {asset}: the offline network issues only {config.asset_code} "
                                        f"(and XLM as 'native')")
    return offline_asset(config)


def run_assets(env: str, profile_asset: str | None, config_dir: Path | None = None) -> RunAssets:
    """The run's assets: the profile's choice for every payment, else each configured asset's counterpart."""
    if profile_asset is not None:
        chosen = offline_counterpart(profile_asset)
        return RunAssets(chosen, chosen)
    from reference_impl.config_manager import ConfigManager
    from reference_impl.errors import ConfigurationError

    try:
        payment = ConfigManager(env, config_dir or CONFIG_DIR).load().payment
    except ConfigurationError as exc:
        raise HarnessConfigurationError(f"environment {env}: {exc}") from None
    return RunAssets(offline_counterpart(payment.asset), offline_counterpart(payment.x402.asset))
