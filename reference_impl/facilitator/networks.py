"""CAIP-2 names of Stellar networks in x402 v2, bound to their passphrases.

The Stellar namespace names the real networks `stellar:pubnet` and `stellar:testnet` (the official
`@x402/stellar` maps only those two to passphrases: src/constants.ts
`STELLAR_NETWORK_TO_PASSPHRASE`). Every other passphrase - the harness's offline network, a local
quickstart - is `stellar:offline`, and a real network's name is never given to another passphrase:
nothing signed for the offline network may look like, or be, a payment on a real one.
"""

from __future__ import annotations

import re

from reference_impl.errors import ConfigurationError

REAL_NETWORKS = {
    "Public Global Stellar Network ; September 2015": "stellar:pubnet",
    "Test SDF Network ; September 2015": "stellar:testnet",
    "Test SDF Future Network ; October 2022": "stellar:futurenet",
}
OFFLINE_NETWORK = "stellar:offline"
_NAME = re.compile(r"stellar:[-_a-zA-Z0-9]{1,32}")


def caip2_network(passphrase: str, name: str | None = None) -> str:
    """The CAIP-2 name for `passphrase` (`name` overrides it for a network that is not a real one)."""
    real = REAL_NETWORKS.get(passphrase)
    if name is None:
        return real or OFFLINE_NETWORK
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"x402 network name {name!r} must look like stellar:<1..32 of [-_a-zA-Z0-9]>")
    if name != real and (real is not None or name in REAL_NETWORKS.values()):
        raise ConfigurationError(f"x402 network name {name!r} does not belong to this network passphrase")
    return name
