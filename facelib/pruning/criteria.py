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
- ``random``: uniform scores from the run's seeded generator;
- ``reconstruction``: the error a channel's removal leaves in the layers reading it, refitted by least
  squares to the unpruned network's outputs (ThiNet's criterion; ``reconstruction_error``).

Each criterion is a class with one interface (``Importance``); ``importance(name, ...)`` makes one.
Which filters then go: ``facelib.pruning.selection``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facelib.errors import FacelibError
from facelib.pruning import CRITERION_NAMES, reconstruction_error
from facelib.pruning.groups import Group, input_offset, size
from facelib.pruning.surgery import mask_channels


class Importance:
    """One importance criterion: the score of every channel of every group, accumulated over the
    training mini-batches of a pruning step (higher = more important), as Torch-Pruning's
    ``Importance`` scores a group.

    Made before the step's training (Taylor hooks the taps then, and scores every backward pass
    while ``active``); ``after_backward()`` once per mini-batch after ``loss.backward()``;
    ``scores()`` for the step's scores, each group's divided by its L2 norm where ``normalise``
    (Molchanov et al. 2017, eq. 9); ``remove()`` to unhook.
    """

    needs_batches = True  # whether the scores come from the step's training mini-batches

    def __init__(self, model: nn.Module, groups: list[Group], normalise: bool = False,
                 generator: torch.Generator | None = None, reference=None) -> None:
        self.model, self.groups, self.normalise, self.generator = model, groups, normalise, generator
        self.reference = reference  # what a criterion scored on faces reads (reconstruction_error.Reference)
        self.by_name = {g.name: g for g in groups}
        self.batches = 0
        self.active = True  # False while a backward pass must not be scored (e.g. an extra loss term)
        self.weight = 1.0  # on this batch's Taylor scores: a process's share of a batch (training.parallel)

    def after_backward(self) -> None:
        self.batches += 1

    def combine(self, total) -> None:
        """Under data parallelism: every process's scores made the whole batches' (``total``: a tensor
        summed over the processes). Scores read from weights or gradients, which are the same in every
        process (the gradients averaged first), need nothing."""

    def raw_scores(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def scores(self) -> dict[str, torch.Tensor]:
        """Each group's channel scores, over their L2 norm where ``normalise`` (eq. 9)."""
        out = self.raw_scores()
        if self.normalise:
            out = {k: v / v.norm().clamp_min(1e-12) for k, v in out.items()}
        return out

    def remove(self) -> None:
        """Nothing to unhook (criteria that hook the network override this)."""


class Taylor(Importance):
    """Eq. 8, measured at each tap of a group (``taylor_of_feature_map``), the taps' scores summed and
    averaged over the step's mini-batches."""

    def __init__(self, model: nn.Module, groups: list[Group], normalise: bool = False,
                 generator: torch.Generator | None = None, reference=None) -> None:
        super().__init__(model, groups, normalise, generator, reference)
        self.sums = {g.name: torch.zeros(size(model, g), dtype=torch.float64) for g in groups}
        self.handles = [model.get_submodule(tap).register_forward_hook(self._tap_hook(g.name))
                        for g in groups for tap in g.taps]

    def _tap_hook(self, name: str):
        def hook(_module, _inputs, z):
            if z.requires_grad:
                # The gradient hook must hold a detached view of z, never z itself: z owns the
                # autograd node that owns the hook, and that cycle passes through C++, where
                # Python's garbage collector cannot see it, so every feature map would leak.
                value = z.detach()

                def on_grad(g):
                    if self.active:
                        self.sums[name] += self.weight * taylor_of_feature_map(value, g).double()
                z.register_hook(on_grad)
        return hook

    def raw_scores(self) -> dict[str, torch.Tensor]:
        return {k: v / max(self.batches, 1) for k, v in self.sums.items()}

    def combine(self, total) -> None:
        """Eq. 8 is a sum over faces, each process's weighted by its share (``Part.score_weight``):
        the processes' sums add up to the one-process sum."""
        self.sums = {k: total(v) for k, v in self.sums.items()}

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


class WeightTaylor(Importance):
    """Sum of |w * dL/dw| over every weight of the channel in its group, read after each backward
    pass and averaged over the step's mini-batches."""

    def __init__(self, model: nn.Module, groups: list[Group], normalise: bool = False,
                 generator: torch.Generator | None = None, reference=None) -> None:
        super().__init__(model, groups, normalise, generator, reference)
        self.sums = {g.name: torch.zeros(size(model, g), dtype=torch.float64) for g in groups}

    @torch.no_grad()
    def after_backward(self) -> None:
        super().after_backward()
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

    def raw_scores(self) -> dict[str, torch.Tensor]:
        return {k: v / max(self.batches, 1) for k, v in self.sums.items()}


class L1(Importance):
    """Group L1 of the weights as they are at the end of the step (``l1_scores``)."""

    def raw_scores(self) -> dict[str, torch.Tensor]:
        return {g.name: l1_scores(self.model, g, self.by_name) for g in self.groups}


class Random(Importance):
    """Uniform scores from the run's seeded generator."""

    def raw_scores(self) -> dict[str, torch.Tensor]:
        return {g.name: torch.rand(size(self.model, g), generator=self.generator, dtype=torch.float64)
                for g in self.groups}


class Reconstruction(Importance):
    """The error each channel's removal leaves in its readers once they are refitted, on the unpruned
    network's outputs for a few training faces (``reconstruction_error``, ThiNet's greedy search); read
    from the network as it is at the end of the step, from ``reference`` (a ``reconstruction_error.Reference``)."""

    needs_batches = False

    def __init__(self, model: nn.Module, groups: list[Group], normalise: bool = False,
                 generator: torch.Generator | None = None, reference=None) -> None:
        super().__init__(model, groups, normalise, generator, reference)
        if reference is None:
            raise FacelibError("the reconstruction criterion needs faces to reconstruct on: give --reconstruct-faces")

    def raw_scores(self) -> dict[str, torch.Tensor]:
        return reconstruction_error.scores(self.model, self.groups, self.reference)


CRITERIA: dict[str, type[Importance]] = dict(zip(CRITERION_NAMES, (Taylor, L1, WeightTaylor, Random, Reconstruction)))


def importance(criterion: str, model: nn.Module, groups: list[Group], normalise: bool = False,
               generator: torch.Generator | None = None, reference=None) -> Importance:
    """The criterion named ``criterion`` (a key of ``CRITERIA``) for ``groups`` of ``model``; ``reference``:
    what the reconstruction criterion reads (``reconstruction_error.Reference``), ignored by the others."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}")
    return CRITERIA[criterion](model, groups, normalise, generator, reference)


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


def taylor_scores_on_batch(model: nn.Module, group: Group, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Taylor score (eq. 8) of each channel of ``group`` from one mini-batch, model in eval mode."""
    model.eval()
    collector = Taylor(model, [group])
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
