"""The face-box and landmark files of the data sets (``facelib.data`` reads the images they describe).

- ``faces.csv`` of LFW and CelebA-299: ``path,x1,y1,x2,y2,det_prob`` and the 5 points
  ``left_eye_x, left_eye_y, ..., mouth_right_y`` (empty fields where no face was found);
- a folder of identities' box CSV: ``path,x1,y1,x2,y2``, or VGGFace2's ``NAME_ID,X,Y,W,H``.
"""
from __future__ import annotations

import csv
from pathlib import Path

from facelib.data.preprocessing import Box
from facelib.errors import FacelibError


def read_faces_csv(csv_path: Path) -> dict[str, tuple[Box | None, tuple | None]]:
    """``faces.csv`` (path, x1..y2, det_prob, 5 points) -> {path: (box, landmarks)}; empty fields -> None."""
    out = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if not row["x1"]:
                out[row["path"]] = (None, None)
                continue
            box = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            pts = tuple((float(row[f"{p}_x"]), float(row[f"{p}_y"]))
                        for p in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right"))
            out[row["path"]] = (box, pts)
    return out


def read_box_csv(csv_path: Path) -> dict[str, Box]:
    """A bounding-box CSV: ``path,x1,y1,x2,y2`` or VGGFace2's ``NAME_ID,X,Y,W,H`` (key without extension)."""
    out = {}
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        for row in reader:
            if {"NAME_ID", "X", "Y", "W", "H"} <= cols:
                x, y, w, h = (float(row[k]) for k in ("X", "Y", "W", "H"))
                out[row["NAME_ID"]] = (x, y, x + w, y + h)
            elif {"path", "x1", "y1", "x2", "y2"} <= cols:
                out[row["path"]] = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            else:
                raise FacelibError(f"{csv_path} has neither path,x1,y1,x2,y2 nor NAME_ID,X,Y,W,H columns")
    return out
