"""The run manifest: what is needed to reproduce and audit a run.

git revision (and whether the tree was dirty), seeds, a hash of everything that configures the
run (profile document, environment config file, command-line options), package versions, the
fault schedule, and the public parts of the run's accounts.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.profiles import Profile

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "stellar-resilience-harness",
    "locust",
    "stellar-sdk",
    "toxiproxy-python",
    "pandas",
    "matplotlib",
    "uvicorn",
    "starlette",
    "httpx",
    "prometheus-client",
    "hypothesis",
)


def git_revision(root: Path = REPO_ROOT) -> dict[str, Any]:
    """HEAD's commit and whether tracked files differ from it (read-only git commands)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"revision": "unknown", "dirty": None}
    return {"revision": rev, "dirty": bool(status.strip())}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def config_hash(profile: Profile, env_config: Path | None, options: dict[str, Any]) -> str:
    """SHA-256 over the canonical profile, the environment config file's bytes and the options."""
    digest = hashlib.sha256()
    digest.update(json.dumps(profile.to_dict(), sort_keys=True).encode())
    if env_config is not None and env_config.is_file():
        digest.update(env_config.read_bytes())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def build_manifest(
    *,
    run_id: str,
    profile: Profile,
    seed: int,
    env: str,
    env_config: Path | None,
    options: dict[str, Any],
    accounts: dict[str, Any],
    started_at: str,
) -> dict[str, Any]:
    """The manifest.json document."""
    return {
        "run_id": run_id,
        "started_at": started_at,
        "profile": profile.name,
        "profile_source": profile.source,
        "env": env,
        "seeds": {"run": seed, "profile": profile.seed, "arrivals": seed, "corpus": seed},
        "git": git_revision(),
        "config_hash": config_hash(profile, env_config, options),
        "options": options,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "phases": [
            {"name": p.name, "shape": p.shape, "start_s": s, "end_s": e, "steady": p.steady}
            for p, s, e in profile.phase_bounds()
        ],
        "schedule": [
            {"at_s": f.at_s, "end_s": f.end_s, "proxy": f.proxy, "toxic": f.toxic, "stream": f.stream,
             "attributes": f.attributes, "toxicity": f.toxicity}
            for f in profile.faults
        ],
        "accounts": accounts,
    }
