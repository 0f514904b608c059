"""The README's component example runs as written (keeps the documentation true)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_components_example_in_readme_runs(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = next(b for b in blocks if "ManualClock()" in b)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the example loads config/testnet.json relative to the checkout
    try:
        exec(compile(example, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "140.0 140.0"  # one alert for the one breaching sample
    assert "7 decimal places" in out[1]
