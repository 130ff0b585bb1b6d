"""What a training run learns from: the study's split decoded into cached crops, with the reference's
embeddings (distillation) or 5 points (online teacher) where the run needs them, and the order in
which each epoch (or pruning step) draws them."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from facelib.data import alignment
from facelib.data.pairs import Pair, every_nth_pair, lfw_pairs
from facelib.data.split import Split, study_split
from facelib.networks.models import ARCHITECTURES
from facelib.training import distill, teacher
from facelib.training.config import TrainConfig


@dataclass
class TrainData:
    """Training and validation images (uint8, 129x129) with their identity labels."""

    split: Split
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    dev_pairs: list[Pair] | None
    reference: torch.Tensor | None = None  # reference-model embeddings of train_images (distillation)
    reference_usable: torch.Tensor | None = None
    points: torch.Tensor | None = None  # 5 points of each training face in its crop (online teacher)
    input_kind: str = "crop113"  # the images' form: papers' crops 129x129, or "aligned112" (5-point aligned)

    @classmethod
    def load(cls, cfg: TrainConfig, progress: bool = False) -> "TrainData":
        split = study_split(cfg.min_images, cfg.val_fraction, cfg.seed, cfg.max_identities,
                            cfg.use_lfw, cfg.use_celeba, cfg.held_out)
        pairs = every_nth_pair(lfw_pairs(cfg.eval_pairs), cfg.max_pairs) if cfg.eval_pairs else None
        cached, online = cfg.distill_weight > 0 and cfg.teacher == "cached", cfg.distill_weight > 0 and cfg.teacher == "online"
        reference = distill.reference_embeddings(split.train, progress=progress) if cached else (None, None)
        kind = ARCHITECTURES[cfg.arch].input_kind
        return cls(split, alignment.load_faces(split.train, kind, progress), split.labels(split.train),
                   alignment.load_faces(split.val, kind, progress), split.labels(split.val), pairs, *reference,
                   points=teacher.points_in_crop(split.train) if online else None, input_kind=kind)


def batch_order(n: int, seed: int, index: int) -> torch.Tensor:
    """The order of ``n`` training images for epoch (or pruning step) ``index``: a function of
    (seed, index) alone, so a resumed run draws the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + index))
