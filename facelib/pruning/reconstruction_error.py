"""The reconstruction criterion: channels chosen by the error their removal leaves in the layers that
read them, after those layers are refitted (Luo et al., "ThiNet", ICCV 2017, eq. 5 and its greedy
search, with the least-squares refit of ``pruning.reconstruction`` counted in).

For one consumer with centred inputs X (the columns of its patches) and the unpruned network's
outputs Y, the ridge fit of ``reconstruction`` (1) has A = X^T X + lam I, W = A^{-1} X^T Y. Taking
the block B of columns that one input channel feeds (one column for a 1x1 convolution, k*k for a
k x k one) out of the fit and refitting the rest raises the error by

    dE(B) = tr( W_B^T [(A^{-1})_BB]^{-1} W_B )                                          (2)

(the partitioned inverse), and leaves the refitted rest as W' = W - A^{-1}_{:B} [(A^{-1})_BB]^{-1} W_B
and A'^{-1} = A^{-1} - A^{-1}_{:B} [(A^{-1})_BB]^{-1} A^{-1}_{B:}. Per group, the channel with the
smallest (2), as a share of each consumer's output spread |Y - mean Y|^2 and averaged over the group's
consumers, goes first, then the next given that one is gone (ThiNet's greedy), to the last. A channel's
score is the error its group is left with when it goes: the sum of (2) along the path so far, so each
group's scores rise along its path and the loop's choice of the lowest scores across the network takes
each group's path in order. A group no refittable convolution reads (the embedding layer, the last
Fire module's expansions) has nothing to refit: its channel k leaves its own share of the output's
energy, E[z_k^2] / sum_j E[z_j^2], taken smallest first.

Worked example: a group of 3 channels read by one 1x1 consumer with one output, A^{-1} = I and
W = [0.1, 0.5, 0.3] over a spread of 1: (2) gives 0.01, 0.25, 0.09; channel 0 goes first (score 0.01),
then channel 2 (0.01 + 0.09 = 0.10), then channel 1 (0.35).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import nn

from facelib.networks.base import FaceNet
from facelib.pruning import reconstruction
from facelib.pruning.groups import Group, input_offset, size


@dataclass
class Reference:
    """What the reconstruction criterion reads: the unpruned network, the faces it is fitted on, the
    current -> original channel numbers of every group (``ids``) and the fit's settings."""

    base: FaceNet
    inputs: torch.Tensor  # the faces as the network reads them (``data.preprocessing.network_input``)
    ids: dict[str, list[int]]
    positions: int = 24
    ridge: float = 1e-3
    seed: int = 0


@torch.no_grad()
def gather(model: FaceNet, groups: list[Group], ref: Reference, names: list[str], taps: list[str], batch: int = 64
           ) -> tuple[dict[str, reconstruction.Sums], dict[str, torch.Tensor]]:
    """The sums of (1) for every consumer in ``names`` (its inputs in ``model``, the unpruned network's
    outputs at the same sampled positions) and the mean square of every channel at each of ``taps`` in
    ``model``, from one forward pass of each network per batch of faces."""
    model.eval()
    ref.base.eval()
    # each consumer draws its positions from its own generator: its sums do not depend on what else is gathered
    generators = {n: torch.Generator().manual_seed(ref.seed * 1_000_003 + zlib.crc32(n.encode())) for n in names}
    outs = reconstruction.kept_outputs(groups, ref.ids)
    inputs, targets, energy, sums = {}, {}, {t: 0.0 for t in taps}, {}
    hooks = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i[0]))
             for n in names]
    hooks += [ref.base.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: targets.__setitem__(n, o))
              for n in names]
    hooks += [model.get_submodule(t).register_forward_hook(
        lambda m, i, o, t=t: energy.__setitem__(t, energy[t] + o.double().square().mean((2, 3)).sum(0))) for t in taps]
    try:
        for i in range(0, len(ref.inputs), batch):
            x = ref.inputs[i:i + batch]
            model.embed(x)
            ref.base.embed(x)
            for n in names:
                conv = model.get_submodule(n)
                pick = reconstruction.positions_of(conv, inputs[n], ref.positions, generators[n])
                part = reconstruction.sampled_sums(conv, inputs[n], targets[n], pick, outs.get(n))
                sums[n] = part if n not in sums else sums[n] + part
            inputs.clear()
            targets.clear()
    finally:
        for h in hooks:
            h.remove()
    return sums, {t: e / len(ref.inputs) for t, e in energy.items()}


class Fit:
    """One consumer's ridge fit as channels leave it: A^{-1} and W of (2), over its output spread."""

    def __init__(self, sums: reconstruction.Sums, ridge: float, intercept: bool) -> None:
        a, c = sums.normal_equations(ridge, intercept)
        self.inverse = torch.linalg.inv(a)
        self.w = self.inverse @ c
        self.spread = max(sums.spread(intercept), 1e-12)

    def raised(self, blocks: torch.Tensor) -> torch.Tensor:
        """(2) for each block of columns (rows of ``blocks`` [channels, k*k]), over the spread."""
        inv_bb = self.inverse[blocks[:, :, None], blocks[:, None, :]]  # [c, b, b]
        w_b = self.w[blocks]  # [c, b, outputs]
        return (w_b * torch.linalg.solve(inv_bb, w_b)).sum((1, 2)) / self.spread

    def take_out(self, block: torch.Tensor) -> None:
        """Refit the rest without ``block``'s columns (the updates after (2))."""
        cols = self.inverse[:, block]
        gain = cols @ torch.linalg.inv(self.inverse[block][:, block])
        self.w = self.w - gain @ self.w[block]
        self.inverse = self.inverse - gain @ cols.T


def greedy_path(fits: list[tuple[Fit, torch.Tensor]], channels: int) -> torch.Tensor:
    """Each channel's score along the greedy path (module docstring); ``fits``: each consumer's fit with
    the columns each channel of the group feeds it, [channels, k*k]."""
    scores = torch.zeros(channels, dtype=torch.float64)
    left = torch.ones(channels, dtype=torch.bool)
    total = 0.0
    for _ in range(channels):
        idx = left.nonzero().squeeze(1)
        raised = torch.stack([fit.raised(blocks[idx]) for fit, blocks in fits]).mean(0)
        best = int(raised.argmin())
        k = int(idx[best])
        total += float(raised[best].clamp_min(0))
        scores[k], left[k] = total, False
        for fit, blocks in fits:
            fit.take_out(blocks[k])
    return scores


def energy_path(energy: torch.Tensor) -> torch.Tensor:
    """Each channel's score where nothing refits its readers: the share of the energy gone once it and
    every weaker channel are gone."""
    order = energy.argsort()
    scores = torch.empty_like(energy)
    scores[order] = energy[order].cumsum(0) / energy.sum().clamp_min(1e-12)
    return scores


def scores(model: FaceNet, groups: list[Group], ref: Reference) -> dict[str, torch.Tensor]:
    """Every group's channel scores (module docstring): lower goes first."""
    by_name = {g.name: g for g in groups}
    readers = {g.name: reconstruction.consumers(model, groups, {g.name}) for g in groups}
    names = sorted({n for r in readers.values() for n in r})
    taps = [g.taps[-1] for g in groups if not readers[g.name]]
    sums, energy = gather(model, groups, ref, names, taps)
    norms = reconstruction.norm_after(groups, model)
    out = {}
    for g in groups:
        n = size(model, g)
        if not readers[g.name]:
            out[g.name] = energy_path(energy[g.taps[-1]])
            continue
        fits = []
        for name in readers[g.name]:
            conv: nn.Conv2d = model.get_submodule(name)
            before = next(b for c, b in g.consumers if c == name)
            area = conv.kernel_size[0] * conv.kernel_size[1]
            first = input_offset(model, before, by_name)
            blocks = (first + torch.arange(n))[:, None] * area + torch.arange(area)[None, :]
            intercept = conv.bias is not None or name in norms
            fits.append((Fit(sums[name], ref.ridge, intercept), blocks))
        out[g.name] = greedy_path(fits, n)
    return out
