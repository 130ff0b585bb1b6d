"""ResNet50 (He et al. 2016, "Deep Residual Learning for Image Recognition"), as in
torchvision (stride on the 3x3 conv, "ResNet v1.5"), with the face embedding at the global
average pool of the last stage (2048 values) and a linear identity classifier ``fc``.

A bottleneck block: 1x1 conv (reduce) -> 3x3 conv -> 1x1 conv (expand x4), added to the
input, or to a 1x1 conv + batch norm of it (``downsample``) where the shape changes.
"""
from __future__ import annotations

import torch
from torch import nn

from facelib.networks.base import FaceNet


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(FaceNet):
    embedding_dim = 2048

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
            downsample = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))
            layers = [Bottleneck(cin, width, stride, downsample)]
            cin = width * 4
            layers += [Bottleneck(cin, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    @property
    def head(self) -> nn.Linear:
        return self.fc

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.fc(embedding)
