"""CPU timing of face networks: the least noisy figure on a shared machine is the fastest of
several calls, so every timing here is a best-of."""
from __future__ import annotations

import time

import torch

from facelib.data import lfw_faces, load_images
from facelib.preprocessing import CROP, to_input


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


def paired_best_of(fn_a, fn_b, repeats: int = 40, min_seconds: float = 0.0) -> tuple[float, float]:
    """Seconds of the fastest call of ``fn_a`` and of ``fn_b``, the two called in turn at least
    ``repeats`` times and for at least ``min_seconds`` in all, after one untimed call each: on a
    shared machine whose speed drifts, both then see the same moments, so their ratio is steadier
    than that of two best-ofs taken one after the other."""
    fn_a(), fn_b()
    a, b = [], []
    began = time.perf_counter()
    while len(a) < repeats or time.perf_counter() - began < min_seconds:
        for fn, times in ((fn_a, a), (fn_b, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(a), min(b)


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
