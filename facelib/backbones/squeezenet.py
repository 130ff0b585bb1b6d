"""SqueezeNet 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters"), as in torchvision, with the face embedding at the global average pool of the
last Fire module (512 values) and a linear identity classifier. SqueezerFaceNet (Alonso-
Fernandez et al.) prunes this network.

A Fire module squeezes its input with 1x1 filters, then expands with 1x1 and 3x3 filters whose
outputs are concatenated: ``cat([expand1x1(s), expand3x3(s)])`` with ``s = squeeze(x)``.
"""
from __future__ import annotations

import torch
from torch import nn

from facelib.backbones.base import FaceNet


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(s)),
                          self.expand3x3_activation(self.expand3x3(s))], 1)


class SqueezeNet(FaceNet):
    embedding_dim = 512

    def __init__(self, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        pool = lambda: nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        )
        # torchvision's classifier.1 is a 1x1 conv to 1000 ImageNet classes; ours is linear.
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(512, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    @property
    def head(self) -> nn.Linear:
        return self.classifier[1]

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
