"""Keep the memory a training step frees for the next step, instead of handing it back to the
kernel (glibc's malloc on Linux; elsewhere nothing changes).

glibc serves every block above its mmap threshold (adaptive, at most 32 MiB on 64-bit systems)
with a fresh ``mmap`` and unmaps it on ``free``. One training step of a face network at batch
64 allocates many feature maps that large (SqueezeNet's first layer: 64 x 64 x 56 x 56 floats,
51 MiB), so every step maps them again and the kernel zeroes every 4 KiB page on first touch:
tens of thousands of page faults per step, and step times that swing by 10-20 % with whatever
the previous step happened to free. Raising the mmap and trim thresholds lets malloc reuse the
previous step's memory: most steady steps then fault no page at all, and the peak resident memory
stays what it was (the process keeps what it already held at its peak).

``bench/bench_allocator.py`` measures the effect on a training step as a ratio. The training and
pruning loops call ``hold_freed_memory()``; ``FACELIB_HOLD_MEMORY=0`` in the environment turns it
off (for a long-lived process that must give memory back after training).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
_held = False


def hold_freed_memory(largest_block: int = 1 << 30) -> bool:
    """Serve blocks up to ``largest_block`` bytes from malloc's heap and never trim the heap, for
    the rest of the process. Returns whether it took effect (False where libc is not glibc, or
    with ``FACELIB_HOLD_MEMORY=0``)."""
    global _held
    if _held:
        return True
    if os.environ.get("FACELIB_HOLD_MEMORY") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _held = bool(mallopt(M_MMAP_THRESHOLD, largest_block)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _held
