"""Helpers of the end-to-end tests: run `harness run` as a child process and read its run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunResult:
    exit_code: int
    wall_s: float
    out_dir: Path
    output: str

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out_dir / "summary.json").read_text())

    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.summary["checks"]}


def harness_run(profile: str, out_dir: Path, *extra: str, timeout_s: float = 600.0) -> RunResult:
    """`python -m harness run PROFILE --out OUT_DIR ...`; the whole process group is killed on timeout."""
    argv = [sys.executable, "-m", "harness", "run", profile, "--out", str(out_dir), "--progress-interval", "10", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(f"harness run {profile} exceeded {timeout_s:.0f}s:\n{output[-3000:]}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return RunResult(proc.returncode, time.monotonic() - started, out_dir, output)
