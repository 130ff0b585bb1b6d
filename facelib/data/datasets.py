"""Real face data sets: LFW, folders of identities (VGGFace2 layout) and CelebA-299, each face a
``Face`` (file, identity, box, 5 points), decoded once into the papers' crop and cached.

Each face is decoded once into the papers' crop (``facelib.data.preprocessing``) and cached as
uint8 129x129 (``load_images``), so an epoch never decodes a JPEG; the 113x113 network inputs
are cut from that.

The face box of each data set:
- LFW: the tight MTCNN box of ``lfw/faces.csv`` (the face nearest the image centre). Without
  that file (a fresh download of the official data), the central 110x130 box of the 250x250
  deep-funneled image, where its alignment puts the face.
- CelebA-299: the tight MTCNN box found on each 144x144 crop (``celeba299/faces.csv``); the 5
  crops where none was found use the whole crop, which is already the detector box x 1.3.
- Folders of identities: the box of an optional CSV, either ``path,x1,y1,x2,y2`` or VGGFace2's
  ``NAME_ID,X,Y,W,H`` (``loose_bb_*.csv``); images without a row use the whole image.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facelib import io
from facelib.data import paths
from facelib.data.facefiles import read_box_csv, read_faces_csv
from facelib.data.preprocessing import ENLARGE, SHORT_SIDE, Box, open_image, preprocess
from facelib.errors import FacelibError

LFW_DEFAULT_BOX = (70.0, 60.0, 180.0, 190.0)


@dataclass(frozen=True)
class Face:
    """One face image: file, identity, face box (x1, y1, x2, y2) or None, and 5 landmarks or None."""

    path: Path
    identity: str
    box: Box | None = None
    landmarks: tuple[tuple[float, float], ...] | None = field(default=None, compare=False)


def load_images(faces: list[Face], workers: int | None = None, cache: bool = True,
                progress: bool = False) -> torch.Tensor:
    """Decode and preprocess faces to uint8 [N, 3, 129, 129], cached on disk by content key."""
    cached = images_cache_file(faces)
    if cache and cached.is_file():
        return torch.from_numpy(np.load(cached))

    def one(face: Face) -> np.ndarray:
        return preprocess(open_image(face.path), face.box)

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        it = pool.map(one, faces)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, total=len(faces), desc="decoding faces", unit="img")
        arr = np.stack(list(it)) if faces else np.zeros((0, 3, SHORT_SIDE, SHORT_SIDE), np.uint8)
    if cache:
        io.save_array(cached, arr)
    return torch.from_numpy(arr)


def images_cache_file(faces: list[Face]) -> Path:
    """The file ``load_images`` caches ``faces`` in: named by their paths, boxes and crop size."""
    key = hashlib.sha1(json.dumps([[str(f.path), f.box] for f in faces] + [ENLARGE, SHORT_SIDE, 1]).encode()).hexdigest()
    return paths.cache_root() / f"faces-{key[:20]}.npy"


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def identity_folders(root: Path, box_csv: Path | None = None, prefix: str = "") -> list[Face]:
    """Faces from ``root/<identity>/<image>`` (VGGFace2 layout), with boxes from an optional CSV."""
    root = Path(root)
    if not root.is_dir():
        raise FacelibError(f"image folder {root} does not exist")
    boxes = read_box_csv(box_csv) if box_csv else {}
    faces = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        for img in sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            rel = f"{person.name}/{img.name}"
            box = boxes.get(rel, boxes.get(f"{person.name}/{img.stem}"))
            faces.append(Face(img, prefix + person.name, box))
    return faces


def lfw_faces(root: Path | None = None, faces_csv: Path | None = None) -> dict[str, list[Face]]:
    """All LFW images by person name, in file order, with boxes and landmarks from ``faces_csv``
    (default: ``lfw/faces.csv``; same columns as that file, paths relative to lfw-deepfunneled/).
    Listed once per process (13,233 images, about a second), again where the folder or file changed."""
    root = Path(root or paths.lfw_root())
    faces_csv = Path(faces_csv) if faces_csv else root / "faces.csv"
    if not faces_csv.is_file() and faces_csv != root / "faces.csv":
        raise FacelibError(f"landmarks file {faces_csv} does not exist")
    stamp = _stamp(root / "lfw-deepfunneled", faces_csv)
    return {person: list(faces) for person, faces in _lfw_listing(root, faces_csv, stamp).items()}


def _stamp(*files: Path) -> tuple[int, ...]:
    """The modification times of ``files`` (0 where one is missing): the key a listing is cached by."""
    return tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in files)


@functools.lru_cache(maxsize=4)
def _lfw_listing(root: Path, faces_csv: Path, stamp: tuple[int, int]) -> dict[str, tuple[Face, ...]]:
    """``lfw_faces`` read from disk (``stamp``: the modification times it was read at)."""
    images = root / "lfw-deepfunneled"
    try:
        meta = read_faces_csv(faces_csv) if faces_csv.is_file() else {}
    except (KeyError, ValueError):
        raise FacelibError(f"{faces_csv} lacks the columns path,x1,y1,x2,y2 and the 5 points *_x,*_y") from None
    people: dict[str, list[Face]] = {}
    for person in sorted(p.name for p in images.iterdir() if p.is_dir()):
        for img in sorted((images / person).glob("*.jpg")):
            box, pts = meta.get(f"{person}/{img.name}", (LFW_DEFAULT_BOX, None))
            people.setdefault(person, []).append(Face(img, "lfw:" + person, box, pts))
    return {person: tuple(faces) for person, faces in people.items()}


def celeba299_faces(root: Path | None = None) -> list[Face]:
    """The CelebA-299 crops with their identities (meta.csv) and boxes (faces.csv); read once per
    process, again where a file changed."""
    root = Path(root or paths.celeba299_root())
    return list(_celeba299_listing(root, _stamp(root / "meta.csv", root / "faces.csv")))


@functools.lru_cache(maxsize=4)
def _celeba299_listing(root: Path, stamp: tuple[int, int]) -> tuple[Face, ...]:
    meta = read_faces_csv(root / "faces.csv") if (root / "faces.csv").is_file() else {}
    with open(root / "meta.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return tuple(Face(root / r["path"], "celeba:" + r["identity"], *meta.get(r["path"], (None, None))) for r in rows)
