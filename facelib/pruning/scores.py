"""Filter importance: the Taylor criterion of the papers and three baselines.

Taylor (Molchanov et al. 2017, eq. 8): for a feature map ``z`` (channel k, H x W positions)
and its gradient ``g = dL/dz``, the first-order estimate of the loss change from removing
channel k of example n is

    Theta_n(k) = | (1 / HW) * sum_{h,w} z[n,k,h,w] * g[n,k,h,w] |

averaged over the examples of a mini-batch, then over the mini-batches of a pruning
iteration. It is measured at each tap of a group and the taps' scores are summed. Optional
per-group L2 normalisation (Molchanov eq. 9): ``Theta(k) / ||Theta||_2`` over the group.

Baselines on the same loop:
- ``l1``: group L1 (Li et al. 2017's filter L1 norm, made comparable across layers as the
  Torch-Pruning library's group magnitude importance does): per channel, the mean over the
  group's weight slices of sum |w|, divided by the group's mean (``l1_scores``);
- ``weight_taylor``: sum of |w * dL/dw| over every weight of the channel in the group
  (filters, batch norm, depthwise filters, and the consumers' input slices), the criterion of
  the Torch-Pruning library's group Taylor importance;
- ``random``: uniform scores from the run's seeded generator.

``select_to_remove`` picks the lowest-scoring filters across groups; ``pruned_to`` removes them in one
shot until a network is down to a given size (the one-shot comparisons of ``bench/bench_l1.py``).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from facelib.pruning.groups import Group, channel_groups, input_offset, size
from facelib.pruning.surgery import mask_channels, remove_chosen

CRITERIA = ("taylor", "l1", "weight_taylor", "random")


class ScoreCollector:
    """Accumulates per-channel scores of every group over training mini-batches.

    Create it before the training steps (for Taylor it hooks the taps, which then score every
    backward pass), call ``after_backward()`` once per mini-batch after ``loss.backward()``
    (it counts batches and, for weight Taylor, reads the weight gradients), then ``scores()``
    for the averages and ``remove()`` to unhook.
    """

    def __init__(self, model: nn.Module, groups: list[Group], criterion: str = "taylor",
                 generator: torch.Generator | None = None) -> None:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}")
        self.model, self.groups, self.criterion, self.generator = model, groups, criterion, generator
        self.by_name = {g.name: g for g in groups}
        self.sums = {g.name: torch.zeros(size(model, g), dtype=torch.float64) for g in groups}
        self.batches = 0
        self.active = True  # False while a backward pass must not be scored (e.g. an extra loss term)
        self.handles = []
        if criterion == "taylor":
            for g in groups:
                for tap in g.taps:
                    self.handles.append(model.get_submodule(tap).register_forward_hook(self._tap_hook(g.name)))

    def _tap_hook(self, name: str):
        def hook(_module, _inputs, z):
            if z.requires_grad:
                # The gradient hook must hold a detached view of z, never z itself: z owns the
                # autograd node that owns the hook, and that cycle passes through C++, where
                # Python's garbage collector cannot see it, so every feature map would leak.
                value = z.detach()

                def on_grad(g):
                    if self.active:
                        self.sums[name] += taylor_of_feature_map(value, g).double()
                z.register_hook(on_grad)
        return hook

    @torch.no_grad()
    def after_backward(self) -> None:
        """Call once per mini-batch after ``loss.backward()``."""
        self.batches += 1
        if self.criterion != "weight_taylor":
            return
        for g in self.groups:
            acc = self.sums[g.name]
            for name in g.outputs:
                m = self.model.get_submodule(name)
                for p in (m.weight, getattr(m, "bias", None)):
                    if p is not None and p.grad is not None:
                        acc += (p * p.grad).abs().reshape(len(acc), -1).sum(1).double()
            old = len(acc)
            for name, before in g.consumers:
                m = self.model.get_submodule(name)
                if m.weight.grad is None:
                    continue
                off = input_offset(self.model, before, self.by_name)
                w = (m.weight * m.weight.grad).abs()[:, off:off + old]
                acc += w.transpose(0, 1).reshape(old, -1).sum(1).double()

    def scores(self, normalise: bool = False) -> dict[str, torch.Tensor]:
        """Average score per channel of each group (higher = more important)."""
        if self.criterion == "l1":
            out = {g.name: l1_scores(self.model, g, self.by_name) for g in self.groups}
        elif self.criterion == "random":
            out = {g.name: torch.rand(size(self.model, g), generator=self.generator, dtype=torch.float64)
                   for g in self.groups}
        else:
            out = {k: v / max(self.batches, 1) for k, v in self.sums.items()}
        if normalise:
            out = {k: v / v.norm().clamp_min(1e-12) for k, v in out.items()}
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def taylor_of_feature_map(z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Eq. 8 for one feature map ``z`` [N, K, H, W] and its gradient ``g``: the mean over examples
    of |mean over positions of z * g|, per channel [K]."""
    return (z * g).mean(dim=(2, 3)).abs().mean(0)


@torch.no_grad()
def l1_scores(model: nn.Module, group: Group, by_name: dict[str, Group]) -> torch.Tensor:
    """Group L1 of each channel: ``s(k) = mean_j sum |w_j[k]|`` over the group's weight slices j
    (each output convolution's filter k, each batch norm's scale k, each consumer's input slice
    k; biases left out), then ``s(k) / mean_k s(k)``.

    Li et al. 2017 rank filters by L1 within one layer. Ranked across layers, raw sums compare
    filters of different fan-in (a SqueezeNet expand1x1 filter sums 16 weights, an expand3x3 one
    144), so the narrowest-fan-in layers empty first: the first study's L1 runs lost half of
    ``features.3.expand1x1`` in one step and fell to chance. Dividing by the group's mean leaves
    each group's ranking as it is and makes a score of 1 mean "average for its group", as
    Torch-Pruning's ``GroupMagnitudeImportance(p=1)`` (mean reduction, mean normaliser) does.

    Worked example, a group of 3 channels with one 1x1 output conv over 2 inputs and one consumer
    reading them: filters [[1, 1], [2, 2], [0, 3]] give sums 2, 4, 3; the consumer's columns
    [1, 0, 1] give 1, 0, 1; means 1.5, 2, 2; over their mean (11/6): 0.82, 1.09, 1.09.
    """
    n = size(model, group)
    slices: list[torch.Tensor] = []
    for name in group.outputs:
        slices.append(model.get_submodule(name).weight.detach().abs().reshape(n, -1).sum(1))
    for name, before in group.consumers:
        m = model.get_submodule(name)
        off = input_offset(model, before, by_name)
        slices.append(m.weight.detach().abs().transpose(0, 1)[off:off + n].reshape(n, -1).sum(1))
    s = torch.stack(slices).double().mean(0)
    return s / s.mean().clamp_min(1e-12)


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


def pruned_to(base: nn.Module, scores: dict[str, torch.Tensor], trunk_params: int) -> nn.Module:
    """One-shot global pruning: a copy of ``base`` without its lowest-scoring filters across all
    groups, the fewest that bring its trunk to ``trunk_params`` parameters or below (bisection on
    the count: ``select_to_remove`` of a larger count chooses a superset)."""
    by_name = {g.name: g for g in channel_groups(base)}

    def removed(count: int) -> nn.Module:
        model = copy.deepcopy(base)
        remove_chosen(model, select_to_remove(scores, count), by_name)
        return model

    lo, hi = 0, sum(len(v) for v in scores.values())
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if removed(mid).trunk_parameters() > trunk_params else (lo, mid)
    return removed(lo)


def taylor_scores_on_batch(model: nn.Module, group: Group, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Taylor score (eq. 8) of each channel of ``group`` from one mini-batch, model in eval mode."""
    model.eval()
    collector = ScoreCollector(model, [group], "taylor")
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    collector.after_backward()
    collector.remove()
    model.zero_grad()
    return collector.scores()[group.name]


@torch.no_grad()
def zeroing_loss_change(model: nn.Module, group: Group, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|L(channel k zeroed) - L| on one mini-batch for every channel k of ``group``: what the
    Taylor score estimates to first order (one forward pass per channel)."""
    model.eval()
    base = F.cross_entropy(model(x), y).item()
    change = []
    for k in range(size(model, group)):
        with mask_channels(model, group, [k]):
            change.append(abs(F.cross_entropy(model(x), y).item() - base))
    return torch.tensor(change, dtype=torch.float64)
