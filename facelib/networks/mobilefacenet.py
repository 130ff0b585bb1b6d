"""MobileFaceNet (Chen et al. 2018, "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face
Verification on Mobile Devices"), as the pretrained reference model in
``../shared/models/mobilefacenet/`` has it: batch norm folded into every convolution's bias,
ReLU6 activations (plain ReLU in the depthwise-separable stem), and a 128-value embedding.

Unlike the papers' three networks, its embedding is not a global average pool: a *global
depthwise* convolution (one 7x7 filter per channel, as large as the last feature map) weighs
each position of each channel, and a linear 1x1 convolution maps the 512 channels to 128.
It takes 112x112 faces aligned by 5 points, pixels mapped by (v - 127.5) / 128.

    input 3x112x112
    conv1        3 -> 64, 3x3 stride 2, ReLU6                       56x56
    dw_conv      depthwise 3x3 + ReLU, pointwise 64 -> 64 + ReLU    56x56
    features.0   bottleneck 64 -> 128 -> 64, stride 2               28x28
    features.1-4 bottleneck 64 -> 128 -> 64, residual
    features.5   bottleneck 64 -> 256 -> 128, stride 2              14x14
    features.6-11 bottleneck 128 -> 256 -> 128, residual
    features.12  bottleneck 128 -> 512 -> 128, stride 2              7x7
    features.13-14 bottleneck 128 -> 256 -> 128, residual
    conv2        128 -> 512, ReLU6
    gdconv       global depthwise 7x7 (linear)                       1x1
    conv3        512 -> 128 (linear): the embedding

51 convolutions, 0.99M parameters. ``from_onnx`` reads the weights from the ONNX file's
initializers (no weights are copied into this repository).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from facelib.errors import FacelibError
from facelib.networks.base import FaceNet

# (expansion, output channels, repeats, first stride) of the bottleneck stages.
SETTINGS = [(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)]
INPUT_SIZE = 112


def conv(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: type | None = nn.ReLU6,
         padding: int | None = None) -> nn.Sequential:
    """A convolution with bias (its batch norm folded in), then the activation if any; padded to
    keep the size unless ``padding`` says otherwise."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2 if padding is None else padding,
                                         groups=groups)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expansion + ReLU6, 3x3 depthwise + ReLU6, linear 1x1 projection;
    the input is added back when stride is 1 and the widths match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.expand = conv(cin, hidden)
        self.depthwise = conv(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv(hidden, cout, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class MobileFaceNet(FaceNet):
    embedding_dim = 128
    input_size = INPUT_SIZE
    input_kind = "aligned112"

    def __init__(self, num_classes: int = 0) -> None:
        super().__init__()
        self.conv1 = conv(3, 64, 3, 2)
        self.dw_conv = nn.Sequential(conv(64, 64, 3, groups=64, act=nn.ReLU), conv(64, 64, act=nn.ReLU))
        blocks, cin = [], 64
        for t, c, n, s in SETTINGS:
            for i in range(n):
                blocks.append(Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*blocks)
        self.conv2 = conv(cin, 512)
        self.gdconv = conv(512, 512, 7, groups=512, act=None, padding=0)
        self.conv3 = conv(512, self.embedding_dim, act=None)
        self.classifier = nn.Linear(self.embedding_dim, max(1, num_classes))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.features(self.dw_conv(self.conv1(x))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-value embedding: global depthwise 7x7, then the linear 1x1 conv."""
        return torch.flatten(self.conv3(self.gdconv(self.trunk(x))), 1)

    @property
    def head(self) -> nn.Linear:
        return self.classifier

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)

    @classmethod
    def from_onnx(cls, path: Path) -> "MobileFaceNet":
        """The network with the weights of an ONNX MobileFaceNet of this layout (in eval mode).

        The ONNX file's convolutions, in graph order, are this module's, in the order
        ``named_modules`` lists them (forward order); every shape is checked."""
        import onnx
        from onnx import numpy_helper

        try:
            graph = onnx.load(str(path)).graph
        except Exception:  # noqa: BLE001 - onnx raises several unrelated types
            raise FacelibError(f"{path} is not a readable ONNX model") from None
        weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        onnx_convs = [n for n in graph.node if n.op_type == "Conv"]
        model = cls()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if len(onnx_convs) != len(convs):
            raise FacelibError(f"{path} has {len(onnx_convs)} convolutions, not MobileFaceNet's {len(convs)}")
        with torch.no_grad():
            for module, node in zip(convs, onnx_convs):
                w, b = (weights[name] for name in node.input[1:3])
                if tuple(w.shape) != tuple(module.weight.shape):
                    raise FacelibError(f"{path}: convolution {node.name} has shape {w.shape}, "
                                       f"expected {tuple(module.weight.shape)}")
                module.weight.copy_(torch.from_numpy(np.array(w)))
                module.bias.copy_(torch.from_numpy(np.array(b)))
        return model.eval()
