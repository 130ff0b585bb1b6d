"""The L1 baseline side by side with the Torch-Pruning library's (not a test; issue 15).
Run: .venv/bin/python bench/bench_l1.py [model file]   (default: the shipped SqueezeNet base)
Needs ``pip install --no-deps torch-pruning`` (not a project dependency); without it, its rows are
left out and the line says so.

One-shot global pruning of the base, no training: every filter scored once on the unpruned
network, the lowest-scoring removed across all layers until the trunk has lost 5, 17 and 38 % of
its parameters (the shares of the issue's first measurement), then the EER on the 1,000
development pairs with its 95 % interval. Rows:

- ``facelib l1``: ``criteria.l1_scores``, group L1 over the group's mean;
- ``first study's l1``: the sum of |w| of each filter of the group's non-depthwise convolutions,
  unnormalised (facelib's L1 until issue 15: ranked across layers, it favours wide fan-in);
- ``torch-pruning group l1``: ``GroupMagnitudeImportance(p=1)`` (mean over the group, over the
  group's mean), global pruning by ``MetaPruner``, its ratio bisected to the same trunk size;
- ``random``: seeded uniform scores, as the study's random criterion.

All rows are measured in this one run, on one base, at the same parameter counts (within one filter).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from torch import nn

from facelib.data.pairs import lfw_pairs
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.networks import models
from facelib.networks.base import FaceNet
from facelib.pruning.criteria import l1_scores
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.selection import pruned_to
from facelib.training.allocator import hold_freed_memory

SHARES = (0.05, 0.17, 0.38)


def first_study_l1(model: nn.Module, group) -> torch.Tensor:
    """facelib's L1 before issue 15, kept here only to show its collapse beside the fix."""
    n, total = size(model, group), torch.zeros(size(model, group), dtype=torch.float64)
    for name in group.outputs:
        m = model.get_submodule(name)
        if isinstance(m, nn.Conv2d) and not (m.groups > 1 and m.groups == m.in_channels):
            total += m.weight.abs().reshape(n, -1).sum(1).double()
    return total


def torch_pruning_to(base: FaceNet, target: int):
    """Torch-Pruning's global group L1 with its ratio bisected to ``target`` trunk parameters;
    None without the library."""
    try:
        import torch_pruning as tp
    except ImportError:
        return None
    x = torch.randn(1, 3, base.input_size, base.input_size)

    def removed(ratio: float) -> FaceNet:
        model = copy.deepcopy(base)
        tp.pruner.MetaPruner(model, x, importance=tp.importance.GroupMagnitudeImportance(p=1), global_pruning=True,
                             pruning_ratio=ratio, ignored_layers=[model.head]).step()
        return model

    lo, hi = 0.0, 0.95
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if removed(mid).trunk_parameters() > target else (lo, mid)
    return removed(hi)


def main() -> None:
    hold_freed_memory()
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/squeezenet-distill-base.pt")
    base = models.load_model(path)
    pairs = lfw_pairs("dev")
    groups = channel_groups(base)
    by_name = {g.name: g for g in groups}
    scores = {
        "facelib l1": {g.name: l1_scores(base, g, by_name) for g in groups},
        "first study's l1": {g.name: first_study_l1(base, g) for g in groups},
        "random": {g.name: torch.rand(size(base, g), generator=torch.Generator().manual_seed(i), dtype=torch.float64)
                   for i, g in enumerate(groups)},
    }
    full = base.trunk_parameters()
    v = verification.evaluate_model(base, pairs)
    print(f"{path}: trunk {full:,} parameters, development EER {v.eer:.1%} [{v.eer_low:.1%}, {v.eer_high:.1%}]")
    print("criterion | share of trunk parameters removed | trunk parameters | EER [95 %] on 1,000 development pairs")
    for share in SHARES:
        target = int(full * (1 - share))
        models_at = {name: pruned_to(base, s, target) for name, s in scores.items()}
        models_at["torch-pruning group l1"] = torch_pruning_to(base, target)
        for name, model in models_at.items():
            if model is None:
                print(f"{name} | {share:.0%} | torch-pruning is not installed (pip install --no-deps torch-pruning)")
                continue
            v = verification.evaluate_model(model, pairs)
            print(f"{name} | {1 - model.trunk_parameters() / full:.1%} | {model.trunk_parameters():,} "
                  f"| {v.eer:.1%} [{v.eer_low:.1%}, {v.eer_high:.1%}]", flush=True)


if __name__ == "__main__":
    try:
        main()
    except FacelibError as e:  # a missing or unreadable model file: one sentence
        sys.exit(f"bench_l1: {e}")
