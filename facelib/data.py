"""Real face data: LFW, folders of identities (VGGFace2 layout), CelebA-299, their pairs and the
study's identity split.

Each face is decoded once into the papers' crop (``facelib.preprocessing``) and cached as
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

from facelib import paths
from facelib.config import PAIR_SETS
from facelib.errors import FacelibError
from facelib.facefiles import read_box_csv, read_faces_csv
from facelib.preprocessing import ENLARGE, SHORT_SIDE, Box, open_image, preprocess

LFW_DEFAULT_BOX = (70.0, 60.0, 180.0, 190.0)


@dataclass(frozen=True)
class Face:
    """One face image: file, identity, face box (x1, y1, x2, y2) or None, and 5 landmarks or None."""

    path: Path
    identity: str
    box: Box | None = None
    landmarks: tuple[tuple[float, float], ...] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Pair:
    a: Face
    b: Face
    same: bool
    fold: int


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
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, cached)
    return torch.from_numpy(arr)


def images_cache_file(faces: list[Face]) -> Path:
    """The file ``load_images`` caches ``faces`` in: named by their paths, boxes and crop size."""
    key = hashlib.sha1(json.dumps([[str(f.path), f.box] for f in faces] + [ENLARGE, SHORT_SIDE, 1]).encode()).hexdigest()
    return paths.cache_root() / f"faces-{key[:20]}.npy"


# ---------------------------------------------------------------- data sets

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


def read_pairs(pairs_file: Path, people: dict[str, list[Face]]) -> list[Pair]:
    """LFW pairs (``pairs.txt``: header "folds n", each fold n same then n different pairs;
    ``pairsDev*.txt``: header "n", one fold)."""
    pairs_file = Path(pairs_file)
    if not pairs_file.is_file():
        raise FacelibError(f"pairs file {pairs_file} does not exist")
    lines = pairs_file.read_text().split("\n")
    header = lines[0].split()
    folds, per = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    out = []

    def face(name: str, number: str) -> Face:
        try:
            return people[name][int(number) - 1]
        except (KeyError, IndexError):
            raise FacelibError(f"{pairs_file.name} names {name} image {number}, which is not in the LFW folder") from None

    for k, line in enumerate(l for l in lines[1:] if l.strip()):
        parts = line.split()
        if len(parts) == 3:
            out.append(Pair(face(parts[0], parts[1]), face(parts[0], parts[2]), True, k // (2 * per)))
        elif len(parts) == 4:
            out.append(Pair(face(parts[0], parts[1]), face(parts[2], parts[3]), False, k // (2 * per)))
        else:
            raise FacelibError(f"{pairs_file.name} line {k + 2} is not a pair: {line!r}")
    if len(out) != 2 * folds * per:
        raise FacelibError(f"{pairs_file.name} holds {len(out)} pairs, its header promises {2 * folds * per}")
    return out


PAIR_FILES = {"dev": "pairsDevTest.txt", "devtrain": "pairsDevTrain.txt", "view2": "pairs.txt"}
SAME_PAIRS_PER_PERSON = 20  # dev_people_pairs: 2,552 same-person pairs of 418 people, no one above 20


def lfw_pairs(which: str = "dev", people: dict[str, list[Face]] | None = None) -> list[Pair]:
    """``dev`` (View 1 test, 1,000 pairs), ``devtrain`` (View 1 train), ``view2`` (6,000 pairs,
    10 folds) or ``devpeople`` (the larger set of the development people, ``dev_people_pairs``)."""
    if which not in PAIR_SETS:
        raise FacelibError(f"unknown pairs set {which!r}; choose one of {', '.join(PAIR_SETS)}")
    root = paths.lfw_root()
    people = people or lfw_faces(root)
    if which == "devpeople":
        return dev_people_pairs(people)
    return read_pairs(root / PAIR_FILES[which], people)


def dev_pairs_people(people: dict[str, list[Face]]) -> list[str]:
    """The people of the development pairs (``pairsDevTest.txt``), in LFW's folder order."""
    named = {f.identity for p in read_pairs(paths.lfw_root() / PAIR_FILES["dev"], people) for f in (p.a, p.b)}
    return [name for name, faces in people.items() if faces and faces[0].identity in named]


def dev_people_pairs(people: dict[str, list[Face]], seed: int = 0,
                     per_person: int = SAME_PAIRS_PER_PERSON) -> list[Pair]:
    """A larger verification set than the 1,000 development pairs, from the same 963 people (none
    of whom the study trains on), to know the EER's noise: every same-person pair among each
    person's images, at most ``per_person`` of them (drawn with ``seed``) so that no one person
    dominates, and as many different-person pairs, each two random images of two random people.
    One fold; the pairs sharing a person are why its interval resamples people."""
    rng = np.random.default_rng(seed)
    names = dev_pairs_people(people)
    same = []
    for name in names:
        faces = people[name]
        both = [(i, j) for i in range(len(faces)) for j in range(i + 1, len(faces))]
        for k in sorted(rng.permutation(len(both))[:per_person]):
            same.append(Pair(faces[both[k][0]], faces[both[k][1]], True, 0))
    different, seen = [], set()
    while len(different) < len(same):
        p, q = rng.choice(len(names), 2, replace=False)
        fa, fb = people[names[p]], people[names[q]]
        a, b = fa[rng.integers(len(fa))], fb[rng.integers(len(fb))]
        if frozenset((a.path, b.path)) not in seen:
            seen.add(frozenset((a.path, b.path)))
            different.append(Pair(a, b, False, 0))
    return same + different


def every_nth_pair(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """At most ``limit`` pairs, evenly spaced through the list (LFW files list matched pairs,
    then mismatched ones, so both kinds stay balanced); all of them if ``limit`` is None."""
    if limit is None or limit >= len(pairs):
        return pairs
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


# ---------------------------------------------------------------- the study's split

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
