"""The API keys a run issues to its load clients (the service honours only these; issue 15.1).

Each load client names its key by a label, `<prefix>-<index>` (e.g. `settler-3`); the plain key is
`srhk_` + HMAC-SHA256(run key secret, label) (40 hex), so the harness and every Locust process
derive the same keys from one per-run secret without a key list on disk. The harness writes only
the keys' SHA-256 hashes for the service (`--api-keys-file`, mode 0600); the secret travels in the
load generator's private accounts file. Records name keys by label, never by value, and the
`srhk_` form lets the secret scan and the logger's redaction recognise a leaked key.
Imported by the harness and the Locust process alike (no Locust import here).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

KEY_PREFIX = "srhk_"
# Label prefixes of issued keys; a client using another prefix (or an index beyond the limit) fails loudly.
LABEL_PREFIXES = ("agent", "agent2", "channel", "settler", "decider", "escrow", "fuzzer", "tamperer", "tamperer2",
                  "abuser", "nonceflood", "channelflood", "slow", "patient",
                  "scenario")  # the user classes of `harness run --scenarios` (docs/evidence-contract.md §5)
MAX_KEYS_PER_PREFIX = 512


class UnissuedLabelError(KeyError):
    """A load client asked for a key label the run never issued."""


def issued_labels() -> Iterator[str]:
    for prefix in LABEL_PREFIXES:
        for index in range(MAX_KEYS_PER_PREFIX):
            yield f"{prefix}-{index}"


def check_label(label: str) -> str:
    prefix, _, index = label.rpartition("-")
    if prefix not in LABEL_PREFIXES or not index.isdigit() or int(index) >= MAX_KEYS_PER_PREFIX:
        raise UnissuedLabelError(f"no API key is issued for label {label!r} (prefixes: {', '.join(LABEL_PREFIXES)}; "
                                 f"indices below {MAX_KEYS_PER_PREFIX})")
    return label


def api_key(secret: bytes, label: str) -> str:
    """The plain key of `label` (raises UnissuedLabelError for a label outside the issued set)."""
    digest = hmac.new(secret, check_label(label).encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest[:40]


def write_key_hashes(path: Path, secret: bytes) -> int:
    """The service's key file: one SHA-256 hex digest per issued key, mode 0600; returns the count."""
    lines = [hashlib.sha256(api_key(secret, label).encode()).hexdigest() for label in issued_labels()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# SHA-256 of the API keys issued to this run's load clients\n" + "\n".join(lines) + "\n")
    return len(lines)
