"""Shared test configuration.

Hypothesis profile "ci" (the default, also used by CI): derandomized (same examples every run),
no deadline (CI machines are slow and shared), 100 examples. Set HYPOTHESIS_PROFILE=thorough for
1000 randomized examples when hunting for bugs locally.
Locust is never imported in the pytest process: tests that need it start it as a child process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_TIER_MARKERS = {"e2e": pytest.mark.e2e, "integration": pytest.mark.integration}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder (tests/e2e -> e2e, tests/integration -> integration), so the
    `-m "not e2e"` split of `make test-fast` cannot miss a test whose module forgot its marker; and group
    the tests that share a module- or session-scoped fixture (for the e2e tests, a whole `harness run`, minutes
    of CPU): `make test` runs pytest-xdist with `--dist loadgroup`, which keeps a group on one worker, so each
    shared fixture is set up once; every other test is handed out one by one."""
    root = Path(__file__).parent
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    shared = [(item, _shared_fixtures(item)) for item in items]
    for _, keys in shared:
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    for item, keys in shared:
        parts = Path(str(item.path)).relative_to(root).parts
        if parts and parts[0] in _TIER_MARKERS:
            item.add_marker(_TIER_MARKERS[parts[0]])
        if keys:
            item.add_marker(pytest.mark.xdist_group(find(keys[0])))


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """The module- and session-scoped fixtures of this suite that `item` uses (module ones named per module)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    keys = []
    for name, defs in sorted(info.name2fixturedefs.items()):
        if defs and defs[-1].baseid.startswith("tests") and defs[-1].scope in ("module", "session"):
            keys.append(name if defs[-1].scope == "session" else f"{item.path.stem}::{name}")
    return keys
