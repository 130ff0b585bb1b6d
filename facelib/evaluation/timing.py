"""CPU timing of face networks: the least noisy figure on a shared machine is the fastest of
several calls, so every timing here is a best-of."""
from __future__ import annotations

import time
from typing import Callable

import torch

from facelib.data.datasets import lfw_faces, load_images
from facelib.data.preprocessing import CROP, to_input


def lfw_batch(n: int = 64) -> torch.Tensor:
    """``n`` real LFW faces as network input (the first people's images, in a fixed order): the
    mini-batch the benchmarks time."""
    faces = [f for fs in list(lfw_faces().values())[:200] for f in fs][:n]
    return to_input(load_images(faces))


def best_of(fn, repeats: int = 3, warmup: bool = False) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn`` (after one untimed call if ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def round_robin_best_of(fns: dict[str, Callable[[], object]], repeats: int = 40,
                        min_seconds: float = 0.0) -> dict[str, float]:
    """Seconds of the fastest call of each of ``fns``, all called in turn at least ``repeats``
    times and for at least ``min_seconds`` in all, after one untimed call each: on a shared machine
    whose speed drifts, they all see the same moments, so their ratios are steadier than those of
    best-ofs taken one after another."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    began, rounds = time.perf_counter(), 0
    while rounds < repeats or time.perf_counter() - began < min_seconds:
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        rounds += 1
    return {name: min(t) for name, t in times.items()}


def paired_best_of(fn_a, fn_b, repeats: int = 40, min_seconds: float = 0.0) -> tuple[float, float]:
    """``round_robin_best_of`` of two functions: the fastest call of ``fn_a`` and of ``fn_b``."""
    best = round_robin_best_of({"a": fn_a, "b": fn_b}, repeats, min_seconds)
    return best["a"], best["b"]


@torch.no_grad()
def paired_latency_ms(full: torch.nn.Module, pruned: torch.nn.Module, batch_size: int = 1,
                      repeats: int = 30, min_seconds: float = 2.0) -> tuple[float, float]:
    """Milliseconds of one embedding pass of ``batch_size`` 113x113 faces through ``full`` and
    through ``pruned``, timed in turn (``paired_best_of``), so that their ratio is fair."""
    full.eval(), pruned.eval()
    x = torch.zeros(batch_size, 3, CROP, CROP)
    a, b = paired_best_of(lambda: full.embed(x), lambda: pruned.embed(x), repeats, min_seconds)
    return 1000 * a, 1000 * b


@torch.no_grad()
def latency_ms(model: torch.nn.Module, batch_size: int = 1, repeats: int = 20) -> float:
    """Milliseconds of one forward pass of ``batch_size`` 113x113 faces (best of ``repeats``)."""
    model.eval()
    x = torch.zeros(batch_size, 3, CROP, CROP)
    return 1000 * best_of(lambda: model.embed(x), repeats, warmup=True)
