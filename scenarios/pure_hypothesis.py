"""Hypothesis generation that depends on its seed and strategies only, not on what the process imported.

Hypothesis (6.170.17) draws about 5% of its integers, floats, strings and bytes from constants: a fixed global
set, and the literals of every project ("local") module in `sys.modules` at the time
(hypothesis/internal/conjecture/providers.py: `HypothesisProvider._maybe_draw_constant` reads
`_get_local_constants()`, which parses new local modules with hypothesis/internal/constants_ast.py; the
permitted choices are cached in `CONSTANTS_CACHE`). Seeded data made that way changes with the modules loaded
and with any edit of a string literal in them. No setting, environment variable or public provider switch
turns it off: a custom backend (`settings(backend=...)`) would still need this private hook, and any backend
other than "hypothesis" also turns off the engine's duplicate-avoiding generation (engine.py
`generate_new_test_cases`). So the one private hook is swapped here, and
tests/unit/test_corpus_reproducible.py fails if Hypothesis stops honouring it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

_LOCK = threading.Lock()


@contextmanager
def without_local_constants() -> Iterator[None]:
    """Within the block, Hypothesis draws constants from its own global set only (never from project modules).

    Process-wide while it lasts (the hook is a module global): callers generate seeded data here, not tests."""
    with _LOCK:
        collect = providers._get_local_constants
        providers.CONSTANTS_CACHE.cache.clear()  # choices cached with local constants from earlier draws
        providers._get_local_constants = Constants
        try:
            yield
        finally:
            providers._get_local_constants = collect
            providers.CONSTANTS_CACHE.cache.clear()
