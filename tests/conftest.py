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
    `-m "not e2e"` split of `make test-fast` cannot miss a test whose module forgot its marker."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.path)).relative_to(root).parts
        if parts and parts[0] in _TIER_MARKERS:
            item.add_marker(_TIER_MARKERS[parts[0]])
        if group := _shared_run(item):
            item.add_marker(pytest.mark.xdist_group(group))


def _shared_run(item: pytest.Item) -> str | None:
    """The module- or session-scoped fixture (a whole `harness run`, minutes of CPU) this test shares with
    others, if any: `make test` runs with pytest-xdist `--dist loadgroup`, which keeps the tests of one group
    on one worker, so each shared run is played once; every other test is handed out one by one."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    ours = {name: defs[-1].scope for name, defs in info.name2fixturedefs.items()
            if defs and defs[-1].baseid.startswith("tests")}
    session = sorted(name for name, scope in ours.items() if scope == "session")
    module = sorted(name for name, scope in ours.items() if scope == "module")
    return session[0] if session else f"{item.path.stem}::{module[0]}" if module else None
