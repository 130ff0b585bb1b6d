"""Structural removal of channels: the pruned network has smaller tensors, not masks.

``remove_channels(model, group, keep)`` keeps the channels ``keep`` (indices into the group's
current channels) in every slice the group names (see ``groups``). ``mask_channels`` is the
reference it must agree with: the same channels zeroed at the group's taps in the unpruned
network.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from facelib.pruning.groups import Group, channel_groups, input_offset, size


def _index_out(module: nn.Module, keep: torch.Tensor) -> None:
    if isinstance(module, nn.Conv2d):
        depthwise = module.groups > 1 and module.groups == module.in_channels
        module.weight = nn.Parameter(module.weight.data[keep].clone())
        if module.bias is not None:
            module.bias = nn.Parameter(module.bias.data[keep].clone())
        module.out_channels = len(keep)
        if depthwise:
            module.in_channels = module.groups = len(keep)
    elif isinstance(module, nn.BatchNorm2d):
        module.weight = nn.Parameter(module.weight.data[keep].clone())
        module.bias = nn.Parameter(module.bias.data[keep].clone())
        module.running_mean = module.running_mean[keep].clone()
        module.running_var = module.running_var[keep].clone()
        module.num_features = len(keep)
    else:
        raise TypeError(f"cannot prune outputs of {type(module).__name__}")


def _index_in(module: nn.Module, offset: int, old: int, keep: torch.Tensor) -> None:
    total = module.weight.shape[1] if isinstance(module, (nn.Conv2d, nn.Linear)) else None
    idx = torch.cat([torch.arange(offset), offset + keep, torch.arange(offset + old, total)])
    module.weight = nn.Parameter(module.weight.data[:, idx].clone())
    if isinstance(module, nn.Conv2d):
        module.in_channels = len(idx)
    else:
        module.in_features = len(idx)


def remove_channels(model: nn.Module, group: Group, keep: torch.Tensor, groups_by_name: dict[str, Group]) -> None:
    """Shrink every tensor of ``group`` to the channels ``keep`` (sorted current indices)."""
    keep = torch.as_tensor(keep, dtype=torch.long).sort().values
    old = size(model, group)
    offsets = {name: input_offset(model, before, groups_by_name) for name, before in group.consumers}
    for name in group.outputs:
        _index_out(model.get_submodule(name), keep)
    for name, _ in group.consumers:
        _index_in(model.get_submodule(name), offsets[name], old, keep)


def remove_chosen(model: nn.Module, chosen: dict[str, list[int]], groups_by_name: dict[str, Group]) -> dict[str, list[int]]:
    """Remove the channels ``chosen`` per group (current indices, as ``selection.select_to_remove``
    gives them); return each shrunk group's kept indices, in order."""
    kept = {}
    for name, drop in chosen.items():
        dropped = set(drop)
        kept[name] = [i for i in range(size(model, groups_by_name[name])) if i not in dropped]
        remove_channels(model, groups_by_name[name], torch.tensor(kept[name]), groups_by_name)
    return kept


def shrink_to(model: nn.Module, widths: dict[str, int]) -> nn.Module:
    """Shrink each group named in ``widths`` to that many channels (its first ones), in place.

    The shape of a pruned network, without its weights: ``layers.csv`` of a pruning run gives the
    widths of every step, so ``shrink_to(build(arch, n), widths)`` rebuilds the network of that
    step for timing (latency depends on the shape, not on the values of the weights).
    """
    groups = channel_groups(model)
    by_name = {g.name: g for g in groups}
    unknown = sorted(set(widths) - set(by_name))
    if unknown:
        raise ValueError(f"no group named {unknown[0]!r} in a {type(model).__name__}")
    for g in groups:
        if g.name in widths:
            if not 1 <= widths[g.name] <= size(model, g):
                raise ValueError(f"{g.name} has {size(model, g)} channels; cannot keep {widths[g.name]}")
            remove_channels(model, g, torch.arange(widths[g.name]), by_name)
    return model


@contextmanager
def mask_channels(model: nn.Module, group: Group, drop: torch.Tensor):
    """Zero the channels ``drop`` of ``group`` at its taps (the unpruned reference of removal)."""
    mask = torch.ones(size(model, group))
    mask[torch.as_tensor(drop, dtype=torch.long)] = 0

    def hook(_module, _inputs, out):
        return out * mask.view(1, -1, 1, 1)

    handles = [model.get_submodule(t).register_forward_hook(hook) for t in group.taps]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
