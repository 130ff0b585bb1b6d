"""SqueezeNet 1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
parameters"), as in torchvision, with the face embedding at the global average pool of the
last Fire module (512 values) and a linear identity classifier. SqueezerFaceNet (Alonso-
Fernandez et al.) prunes this network.

A Fire module squeezes its input with 1x1 filters, then expands with 1x1 and 3x3 filters whose
outputs are concatenated: ``cat([expand1x1(s), expand3x3(s)])`` with ``s = squeeze(x)``.

SqueezeNet has no batch normalisation, and from scratch on our 13k faces it barely fits them
(distillation alone on 2,000 faces without augmentation: 1 - cos still 0.70 after 24 epochs).
``batch_norm=True`` trains with a batch norm after every Fire convolution (Ioffe & Szegedy 2015;
1 - cos 0.32 on the same faces), and ``fold_batch_norm`` then folds each into its convolution,

    W' = W * g / sqrt(v + eps),   b' = (b - m) * g / sqrt(v + eps) + beta,

(``g, beta`` the norm's scale and shift, ``m, v`` its running mean and variance), which gives back
exactly SqueezeNet 1.1's layers: the network that is saved, pruned and timed is the papers'.
"""
from __future__ import annotations

import torch
from torch import nn

from facelib.networks.base import FaceNet


def norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


@torch.no_grad()
def fold(conv: nn.Conv2d, bn: nn.Module) -> None:
    """Fold a batch norm (in its evaluation form) into the convolution before it, in place."""
    if not isinstance(bn, nn.BatchNorm2d):
        return
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int, batch_norm: bool = False) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_norm = norm(squeeze, batch_norm)  # nn.Identity unless training with batch norm
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_norm = norm(expand1x1, batch_norm)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_norm = norm(expand3x3, batch_norm)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_activation(self.squeeze_norm(self.squeeze(x)))
        return torch.cat([self.expand1x1_activation(self.expand1x1_norm(self.expand1x1(s))),
                          self.expand3x3_activation(self.expand3x3_norm(self.expand3x3(s)))], 1)

    def fold_batch_norm(self) -> None:
        for name in ("squeeze", "expand1x1", "expand3x3"):
            fold(getattr(self, name), getattr(self, f"{name}_norm"))
            setattr(self, f"{name}_norm", nn.Identity())


class SqueezeNet(FaceNet):
    embedding_dim = 512

    def __init__(self, num_classes: int, dropout: float = 0.5, batch_norm: bool = False) -> None:
        super().__init__()
        pool = lambda: nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # noqa: E731
        fire = lambda *widths: Fire(*widths, batch_norm=batch_norm)  # noqa: E731
        self.features = nn.Sequential(  # the stem conv has no norm: its input is already normalised
            nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(), pool(),
            fire(64, 16, 64, 64), fire(128, 16, 64, 64), pool(),
            fire(128, 32, 128, 128), fire(256, 32, 128, 128), pool(),
            fire(256, 48, 192, 192), fire(384, 48, 192, 192),
            fire(384, 64, 256, 256), fire(512, 64, 256, 256),
        )
        # torchvision's classifier.1 is a 1x1 conv to 1000 ImageNet classes; ours is linear.
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(512, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def fold_batch_norm(self) -> "SqueezeNet":
        """Fold every Fire's batch norms into its convolutions (a no-op without them); returns self."""
        for m in self.features:
            if isinstance(m, Fire):
                m.fold_batch_norm()
        return self

    @property
    def head(self) -> nn.Linear:
        return self.classifier[1]

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
