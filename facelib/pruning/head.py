"""A new identity classifier for a network that has none, so that the papers' loop can prune it.

The models shipped in ``models/`` keep only the embedding (their training classifier is dropped to
save space), and a pretrained network has no classifier for our identities at all. The Taylor
score needs a loss whose gradient does not vanish at the unpruned network: the softmax identity
loss of the papers has one, a distillation towards the network's own embedding does not (it is 0,
with a 0 gradient, until a filter is removed). So the head is refitted: a linear softmax
classifier on the frozen network's embeddings of the training faces (centre crops, no
augmentation), trained by AdamW on those fixed features, seeded. Pruning then trains it along
with the network, as the papers train theirs, and surgery shrinks its inputs with the embedding.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facelib.data import preprocessing
from facelib.io import load_torch, save_torch
from facelib.networks.base import FaceNet


@torch.no_grad()
def embeddings(model: FaceNet, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The network's embeddings of cached uint8 faces (centre crop or aligned, as the network takes
    them: ``preprocessing.network_input``), not normalised."""
    model.eval()
    return torch.cat([model.embed(preprocessing.network_input(model.input_kind, images[i:i + batch_size])
                                  .contiguous(memory_format=preprocessing.memory_format()))
                      for i in range(0, len(images), batch_size)])


def fit_head(model: FaceNet, images: torch.Tensor, labels: torch.Tensor, classes: int, epochs: int = 40,
             lr: float = 1e-2, batch_size: int = 512, seed: int = 0) -> tuple[nn.Linear, float]:
    """A ``Linear(embedding, classes)`` softmax classifier fitted on the frozen ``model``'s embeddings
    of ``images``; returns it and its training accuracy. Features are standardised by the mean
    embedding norm (folded back into the weights), so one rate suits every network."""
    feats = embeddings(model, images)
    scale = feats.norm(dim=1).mean().clamp_min(1e-6)
    x = feats / scale
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = nn.Linear(x.shape[1], classes)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = F.cross_entropy(head(x[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        head.weight /= scale  # the head now reads the raw embedding
        accuracy = float((head(feats).argmax(1) == labels).float().mean())
    return head, accuracy


def cache_file(folder: Path, base_file: Path, classes: int, faces: int, seed: int) -> Path:
    """Where ``cached_fit`` keeps the classifier fitted to the base in ``base_file`` on ``faces`` training
    faces of ``classes`` people with ``seed``: one file per base, split and seed, whoever fits it."""
    return Path(folder) / f"{Path(base_file).stem}-{classes}x{faces}-seed{seed}.pt"


def cached_fit(model: FaceNet, images: torch.Tensor, labels: torch.Tensor, classes: int, seed: int,
               cache: Path) -> tuple[nn.Linear, float]:
    """``fit_head``, saved to ``cache`` and read from there when it was fitted before."""
    if cache.exists():
        saved = load_torch(cache)
        fitted = nn.Linear(saved["weight"].shape[1], saved["weight"].shape[0])
        fitted.weight.data.copy_(saved["weight"])
        fitted.bias.data.copy_(saved["bias"])
        return fitted, float(saved["accuracy"])
    torch.manual_seed(seed)
    fitted, accuracy = fit_head(model, images, labels, classes, seed=seed)
    save_torch({"weight": fitted.weight.detach(), "bias": fitted.bias.detach(), "accuracy": accuracy}, cache)
    return fitted, accuracy


def install_head(model: FaceNet, head: nn.Linear) -> None:
    """Make ``head`` the network's identity classifier (``model.classify`` then uses it)."""
    model.head.weight = nn.Parameter(head.weight.detach().clone())
    model.head.bias = nn.Parameter(head.bias.detach().clone())
    model.head.in_features, model.head.out_features = head.in_features, head.out_features

