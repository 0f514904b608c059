"""What the judges hold a target to: thresholds, rate limits, the breaker timeout.

Sources, in order: the profile (`thresholds_ms`, `rate_limits`, `judging`), the environment config
(`config/<env>.json`, the seed's format), and what the target announces on its responses
(`X-RateLimit-Limit`, and the window from `RateLimit-Policy: <limit>;w=<seconds>`). Never the
reference service's code: a judge that read the limits from the code it judges would share its bugs.
The rate-limit presets are the seed's published vocabulary (STRICT 10/min ... AUTH 5/min, DESIGN §4.5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
THRESHOLD_KEYS = {
    "settlementFinality": "settlement.finality",
    "channelLatency": "channel.latency",
    "x402Handshake": "x402.handshake",
    "agentDecision": "agent.decision",
    "contractExecution": "contract.execution",
}
V2_HANDSHAKE = "x402.handshake.v2"
# The seed's presets: name -> (max requests, window seconds).
PRESET_LIMITS = {"STRICT": (10, 60.0), "STANDARD": (100, 60.0), "RELAXED": (1000, 60.0), "PAYMENT": (50, 60.0),
                 "AUTH": (5, 60.0)}
# Endpoint label of the records -> the limiter name under security.rateLimit.endpoints in the config.
ENDPOINT_LIMITERS = {
    "settlement": "settlements",
    "escrow": "escrow",
    "x402": "resources",
    "x402-v2": "resources",
    "x402-challenge": "resources",
    "channel": "channels",
    "decision": "decisions",
}


def env_config(env: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """The environment's config document ({} when it cannot be read)."""
    try:
        return json.loads((config_dir / f"{env}.json").read_text())
    except (OSError, ValueError):
        return {}


def thresholds_ms(env: str, overrides: Mapping[str, float], x402_v2: bool = False) -> dict[str, float]:
    """Metric -> p95 threshold (ms): the config's monitoring thresholds, then the profile's overrides.

    With x402 v2 traffic, `x402.handshake.v2` is the x402 handshake budget on top of one ledger close (the
    spec serves only settled payments), as the service's own alert threshold is.
    """
    config = env_config(env)
    raw = config.get("monitoring", {}).get("thresholds", {})
    out = {metric: float(raw[key]) for key, metric in THRESHOLD_KEYS.items() if key in raw}
    if x402_v2 and "x402.handshake" in out:
        out[V2_HANDSHAKE] = out["x402.handshake"] + float(config.get("stellar", {}).get("ledgerCloseMs", 5000))
    out.update(overrides)
    return out


def judging_params(env: str, profile_judging: Mapping[str, Any]) -> dict[str, Any]:
    """The breaker timeout from the config, then the profile's `judging` section."""
    breaker = env_config(env).get("security", {}).get("circuitBreaker", {})
    params: dict[str, Any] = {}
    if "timeoutMs" in breaker:
        params["breaker_timeout_s"] = float(breaker["timeoutMs"]) / 1000.0
    params.update(profile_judging)
    return params


def configured_rate_limits(env: str) -> dict[str, dict[str, Any]]:
    """Endpoint label -> {limit, window_s, algorithm} named by the config's security.rateLimit section."""
    section = env_config(env).get("security", {}).get("rateLimit", {})
    if not section.get("enabled", True):
        return {}
    configured = section.get("endpoints", {})
    algorithm = section.get("algorithm", "token-bucket")
    out = {}
    for label, limiter in ENDPOINT_LIMITERS.items():
        preset = PRESET_LIMITS.get(str(configured.get(limiter, "")))
        if preset is not None:
            out[label] = {"limit": preset[0], "window_s": preset[1], "algorithm": algorithm}
    return out


def announced_rate_limits(records: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Endpoint label -> the limit the target announced most often, where it also announced a window.

    Headers do not name the algorithm, so it is judged as a token bucket: the looser of the two bounds
    (limit + rate x span), which a correct sliding-window limiter also meets.
    """
    out: dict[str, dict[str, Any]] = {}
    if "ratelimit_limit" not in records.columns or "ratelimit_window_s" not in records.columns:
        return out
    seen = records[(records["ratelimit_limit"] > 0) & (records["ratelimit_window_s"] > 0)]
    for endpoint, group in seen.groupby("endpoint", sort=True):
        pair = group.groupby(["ratelimit_limit", "ratelimit_window_s"]).size().idxmax()
        out[str(endpoint)] = {"limit": int(pair[0]), "window_s": float(pair[1]), "algorithm": "token-bucket"}
    return out


def resolve_rate_limits(profile_limits: Mapping[str, Mapping[str, Any]], env: str,
                        records: pd.DataFrame | None = None) -> tuple[dict[str, dict[str, Any]], str]:
    """(endpoint label -> limit, a description of where each came from) by precedence profile > config > announced."""
    layers = [("profile", {k: dict(v) for k, v in profile_limits.items()}),
              (f"config/{env}.json security.rateLimit", configured_rate_limits(env)),
              ("announced by the target (X-RateLimit-Limit, RateLimit-Policy)",
               announced_rate_limits(records) if records is not None else {})]
    out: dict[str, dict[str, Any]] = {}
    origin: dict[str, list[str]] = {}
    for name, limits in layers:
        for label, limit in limits.items():
            if label not in out:
                out[label] = limit
                origin.setdefault(name, []).append(label)
    return out, "; ".join(f"{name}: {', '.join(sorted(labels))}" for name, labels in origin.items())
