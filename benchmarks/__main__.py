"""Benchmark runner: `python -m benchmarks [--list] [NAME ...] [-- ARGS ...]`.

Discovers `bench_*.py` modules next to this file; each exposes `main(argv=None) -> int` and prints its
own table. NAME is a module name with or without the `bench_` prefix; with no names every module runs.
ARGS after `--` are passed to every selected module's `main`. A failing module (import error, exception,
non-zero return) is reported and the runner goes on; the exit status is 1 if any failed, 2 for an
unknown name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"


def discover(directory: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Benchmark name (file stem without `bench_`) -> path, sorted by name."""
    return {p.stem[len(PREFIX):]: p for p in sorted(directory.glob(f"{PREFIX}*.py")) if p.is_file()}


def _load(path: Path) -> ModuleType:
    if path.parent == PACKAGE_DIR:
        return importlib.import_module(f"{__package__ or 'benchmarks'}.{path.stem}")
    name = f"_benchmarks_external_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _call_main(entry: Callable[..., Any], path: Path, argv: Sequence[str]) -> Any:
    """`entry(argv)`, or `entry()` for a parameterless main; sys.argv shows ARGS to mains that read it."""
    try:
        takes_argv = bool(inspect.signature(entry).parameters)
    except (TypeError, ValueError):
        takes_argv = True
    saved, sys.argv = sys.argv, [str(path), *argv]
    try:
        return entry(list(argv)) if takes_argv else entry()
    finally:
        sys.argv = saved


def run_one(name: str, path: Path, argv: Sequence[str]) -> bool:
    """Import and run one benchmark module; True when its `main` returned 0."""
    print(f"### {name} ({path.name})", flush=True)
    started = time.perf_counter()
    try:
        entry = getattr(_load(path), "main", None)
        if not callable(entry):
            raise TypeError(f"{path.name} has no callable main(argv=None) -> int")
        code = _call_main(entry, path, argv)
    except Exception:
        traceback.print_exc()
        print(f"!!! {name}: FAILED with an exception", file=sys.stderr, flush=True)
        return False
    elapsed = time.perf_counter() - started
    if code not in (0, None):
        print(f"!!! {name}: FAILED, main returned {code!r} ({elapsed:.1f} s)", file=sys.stderr, flush=True)
        return False
    print(f"--- {name}: ok ({elapsed:.1f} s)\n", flush=True)
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the available benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None, *, directory: Path | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    forwarded: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, forwarded = args[:cut], args[cut + 1:]
    options = _parser().parse_args(args)
    found = discover(directory or PACKAGE_DIR)
    if options.list:
        for name, path in found.items():
            print(f"{name}\t{path.name}")
        return 0
    wanted = [n[len(PREFIX):] if n.startswith(PREFIX) else n for n in options.names] or list(found)
    unknown = [n for n in wanted if n not in found]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(found) or 'none'}",
              file=sys.stderr)
        return 2
    if not wanted:
        print("no benchmarks found", file=sys.stderr)
        return 1
    failed = [name for name in wanted if not run_one(name, found[name], forwarded)]
    if failed:
        print(f"{len(failed)} of {len(wanted)} benchmark(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{len(wanted)} benchmark(s) ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
