"""What a training run learns from: the study's split decoded into cached crops, with the reference's
embeddings (distillation) or 5 points (online teacher) where the run needs them (``TrainData``); or a
user's own folder of identities, streamed from its files (``FolderData``, ``--data``); and the order
in which each epoch (or pruning step) draws them. Both give the training loop the same batches
(``batches``: each rank's share of each global mini-batch, ``training.parallel``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader

from facelib.data import alignment, streaming
from facelib.data.pairs import Pair, every_nth_pair, lfw_pairs
from facelib.data.split import Split, study_split
from facelib.errors import FacelibError
from facelib.networks.models import ARCHITECTURES
from facelib.training import distill, teacher
from facelib.training.config import TrainConfig
from facelib.training.parallel import Part


@dataclass
class Batch:
    """One rank's readable faces of a global mini-batch: their indices in the training set, their
    places in the global batch (which augmentation draws are theirs), images (uint8) and labels."""

    idx: torch.Tensor
    places: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    unreadable: int = 0  # faces of this rank's share whose files could not be read (streaming only)


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

    @property
    def count(self) -> int:
        """Training faces."""
        return len(self.train_images)

    def batches(self, steps: list[torch.Tensor], part: Part = Part()) -> Iterator[Batch]:
        """This rank's share of each global mini-batch ``steps`` (indices of training faces)."""
        for idx in steps:
            places = part.places(len(idx))
            yield Batch(idx[places], places, self.train_images[idx[places]], self.train_labels[idx[places]])

    def val_batches(self, size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The held-out faces and their labels, ``size`` at a time."""
        for i in range(0, len(self.val_images), size):
            yield self.val_images[i:i + size], self.val_labels[i:i + size]


@dataclass
class FolderData:
    """A user's own folder of identities (``TrainConfig.data``), its faces read from their files by
    ``workers`` DataLoader processes as each batch needs them (``data.streaming``): never all in
    memory. Evaluation stays on LFW's pairs."""

    split: Split
    files: streaming.FaceFiles
    val_files: streaming.FaceFiles
    dev_pairs: list[Pair] | None
    workers: int
    left_out: int = 0  # people with too few images to train on
    reference = None  # no distillation: the reference's embeddings of millions of faces are not cached
    points = None
    input_kind: str = "crop113"

    @classmethod
    def load(cls, cfg: TrainConfig) -> "FolderData":
        if cfg.distill_weight > 0:
            raise FacelibError("--data trains on the identity loss alone: set --distill-weight 0")
        split, left_out = streaming.folder_split(Path(cfg.data), Path(cfg.boxes) if cfg.boxes else None,
                                                 cfg.val_fraction, cfg.seed, cfg.min_images)
        kind = ARCHITECTURES[cfg.arch].input_kind
        pairs = every_nth_pair(lfw_pairs(cfg.eval_pairs), cfg.max_pairs) if cfg.eval_pairs else None
        return cls(split, streaming.FaceFiles(split.train, split.labels(split.train), kind),
                   streaming.FaceFiles(split.val, split.labels(split.val), kind), pairs, cfg.workers, left_out,
                   input_kind=kind)

    @property
    def count(self) -> int:
        return len(self.files)

    def _loader(self, files: streaming.FaceFiles, batches: list[list[int]]) -> DataLoader:
        return DataLoader(files, batch_sampler=batches, num_workers=self.workers, collate_fn=streaming.collate)

    def batches(self, steps: list[torch.Tensor], part: Part = Part()) -> Iterator[Batch]:
        """As ``TrainData.batches``, each rank's faces decoded by its own workers; unreadable ones left out."""
        shares = [(idx, part.places(len(idx))) for idx in steps]
        loaded = self._loader(self.files, [idx[places].tolist() for idx, places in shares])
        for (idx, places), (kept, images, labels, unreadable) in zip(shares, loaded):
            yield Batch(idx[places][kept], places[kept], images, labels, unreadable)

    def val_batches(self, size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = list(range(len(self.val_files)))
        chunks = [order[i:i + size] for i in range(0, len(order), size)]
        for _, images, labels, _ in self._loader(self.val_files, chunks):
            yield images, labels


def load_train_data(cfg: TrainConfig, progress: bool = False) -> TrainData | FolderData:
    """The faces a run trains on: the user's folder (``cfg.data``) streamed, else the study's split in memory."""
    return FolderData.load(cfg) if cfg.data else TrainData.load(cfg, progress=progress)


def batch_order(n: int, seed: int, index: int) -> torch.Tensor:
    """The order of ``n`` training images for epoch (or pruning step) ``index``: a function of
    (seed, index) alone, so a resumed run draws the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + index))
