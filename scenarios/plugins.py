"""User classes from `harness run --scenarios PATH`: a module (`.py` file) or a folder of them.

Every concrete `scenarios.users.base.PacedUser` subclass defined in those modules, with a `kind`, becomes a
traffic kind; one whose kind equals a built-in's replaces it. Imported only inside the Locust child process.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from scenarios.users.base import PacedUser


class ScenarioLoadError(SystemExit):
    """A --scenarios path cannot be loaded (Locust exits before it is ready, with this message)."""


def module_files(paths: Iterable[str | Path]) -> list[Path]:
    """The `.py` files named by `paths` (a folder contributes its files not starting with `_`)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        elif path.suffix == ".py" and path.is_file():
            out.append(path)
        else:
            raise ScenarioLoadError(f"--scenarios {path}: not a .py module or a folder")
    return out


def load_user_classes(paths: Iterable[str | Path]) -> dict[str, type[PacedUser]]:
    """kind -> user class defined in the modules named by `paths`."""
    classes: dict[str, type[PacedUser]] = {}
    for index, file in enumerate(module_files(paths)):
        if str(file.parent) not in sys.path:
            sys.path.insert(0, str(file.parent))  # sibling imports between the user's modules
        spec = importlib.util.spec_from_file_location(f"harness_scenarios_{index}_{file.stem}", file)
        if spec is None or spec.loader is None:
            raise ScenarioLoadError(f"--scenarios {file}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, PacedUser) and value.__module__ == spec.name
                    and not value.__dict__.get("abstract", False)):
                if not value.kind:
                    raise ScenarioLoadError(f"--scenarios {file}: {value.__name__} sets no `kind`")
                if value.kind in classes:
                    raise ScenarioLoadError(f"--scenarios: two user classes have kind {value.kind!r}")
                classes[value.kind] = value
    return classes
