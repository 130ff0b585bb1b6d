"""Which filters go: the lowest-scoring ones across the whole network (``select_to_remove``), as the
papers remove them each step, and a one-shot version down to a given size (``pruned_to``)."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from facelib.pruning.groups import channel_groups
from facelib.pruning.surgery import remove_chosen


def select_to_remove(scores: dict[str, torch.Tensor], count: int, min_channels: int = 1,
                     round_to: int = 1) -> dict[str, list[int]]:
    """The ``count`` lowest-scoring channels across all groups, never leaving a group with fewer
    than ``min_channels``. Returns current channel indices per group.

    ``round_to`` > 1 keeps every group's channel count a multiple of ``round_to`` (optimised CPU
    kernels work in blocks of 8 or 16 channels; ``bench/bench_deploy.py``): channels then go in
    *units*, a group's lowest-scoring ``round_to`` channels (or, where its count is not yet a
    multiple, the few that make it one), the unit with the lowest mean score first, until at least
    ``count`` channels are chosen; no group falls below ``max(min_channels, round_to)``. Example
    with ``round_to=4``: groups of 10 and 8 channels give units of 2 (10 -> 8) and 4 (8 -> 4)."""
    if round_to <= 1:
        flat = sorted((float(s), name, i) for name, v in scores.items() for i, s in enumerate(v.tolist()))
        left = {name: len(v) for name, v in scores.items()}
        chosen: dict[str, list[int]] = {}
        for _, name, i in flat:
            if count == 0:
                break
            if left[name] > min_channels:
                chosen.setdefault(name, []).append(i)
                left[name] -= 1
                count -= 1
        return chosen
    floor = max(min_channels, round_to)
    order = {name: torch.argsort(v, stable=True).tolist() for name, v in scores.items()}
    taken = {name: 0 for name in scores}

    def unit(name: str) -> list[int] | None:
        left = len(order[name]) - taken[name]
        n = left % round_to or round_to
        return order[name][taken[name]:taken[name] + n] if left - n >= floor else None

    chosen = {}
    while count > 0:
        units = [(float(scores[n][u].mean()), n, u) for n in scores if (u := unit(n)) is not None]
        if not units:
            break
        _, name, u = min(units, key=lambda t: t[0])
        chosen.setdefault(name, []).extend(u)
        taken[name] += len(u)
        count -= len(u)
    return chosen


def without_lowest(base: nn.Module, scores: dict[str, torch.Tensor], count: int, round_to: int = 1) -> nn.Module:
    """One-shot global pruning: a copy of ``base`` without its ``count`` lowest-scoring filters across
    all groups (``select_to_remove``; ``round_to`` keeps every group's count a multiple of it)."""
    model = copy.deepcopy(base)
    remove_chosen(model, select_to_remove(scores, count, round_to=round_to), {g.name: g for g in channel_groups(base)})
    return model


def pruned_to(base: nn.Module, scores: dict[str, torch.Tensor], limit: int, round_to: int = 1,
              size: Callable[[nn.Module], int] = lambda m: m.trunk_parameters()) -> nn.Module:
    """``without_lowest`` with the fewest filters that bring ``size`` (default: the trunk's parameters;
    ``networks.models.count_macs`` for MACs) to ``limit`` or below (bisection on the count:
    ``select_to_remove`` of a larger count chooses a superset, so the size falls as the count grows)."""
    lo, hi = 0, sum(len(v) for v in scores.values())
    while lo < hi:
        mid = (lo + hi) // 2
        too_big = size(without_lowest(base, scores, mid, round_to)) > limit
        lo, hi = (mid + 1, hi) if too_big else (lo, mid)
    return without_lowest(base, scores, lo, round_to)
