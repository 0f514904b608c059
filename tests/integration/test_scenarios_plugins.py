"""`--scenarios PATH`: user classes from a module or folder add or replace traffic kinds in the Locust process.

The locustfile is imported in a child process (Locust never enters the pytest process) with a real run-config
file; the user class is the documented example of docs/evidence-contract.md, so the documentation stays true.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.profiles import load_profile
from harness.run.accounts import derive_accounts, write_private_files

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)
PROBE = ("import scenarios.locustfile as lf; "
         "print(json.dumps({k: [c.__module__, c.__name__, c.fixed_count] for k, c in lf.ACTIVE.items()}))")


def documented_example() -> str:
    text = (REPO / "docs" / "evidence-contract.md").read_text()
    return next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class OrderPayer" in b)


def _import_locustfile(tmp_path: Path, mix: dict[str, float], scenarios: list[str]) -> subprocess.CompletedProcess[str]:
    profile = load_profile("e2e-short").to_dict()
    profile["mix"] = mix
    files = write_private_files(derive_accounts(1))
    try:
        config = tmp_path / "run-config.json"
        config.write_text(json.dumps({
            "run_id": "plugins", "seed": 1, "ready_file": str(tmp_path / "ready"), "start_file": str(tmp_path / "start"),
            "service_url": "http://127.0.0.1:9", "ledger_url": "http://127.0.0.1:9", "profile": profile,
            "accounts_file": str(files.load_accounts), "out_dir": str(tmp_path / "load"), "corpus_file": None,
            "rate_limits": {}, "scenarios": scenarios}))
        return subprocess.run([sys.executable, "-c", f"import json; {PROBE}"], cwd=REPO, capture_output=True, text=True,
                              timeout=90, env={**os.environ, "HARNESS_RUN_CONFIG": str(config), "PYTHONPATH": str(REPO)})
    finally:
        files.cleanup()


def test_the_documented_user_class_adds_a_kind_the_mix_names(tmp_path: Path) -> None:
    module = tmp_path / "my_users.py"
    module.write_text(documented_example())
    assert len(documented_example().strip().splitlines()) <= 22  # "a 20-line example"
    result = _import_locustfile(tmp_path, {"order_payer": 4, "decider": 1}, [str(module)])
    assert result.returncode == 0, result.stderr[-2000:]
    active = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(active) == {"order_payer", "decider"}
    assert active["order_payer"][1] == "OrderPayer" and active["order_payer"][2] >= 1
    assert active["decider"][0] == "scenarios.users.decider"


def test_a_folder_replaces_a_built_in_kind_and_an_unknown_kind_stops_the_load(tmp_path: Path) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    (folder / "settlers.py").write_text("from scenarios.users.base import PacedUser\n\n\nclass MySettler(PacedUser):\n"
                                        "    kind = 'settler'\n\n    def act(self, intended_s):\n        pass\n")
    (folder / "_helpers.py").write_text("raise RuntimeError('files starting with _ are not loaded')\n")
    result = _import_locustfile(tmp_path, {"settler": 1}, [str(folder)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["settler"][1] == "MySettler"
    unknown = _import_locustfile(tmp_path, {"ghost_kind": 1}, [str(folder)])
    assert unknown.returncode != 0
    assert "profile mix names ghost_kind but no user class has that kind" in unknown.stderr


def test_the_documented_example_sends_keys_the_run_issues() -> None:
    """The example's `self.key(PREFIX, ...)` labels are issued (the target finds their hashes in
    SRH_API_KEYS_FILE); a label outside the issued set fails loudly instead of going out unissued."""
    from scenarios.client_keys import KEY_PREFIX, UnissuedLabelError, api_key

    prefixes = re.findall(r"self\.key\(\"(\w+)\"", documented_example())
    assert prefixes
    for prefix in prefixes:
        assert api_key(b"k" * 32, f"{prefix}-0").startswith(KEY_PREFIX)
    with pytest.raises(UnissuedLabelError):
        api_key(b"k" * 32, "orders-0")
