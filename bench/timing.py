"""Timing helper shared by the benchmarks."""
from __future__ import annotations

import time


def best_of(fn, repeats: int = 3, warmup: bool = False) -> float:
    """Fastest of ``repeats`` timed calls (after one untimed call if ``warmup``): the least noisy
    figure on a shared machine."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
