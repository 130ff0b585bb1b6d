"""Least-squares reconstruction of the layers that read removed channels (He et al., "Channel pruning
for accelerating very deep neural networks", ICCV 2017, eq. 1 with the channels fixed; the refit of
Luo et al., "ThiNet", ICCV 2017): pruning that needs a few thousand faces, not a training set.

After filters go, each *consumer* of a shrunk group (``groups.Group.consumers``: the next Fire's
squeeze or expand convolutions, a block's projection after its depthwise convolution, every reader
of a residual stream) reads fewer input channels. Its weights ``W`` and bias ``b`` are refitted so
that, on fixed training faces and sampled positions, its output on the pruned network's own inputs
``X`` matches the unpruned network's output ``Y`` of the same layer (restricted to the consumer's
own kept output channels):

    min_{W, b}  || X W + b - Y ||^2 + lam ||W||^2,    lam = ridge * mean(diag(X^T X))     (1)

in closed form from accumulated sums (centred normal equations), consumer after consumer in forward
order, so that each sees the inputs the consumers before it now give (the unpruned network's outputs,
which no refit changes, come from one forward pass for all of them: ``unpruned_targets``). A convolution without a bias
(a batch norm follows) takes ``b`` through that batch norm's running mean (``BN(y + b)`` with mean
``mu`` is ``BN(y)`` with mean ``mu - b``). Where (1) would not lower the error on the fitting faces
(nothing the consumer reads was removed), the weights stay as they are.

Worked example, SqueezeNet's Fire features.3 after 8 of expand3x3's 64 filters go: the consumer is
features.4.squeeze, a 1x1 conv from 128 channels (64 expand1x1, then 64 expand3x3) to 32; X holds,
at 24 positions of each face, the 120 channels it now reads (and a constant for b), Y the unpruned
network's 32 squeeze outputs there; (1) gives the new 32 x 120 weights and 32 biases.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facelib.errors import FacelibError
from facelib.networks.base import FaceNet
from facelib.pruning.groups import Group


class _Reached(Exception):
    """Raised by a capture hook: the rest of the forward pass is not needed."""


@dataclass
class Sums:
    """Sufficient statistics of (1) for one consumer: n rows, sum x, sum y, X^T X, X^T Y, sum |y|^2."""

    n: int
    sx: torch.Tensor
    sy: torch.Tensor
    sxx: torch.Tensor
    sxy: torch.Tensor
    syy: float

    def __add__(self, other: "Sums") -> "Sums":
        return Sums(self.n + other.n, self.sx + other.sx, self.sy + other.sy, self.sxx + other.sxx,
                    self.sxy + other.sxy, self.syy + other.syy)

    def error(self, w: torch.Tensor, b: torch.Tensor) -> float:
        """Sum over rows of |x W + b - y|^2, from the sums alone."""
        return float(self.syy - 2 * (w * self.sxy).sum() - 2 * b @ self.sy + (w * (self.sxx @ w)).sum()
                     + 2 * b @ (w.T @ self.sx) + self.n * b @ b)

    def means(self, intercept: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean row of X and of Y (zeros where there is no ``intercept``: nothing centres them)."""
        return (self.sx / self.n, self.sy / self.n) if intercept else (self.sx * 0, self.sy * 0)

    def normal_equations(self, ridge: float, intercept: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(1)'s centred normal equations: A = X^T X + lam I and C = X^T Y (X, Y centred where ``intercept``)."""
        mx, my = self.means(intercept)
        cxx = self.sxx - self.n * torch.outer(mx, mx)
        lam = ridge * cxx.diagonal().mean().clamp_min(1e-12)
        return cxx + lam * torch.eye(len(cxx), dtype=cxx.dtype), self.sxy - self.n * torch.outer(mx, my)

    def spread(self, intercept: bool = True) -> float:
        """|Y|^2 (centred where ``intercept``): the error of predicting every row by the intercept alone."""
        return float(self.syy - self.n * self.means(intercept)[1].square().sum())

    def solve(self, ridge: float, intercept: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(1) for W [inputs, outputs] and b [outputs] (b = 0 where there is no ``intercept``)."""
        a, c = self.normal_equations(ridge, intercept)
        mx, my = self.means(intercept)
        w = torch.linalg.solve(a, c)
        return w, my - mx @ w


def consumers(model: FaceNet, groups: list[Group], shrunk: set[str]) -> list[str]:
    """The trunk convolutions reading a channel of a group in ``shrunk``, in the network's forward
    (module) order; the identity classifier, trained for pruning only, is left out."""
    reading = {name for g in groups if g.name in shrunk for name, _ in g.consumers}
    head = model.head
    return [name for name, m in model.named_modules()
            if name in reading and isinstance(m, nn.Conv2d) and m.groups == 1 and m is not head]


def kept_outputs(groups: list[Group], ids: dict[str, list[int]]) -> dict[str, list[int]]:
    """Each prunable convolution's output channels as numbers in the unpruned network (``ids``: the
    pruning loop's current channel -> original number, per group)."""
    return {name: ids[g.name] for g in groups for name in g.outputs if g.name in ids}


def norm_after(groups: list[Group], model: nn.Module) -> dict[str, str]:
    """For each convolution of a group followed there by its batch norm, that batch norm's name."""
    out = {}
    for g in groups:
        for a, b in zip(g.outputs, g.outputs[1:]):
            if isinstance(model.get_submodule(a), nn.Conv2d) and isinstance(model.get_submodule(b), nn.BatchNorm2d):
                out[a] = b
    return out


def _capture(model: nn.Module, name: str, x: torch.Tensor, side: str) -> torch.Tensor:
    """The input (``side="in"``) or output of module ``name`` when ``model`` runs on ``x``; the
    forward pass stops there."""
    got = {}

    def hook(_m, inputs, output):
        got["v"] = inputs[0] if side == "in" else output
        raise _Reached

    handle = model.get_submodule(name).register_forward_hook(hook)
    try:
        model.embed(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    return got["v"]


@torch.no_grad()
def consumer_sums(model: FaceNet, base: FaceNet, name: str, inputs: torch.Tensor, out_ids: list[int] | None,
                  positions: int, seed: int, batch: int = 64) -> Sums:
    """The sums of (1) for consumer ``name``: its patches in ``model`` (the pruned network) and the
    unpruned ``base``'s outputs of the same layer, at ``positions`` output positions per face (the
    same, seeded), for the faces ``inputs`` (as the network reads them: ``data.preprocessing.network_input``);
    ``out_ids``: the consumer's kept output channels."""
    targets = unpruned_targets(base, [name], inputs, {name: out_ids}, positions, seed, batch)
    return model_sums(model, name, inputs, targets[name], batch)


@torch.no_grad()
def unpruned_targets(base: FaceNet, names: list[str], inputs: torch.Tensor, out_ids: dict[str, list[int] | None],
                     positions: int, seed: int, batch: int = 64) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """For every consumer in ``names``, batch by batch of ``inputs``: the output positions drawn for it (a
    generator seeded ``seed`` per consumer) and the unpruned network's outputs there [faces * positions,
    kept outputs], from one forward pass of ``base`` per batch for all of them (its outputs do not
    change as the pruned network's consumers are refitted)."""
    generators = {n: torch.Generator().manual_seed(seed) for n in names}
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [base.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, (i[0], o)))
             for n in names]
    out: dict[str, list] = {n: [] for n in names}
    try:
        for i in range(0, len(inputs), batch):
            base.embed(inputs[i:i + batch])
            for n in names:
                read, target = seen[n]
                pick = positions_of(base.get_submodule(n), read, positions, generators[n])
                ys = rows_at(target.flatten(2), pick)
                out[n].append((pick, ys[:, out_ids[n]] if out_ids.get(n) is not None else ys))
            seen.clear()
    finally:
        for h in hooks:
            h.remove()
    return out


@torch.no_grad()
def model_sums(model: FaceNet, name: str, inputs: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor]],
               batch: int = 64) -> Sums:
    """The sums of (1) for consumer ``name`` of ``model``: its patches at the positions of ``targets``
    (``unpruned_targets``, made over the same ``inputs`` and batches) against the outputs there."""
    conv = model.get_submodule(name)
    total = None
    for i, (pick, ys) in zip(range(0, len(inputs), batch), targets):
        read = _capture(model, name, inputs[i:i + batch], "in")
        patches = F.unfold(read, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # [N, d, L]
        part = rows_sums(rows_at(patches, pick).double(), ys.double())
        total = part if total is None else total + part
    return total


def positions_of(conv: nn.Conv2d, inputs: torch.Tensor, positions: int, generator: torch.Generator) -> torch.Tensor:
    """``positions`` output positions of ``conv`` per face of ``inputs`` (its input), drawn from ``generator``:
    [faces, positions] indices into the flattened output map."""
    h, w = inputs.shape[-2:]
    spots = 1
    for size, k, d, p, s in zip((h, w), conv.kernel_size, conv.dilation, conv.padding, conv.stride):
        spots *= (size + 2 * p - d * (k - 1) - 1) // s + 1
    return torch.randint(0, spots, (len(inputs), min(positions, spots)), generator=generator)


def rows_at(maps: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
    """The columns of ``maps`` [faces, channels, positions] at each face's positions ``pick``, as rows
    [faces * positions, channels]."""
    return maps.gather(2, pick[:, None, :].expand(-1, maps.shape[1], -1)).transpose(1, 2).reshape(-1, maps.shape[1])


def rows_sums(xs: torch.Tensor, ys: torch.Tensor) -> Sums:
    """The sums of (1) over rows ``xs`` (inputs) and ``ys`` (targets)."""
    return Sums(len(xs), xs.sum(0), ys.sum(0), xs.T @ xs, xs.T @ ys, float((ys * ys).sum()))


def sampled_sums(conv: nn.Conv2d, inputs: torch.Tensor, target: torch.Tensor, pick: torch.Tensor,
                 out_ids: list[int] | None) -> Sums:
    """The sums of (1) over the positions ``pick`` (``positions_of``): the patches of ``conv``'s ``inputs``
    there (channel-major columns, as ``F.unfold`` lays them out) against ``target`` there, restricted to
    the output channels ``out_ids``."""
    patches = F.unfold(inputs, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # [N, d, L]
    ys = rows_at(target.flatten(2), pick)
    return rows_sums(rows_at(patches, pick).double(), (ys[:, out_ids] if out_ids is not None else ys).double())


def current(model: nn.Module, base: nn.Module, name: str, norms: dict[str, str],
            out_ids: list[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The consumer's weights as (1) reads them: W [inputs, outputs] and its intercept b: its bias; or,
    before a batch norm, how far that norm's running mean lies below the unpruned network's; else 0."""
    conv = model.get_submodule(name)
    w = conv.weight.detach().double().reshape(conv.out_channels, -1).T
    if conv.bias is not None:
        return w, conv.bias.detach().double()
    if name in norms:
        return w, (_base_mean(base, norms[name], out_ids) - model.get_submodule(norms[name]).running_mean).double()
    return w, torch.zeros(conv.out_channels, dtype=torch.double)


def _base_mean(base: nn.Module, norm: str, out_ids: list[int] | None) -> torch.Tensor:
    mean = base.get_submodule(norm).running_mean
    return mean[out_ids] if out_ids is not None else mean


@torch.no_grad()
def install(model: nn.Module, base: nn.Module, name: str, w: torch.Tensor, b: torch.Tensor, norms: dict[str, str],
            out_ids: list[int] | None) -> None:
    """Set the consumer's weights to W and its intercept to b (as ``current`` reads them)."""
    conv = model.get_submodule(name)
    conv.weight.copy_(w.T.reshape(conv.weight.shape).to(conv.weight.dtype))
    if conv.bias is not None:
        conv.bias.copy_(b.to(conv.bias.dtype))
    elif name in norms:
        bn = model.get_submodule(norms[name])
        bn.running_mean.copy_(_base_mean(base, norms[name], out_ids) - b.to(bn.running_mean.dtype))


def refit(model: FaceNet, base: FaceNet, groups: list[Group], shrunk: set[str], ids: dict[str, list[int]],
          inputs: torch.Tensor, ridge: float = 1e-3, positions: int = 24,
          seed: int = 0) -> dict[str, tuple[float, float]]:
    """Refit every consumer of the groups ``shrunk`` by (1), in forward order (module docstring); returns,
    per consumer, its reconstruction error on all the faces before and after (sums of squares).
    ``inputs``: the faces as the network reads them (``data.preprocessing.network_input``).

    A fifth of the faces check each fit first: a consumer keeps its weights unless the fit on the other
    four fifths lowers the error on them too. Where a layer has few positions per face and many inputs
    (MobileFaceNet's embedding layer reads 512 channels at one position), a hundred faces fit
    their own noise, and the refit would lower the error on them while raising it on any others."""
    if len(inputs) < 5:
        raise FacelibError(f"reconstruction needs at least 5 faces (a fifth of them check each fit); got {len(inputs)}")
    model.eval()
    base.eval()
    norms, out_ids = norm_after(groups, model), kept_outputs(groups, ids)
    checking = torch.arange(len(inputs)) % 5 == 4
    errors = {}
    names = consumers(model, groups, shrunk)
    fitting, checked = inputs[~checking], inputs[checking]
    targets = [unpruned_targets(base, names, part, out_ids, positions, seed + k) for k, part in enumerate((fitting, checked))]
    for name in names:
        outs = out_ids.get(name)
        fit, check = (model_sums(model, name, part, t[name]) for part, t in zip((fitting, checked), targets))
        w0, b0 = current(model, base, name, norms, outs)
        intercept = model.get_submodule(name).bias is not None or name in norms
        every = fit + check
        before = every.error(w0, b0)
        errors[name] = (before, before)
        if check.error(*fit.solve(ridge, intercept)) < check.error(w0, b0):
            w, b = every.solve(ridge, intercept)
            after = every.error(w, b)
            if after < before:
                install(model, base, name, w, b, norms, outs)
                errors[name] = (before, after)
    return errors
