"""Runs shared by several end-to-end test modules (each is minutes of CPU on a shared machine)."""

from __future__ import annotations

import pytest

from tests.e2e.runs import RunResult, harness_run, once_per_session


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """`harness run smoke` with the reference service started in-process by the harness."""
    return once_per_session(tmp_path_factory, "smoke", lambda folder: harness_run("smoke", folder / "run", timeout_s=400.0))
