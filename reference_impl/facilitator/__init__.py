"""The x402 v2 facilitator of the `exact` scheme on Stellar (docs/facilitator.md): `/verify`,
`/settle`, `/supported` over Soroban RPC, run by the harness as its own process."""

from reference_impl.facilitator.networks import OFFLINE_NETWORK, caip2_network
from reference_impl.facilitator.payload import Refusal, Requirements, Transfer
from reference_impl.facilitator.settler import Settlement, Settler
from reference_impl.facilitator.verifier import ExactStellarVerifier, ReplayCache, Verified

__all__ = ["OFFLINE_NETWORK", "ExactStellarVerifier", "Refusal", "ReplayCache", "Requirements", "Settlement",
           "Settler", "Transfer", "Verified", "caip2_network"]
