"""Faces read from their files one at a time, for training sets too large to hold in memory (VGGFace2:
3.3M faces, about 165 GB as the cached 129x129 crops): a ``torch.utils.data.Dataset`` whose items
are decoded and cropped in ``DataLoader`` worker processes, and the split of a user's own folder
of identities (``root/<person>/<image>``, the VGGFace2 and CASIA-WebFace layout).

    >>> split, left_out = folder_split(Path("vggface2/train"), Path("bb_landmark/loose_bb_train.csv"))
    >>> files = FaceFiles(split.train, split.labels(split.train))
    >>> position, image, label = files[0]      # image: uint8 [3, 129, 129], or None if unreadable

Each face goes through the decode and crop of the in-memory study sets (``preprocessing.preprocess``,
or ``alignment.align_face`` for networks that take 5-point aligned faces), so the training loop's
augmentation sees the same input from either path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from facelib.data import alignment
from facelib.data.datasets import Face, identity_folders
from facelib.data.preprocessing import open_image, preprocess
from facelib.data.split import Split, hold_out
from facelib.errors import FacelibError


def folder_split(root: Path, boxes: Path | None = None, val_fraction: float = 0.02, seed: int = 0,
                 min_images: int = 2) -> tuple[Split, int]:
    """The identities of the folder tree ``root`` (``datasets.identity_folders``; face boxes from the
    optional CSV ``boxes``, VGGFace2's ``loose_bb`` columns), each person's images split by
    ``split.hold_out``; people with fewer than ``min_images`` images are left out (a held-out image
    needs a trained one beside it). Returns the split and how many people were left out."""
    faces = identity_folders(root, boxes)
    if not faces:
        raise FacelibError(f"{root} holds no images in person folders (expected {root}/<person>/<image>.jpg)")
    counts: dict[str, int] = {}
    for f in faces:
        counts[f.identity] = counts.get(f.identity, 0) + 1
    kept = {person for person, n in counts.items() if n >= min_images}
    if not kept:
        raise FacelibError(f"every person in {root} has fewer than {min_images} images: nothing to train on")
    return hold_out([f for f in faces if f.identity in kept], val_fraction, seed), len(counts) - len(kept)


class FaceFiles(Dataset):
    """``faces`` with their ``labels``, each decoded when asked for (in a ``DataLoader`` worker):
    item ``i`` is ``(i, image, label)``, the image uint8 [3, S, S] in the form a network of
    ``input_kind`` takes (``crop113``: the papers' 129x129 crop; ``aligned112``: 5-point aligned),
    or None where the file cannot be read (``collate`` leaves it out and counts it)."""

    def __init__(self, faces: list[Face], labels: torch.Tensor, input_kind: str = "crop113") -> None:
        self.faces, self.labels, self.input_kind = faces, labels, input_kind

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, int]:
        face = self.faces[i]
        try:
            if self.input_kind == "aligned112":
                image = alignment.align_face(face).transpose(2, 0, 1).copy()
            else:
                image = preprocess(open_image(face.path), face.box)
        except (OSError, ValueError, FacelibError):  # a truncated or foreign file: skipped, not fatal
            return i, None, int(self.labels[i])
        return i, torch.from_numpy(np.ascontiguousarray(image)), int(self.labels[i])


def collate(items: list[tuple[int, torch.Tensor | None, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """A batch of ``FaceFiles`` items as (their places in the batch, images, labels, unreadable count):
    the readable ones only."""
    kept = [(place, image, label) for place, (_, image, label) in enumerate(items) if image is not None]
    if not kept:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, 3, 1, 1, dtype=torch.uint8), \
            torch.zeros(0, dtype=torch.long), len(items)
    places, images, labels = zip(*kept)
    return torch.tensor(places), torch.stack(images), torch.tensor(labels), len(items) - len(kept)
