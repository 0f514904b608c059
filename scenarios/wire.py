"""What crosses the network between a Locust master and its workers besides Locust's own messages.

A worker on another machine shares no storage with the master: the master sends it the run (config,
load accounts, corpus) as one bundle, and the worker streams its records back (`scenarios/record_stream.py`).
Locust's messages travel over plain ZeroMQ, unauthenticated and unencrypted, and anyone who reaches the
master port can send one; so every harness payload is sealed (XSalsa20-Poly1305, PyNaCl's `SecretBox`)
with a key derived from the run's join token. A worker without the token can read nothing of the run and
its records are refused. The token reaches processes through `$HARNESS_JOIN_TOKEN` or a 0600 file, never
argv or a log. No Locust import here.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

TOKEN_ENV = "HARNESS_JOIN_TOKEN"
BUNDLE_REQUEST_MSG, BUNDLE_MSG = "harness_bundle_request", "harness_bundle"
CONFIG_NAME, ACCOUNTS_NAME, CORPUS_NAME = "run-config.json", "accounts.json", "corpus.json"
MASTER_PATHS = ("accounts_file", "corpus_file", "out_dir", "ready_file", "start_file")  # meaningless elsewhere
_PERSON = b"srh-join-v1"  # domain separation: the token's key is used for nothing else


class SealError(ValueError):
    """A payload that was not sealed with this run's join token (or was altered on the way)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Sealer:
    """Seals and opens JSON payloads with the key of one join token."""

    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise SealError("the join token is too short (at least 16 characters)")
        key = hashlib.blake2b(token.encode(), digest_size=SecretBox.KEY_SIZE, person=_PERSON).digest()
        self._box = SecretBox(key)

    def seal(self, payload: Any) -> bytes:
        return bytes(self._box.encrypt(json.dumps(payload, separators=(",", ":")).encode()))

    def open(self, sealed: Any) -> Any:
        if not isinstance(sealed, bytes | bytearray):
            raise SealError("not a sealed payload")
        try:
            return json.loads(self._box.decrypt(bytes(sealed)))
        except (CryptoError, ValueError) as exc:
            raise SealError("a payload not sealed with this run's join token") from exc


def build_bundle(config: dict[str, Any]) -> dict[str, Any]:
    """What a worker needs of the run: the config without the master's paths, the accounts and the corpus."""
    corpus = config.get("corpus_file")
    return {"config": {k: v for k, v in config.items() if k not in MASTER_PATHS},
            "accounts": json.loads(Path(config["accounts_file"]).read_text()),
            "corpus": json.loads(Path(corpus).read_text()) if corpus else None}


def write_bundle(bundle: dict[str, Any], into: Path) -> Path:
    """Write a received bundle as the worker's own run config in `into` (its private folder); every path the
    config names is inside it, every file 0600. Returns the run config's path."""
    into = Path(into)
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = dict(bundle["config"])
    config.update(accounts_file=str(_private(into / ACCOUNTS_NAME, bundle["accounts"])),
                  corpus_file=str(_private(into / CORPUS_NAME, bundle["corpus"])) if bundle["corpus"] else None,
                  out_dir=str(into / "load"), ready_file=str(into / "locust-ready"), start_file=str(into / "run-start"))
    return _private(into / CONFIG_NAME, config)


def _private(path: Path, payload: Any) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    return path


def read_token(token_file: Path | None = None) -> str | None:
    """The join token from `token_file` (first line) or `$HARNESS_JOIN_TOKEN`; None when neither gives one."""
    if token_file is not None:
        return Path(token_file).read_text().strip() or None
    return os.environ.get(TOKEN_ENV) or None
