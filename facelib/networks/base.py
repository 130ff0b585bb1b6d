"""The shared face-network interface: features -> global average pool -> embedding -> classifier."""
from __future__ import annotations

import torch
from torch import nn


class FaceNet(nn.Module):
    """A convolutional trunk whose global-average-pooled output is the face embedding.

    Subclasses implement ``trunk(x)`` (the convolutional feature map) and ``head`` (the
    identity classifier, a module ending in ``nn.Linear``).
    """

    embedding_dim: int
    input_size: int = 113  # side of the square face the network takes (the papers' crop)
    input_kind: str = "crop113"  # or "aligned112": 5-point aligned, (v - 127.5) / 128 (facelib.evaluation.verification)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def head(self) -> nn.Linear:
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Face embedding: the global average pool of the last feature map, shape [N, C]."""
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.trunk(x), 1), 1)

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """Identity logits from an embedding (training only)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))

    def trunk_parameters(self) -> int:
        """Parameters of the feature extractor (everything but the identity classifier)."""
        head = {id(p) for p in self.head.parameters()}
        return sum(p.numel() for p in self.parameters() if id(p) not in head)
