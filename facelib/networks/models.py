"""Build, save and load face networks.

    >>> model = build("squeezenet", num_classes=1000)
    >>> model.embed(torch.zeros(2, 3, 113, 113)).shape
    torch.Size([2, 512])

Checkpoints (``save_model``/``load_model``) hold the architecture name, the number of
identities and the state dict. Loading rebuilds every convolution, batch norm and linear layer
at the size its saved weights have, so a pruned network loads without any record of how it was
pruned, and ``torch.load(..., weights_only=True)`` suffices.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from facelib.errors import FacelibError
from facelib.io import load_torch, save_torch
from facelib.networks import NAMES
from facelib.networks.base import FaceNet
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.networks.mobilenetv2 import MobileNetV2
from facelib.networks.resnet50 import ResNet50
from facelib.networks.squeezenet import SqueezeNet

# Each network's class, by its name in ``networks.NAMES`` (MobileFaceNet's weights come from the shared
# ONNX file through ``MobileFaceNet.from_onnx``; it is pruned, never trained here).
ARCHITECTURES: dict[str, type[FaceNet]] = dict(zip(NAMES, (SqueezeNet, MobileNetV2, ResNet50, MobileFaceNet)))


def build(arch: str, num_classes: int, batch_norm: bool = False) -> FaceNet:
    """A randomly initialised face network; ``arch`` in ``squeezenet``, ``mobilenetv2``, ``resnet50``.
    ``batch_norm``: SqueezeNet with a batch norm after each Fire convolution, for training
    (``SqueezeNet.fold_batch_norm`` folds them before saving); the other two always have them."""
    if arch not in ARCHITECTURES:
        raise FacelibError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](num_classes, batch_norm=True) if batch_norm else ARCHITECTURES[arch](num_classes)


def set_dropout(model: nn.Module, p: float | None) -> None:
    """Every dropout of ``model`` (before the identity classifier) at ``p``; None leaves the network's own."""
    if p is None:
        return
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p


def load_imagenet_trunk(model: FaceNet, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Copy every torchvision ImageNet tensor whose name and shape match (the trunk); return the names copied.

    The ImageNet classifier never matches (its shape or type differs), so the identity head
    keeps its random initialisation.
    """
    own = model.state_dict()
    head = {n for n, p in model.named_parameters() if any(p is q for q in model.head.parameters())}
    taken = {k: v for k, v in state_dict.items() if k in own and k not in head and own[k].shape == v.shape}
    model.load_state_dict(taken, strict=False)
    return sorted(taken)


def _resize_to(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Give every conv, batch norm and linear layer the size of its saved weights (pruned models)."""
    for name, module in list(model.named_modules()):
        w = state_dict.get(f"{name}.weight")
        if w is None:
            continue
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1 and module.groups == module.in_channels
            cin = w.shape[0] if depthwise else w.shape[1] * module.groups
            module.in_channels, module.out_channels = cin, w.shape[0]
            module.groups = cin if depthwise else module.groups
            module.weight = nn.Parameter(torch.empty(w.shape))
            if module.bias is not None:
                module.bias = nn.Parameter(torch.empty(w.shape[0]))
        elif isinstance(module, nn.BatchNorm2d):
            n = w.shape[0]
            module.num_features = n
            module.weight, module.bias = nn.Parameter(torch.empty(n)), nn.Parameter(torch.empty(n))
            module.running_mean, module.running_var = torch.zeros(n), torch.ones(n)
        elif isinstance(module, nn.Linear):
            module.in_features, module.out_features = w.shape[1], w.shape[0]
            module.weight = nn.Parameter(torch.empty(w.shape))
            if module.bias is not None:
                module.bias = nn.Parameter(torch.empty(w.shape[0]))


def save_model(model: FaceNet, path: Path, half: bool = False, embedding_only: bool = False, **meta) -> None:
    """Atomically save a model with its architecture, class count and any extra metadata.

    ``half`` stores floating tensors in float16 (loading gives float32 again); ``embedding_only``
    drops the identity classifier (saved as a 0-class layer), which verification never uses:
    together they make the small files shipped in ``models/``.
    """
    arch = next(k for k, v in ARCHITECTURES.items() if type(model) is v)
    state = model.state_dict()
    num_classes = model.head.out_features
    if embedding_only:
        head = {f"{n}" for n, p in model.named_parameters() if any(p is q for q in model.head.parameters())}
        state = {k: (v[:0] if k in head else v) for k, v in state.items()}
        num_classes = 0
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    save_torch({"arch": arch, "num_classes": num_classes, "state_dict": state, "meta": meta}, path)


def load_model(path: Path) -> FaceNet:
    """Load a model saved by :func:`save_model` (pruned or not), in eval mode."""
    ckpt = load_torch(path)
    if not isinstance(ckpt, dict) or "arch" not in ckpt or "state_dict" not in ckpt:
        raise FacelibError(f"{path} is not a facelib model file (no arch/state_dict)")
    model = build(ckpt["arch"], max(1, int(ckpt["num_classes"])))  # resized to the saved head below
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    _resize_to(model, state)
    model.load_state_dict(state)
    model.meta = ckpt.get("meta", {})
    return model.eval()


def has_classifier(path: Path) -> bool:
    """Whether the model file ``path`` keeps its identity classifier (``save_model`` without
    ``embedding_only``); read once per version of the file."""
    path = Path(path)
    return path.exists() and _saved_classes(str(path), path.stat().st_mtime_ns) > 0


@lru_cache(maxsize=32)
def _saved_classes(path: str, _version: int) -> int:
    return int(load_torch(Path(path))["num_classes"])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int | None = None) -> int:
    """Multiply-accumulates of one forward pass at ``size`` x ``size`` (default: the network's
    ``input_size``), convolutions and linear layers."""
    size = size or getattr(model, "input_size", 113)
    total = 0

    def hook(module, _inputs, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += out.shape[2] * out.shape[3] * module.out_channels * (module.in_channels // module.groups) * k
        else:
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total
