"""A VGGFace2-layout folder of real faces for the tests of ``--data``: ``root/<person>/<image>.jpg``
copied from LFW and CelebA-299, with their face boxes in VGGFace2's CSV form (NAME_ID = person/stem,
X, Y, W, H), so that each copied face is cropped as the original is."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from facelib.data.datasets import Face


def write_tree(faces: list[Face], root: Path, link: bool = False) -> Path:
    """``faces`` as ``root/<person>/<image>`` (copied; ``link``: symbolic links, for large trees), and
    ``root.parent/<root name>_boxes.csv``; returns the CSV's path. A name seen twice is numbered."""
    boxes = root.parent / f"{root.name}_boxes.csv"
    seen: dict[str, int] = {}
    with open(boxes, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["NAME_ID", "X", "Y", "W", "H"])
        for face in faces:
            person = face.identity.replace(":", "_")
            stem = face.path.stem
            key = f"{person}/{stem}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                stem = f"{stem}_{seen[key]}"
            dest = root / person / f"{stem}{face.path.suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(face.path, dest) if link else shutil.copyfile(face.path, dest)
            if face.box is not None:
                x1, y1, x2, y2 = face.box
                out.writerow([f"{person}/{stem}", repr(x1), repr(y1), repr(x2 - x1), repr(y2 - y1)])
    return boxes
