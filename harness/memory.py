"""Allocator settings for a process that judges or reports a large run (called once by `harness` and the
report benchmark's steps, before any table is read).

Judging ten million requests reads columns of tens to hundreds of MiB, frees them and reads the next. Two
allocator habits made that cost twice the memory in benchmarks/bench_report.py (1e7 requests):
* Arrow's default pool (mimalloc) keeps what Arrow frees for Arrow; numpy and pandas allocate with glibc
  malloc. On the system pool both share one heap, so memory one frees the other reuses.
* glibc raises its mmap threshold up to 32 MiB after freeing a large block (M_MMAP_THRESHOLD is dynamic), so
  later arrays of a few MiB land on the heap, fragment it and are never returned. A fixed 1 MiB threshold
  keeps every array of 1 MiB or more in its own mapping, returned to the system when freed (mallopt(3)).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

M_MMAP_THRESHOLD = -3  # glibc malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20


def tune_allocators() -> None:
    """Arrow on the system allocator; on glibc, a fixed mmap threshold of 1 MiB. Harmless elsewhere."""
    pa.set_memory_pool(pa.system_memory_pool())
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
