"""The study's identity split: who is trained on, who is held out for validation, and who is never
seen (the people of the development pairs, or of all of View 2)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facelib.data.datasets import Face, celeba299_faces, lfw_faces
from facelib.data.pairs import lfw_pairs
from facelib.errors import FacelibError


@dataclass
class Split:
    """Training identities and their images, with a per-identity validation hold-out."""

    train: list[Face]
    val: list[Face]
    classes: list[str]

    def labels(self, faces: list[Face]) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes)}
        return torch.tensor([index[f.identity] for f in faces])


def hold_out(faces: list[Face], fraction: float, seed: int) -> Split:
    """Hold out ``fraction`` of each identity's images for validation.

    Each identity gives ``floor(fraction * n + u)`` images (u uniform in [0, 1), seeded), so
    the expected share is exactly ``fraction`` even for identities with few images; an identity
    never loses its last training image.
    """
    rng = np.random.default_rng(seed)
    by_id: dict[str, list[Face]] = {}
    for f in faces:
        by_id.setdefault(f.identity, []).append(f)
    train, val = [], []
    for ident in sorted(by_id):
        items = by_id[ident]
        k = min(int(np.floor(fraction * len(items) + rng.random())), len(items) - 1)
        chosen = set(rng.choice(len(items), size=k, replace=False).tolist()) if k else set()
        for i, f in enumerate(items):
            (val if i in chosen else train).append(f)
    return Split(train, val, sorted(by_id))


def study_split(min_images: int = 2, val_fraction: float = 0.02, seed: int = 0,
                max_identities: int | None = None, lfw: bool = True, celeba: bool = True,
                held_out: str = "dev") -> Split:
    """The default training set: LFW people absent from pairsDevTest.txt (with at least
    ``min_images`` images) plus the CelebA-299 identities; so no training identity appears in
    the development pairs. ``max_identities`` keeps the first identities only (fast profiles).

    View 2 (pairs.txt) shares people with this training set: ``held_out="view2"`` leaves out every
    person of View 2 instead (the split on which the pretrained MobileFaceNet is pruned, so that View 2
    stays an untouched test set).
    """
    if held_out not in ("dev", "view2"):
        raise FacelibError(f"unknown held-out pairs {held_out!r}; choose dev or view2")
    faces: list[Face] = []
    if lfw:
        people = lfw_faces()
        kept_out = {f.identity for p in lfw_pairs(held_out, people) for f in (p.a, p.b)}
        faces += [f for name, imgs in people.items()
                  if len(imgs) >= min_images and "lfw:" + name not in kept_out for f in imgs]
    if celeba:
        faces += celeba299_faces()
    if max_identities is not None:
        keep = set(sorted({f.identity for f in faces})[:max_identities])
        faces = [f for f in faces if f.identity in keep]
    if not faces:
        raise FacelibError("the training split is empty; check FACELIB_DATA and the data set options")
    return hold_out(faces, val_fraction, seed)
