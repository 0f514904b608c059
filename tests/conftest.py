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
