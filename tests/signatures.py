"""Which network a signed Stellar envelope is valid on: every signature checked with stellar-sdk.

A signature covers sha256(network id || envelope type || transaction), the network id being sha256 of
the passphrase, so a signature that verifies for one passphrase is worthless for any other.
"""

from __future__ import annotations

from collections.abc import Iterable

from stellar_sdk import FeeBumpTransactionEnvelope, Keypair, Network, TransactionBuilder
from stellar_sdk.exceptions import BadSignatureError

REAL_PASSPHRASES = (Network.PUBLIC_NETWORK_PASSPHRASE, Network.TESTNET_NETWORK_PASSPHRASE,
                    Network.FUTURENET_NETWORK_PASSPHRASE)


def verified_signatures(envelope_xdr: str, passphrase: str, public_keys: Iterable[str]) -> int:
    """How many of the envelope's signatures (outer and inner of a fee bump) verify for `passphrase`
    against one of `public_keys`."""
    envelope = TransactionBuilder.from_xdr(envelope_xdr, passphrase)
    keys = [Keypair.from_public_key(k) for k in public_keys]
    parts = [envelope]
    if isinstance(envelope, FeeBumpTransactionEnvelope):
        parts.append(envelope.transaction.inner_transaction_envelope)
    count = 0
    for part in parts:
        digest = part.hash()
        for signature in part.signatures:
            for key in keys:
                if key.signature_hint() != signature.signature_hint:
                    continue
                try:
                    key.verify(digest, signature.signature)
                except BadSignatureError:
                    continue
                count += 1
                break
    return count
