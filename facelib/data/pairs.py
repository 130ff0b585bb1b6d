"""LFW's verification pairs: the official View 1 and View 2 files, and the larger set of the
development people (``dev_people_pairs``) that the study reads every EER interval on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelib.data import paths
from facelib.data.datasets import Face, lfw_faces
from facelib.errors import FacelibError

# LFW pair sets: the official View 1 test and train pairs, View 2, and the larger set drawn from the
# development people (dev_people_pairs)
PAIR_SETS = ("dev", "devtrain", "view2", "devpeople")


def check_pair_set(name: str | None) -> None:
    """One sentence for a pairs set that is not one of ``PAIR_SETS`` (None: no set)."""
    if name is not None and name not in PAIR_SETS:
        raise FacelibError(f"unknown pairs set {name!r}; choose dev, devtrain, view2, devpeople or none")


@dataclass(frozen=True)
class Pair:
    a: Face
    b: Face
    same: bool
    fold: int


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
