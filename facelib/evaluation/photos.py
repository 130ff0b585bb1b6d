"""Two photos compared by several face networks: reading an uploaded photo safely, finding the
face, cutting the papers' crop, and scoring the pair with each model (the dashboard's page 4).

Bad input gives a ``FacelibError`` with one sentence, never a traceback:

    >>> read_photo(b"not an image")
    Traceback (most recent call last):
    FacelibError: the file is not an image (or not one of the formats Pillow reads)

Faces are found with OpenCV's frontal-face Haar cascade (shipped inside ``opencv-python``), and
their 5 points, for the networks that take aligned faces, with ``facelib.data.landmarks``; nothing is
downloaded.
"""
from __future__ import annotations

import functools
import io
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from facelib.data import alignment, landmarks, preprocessing
from facelib.errors import FacelibError
from facelib.networks.base import FaceNet

MAX_PIXELS = 60_000_000  # larger images are refused (decompression bombs among them)
MAX_SIDE = 2000  # larger photos are shrunk before detection (faces stay far above 113 pixels)


def read_photo(raw: bytes) -> tuple[Image.Image, list[str]]:
    """An uploaded file as an 8-bit RGB photo, upright, at most ``MAX_SIDE`` pixels a side,
    with notes on what was done to it (mode conversion, shrinking)."""
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            if img.width * img.height > MAX_PIXELS:
                raise FacelibError(f"the image is too large ({img.width}x{img.height} pixels; at most "
                                   f"{MAX_PIXELS // 1_000_000} million are accepted)")
            img.load()
    except FacelibError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FacelibError("the image declares more pixels than is safe to decode (a decompression bomb?)") from None
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise FacelibError("the image file is truncated (incomplete download or copy?)") from None
        raise FacelibError("the file is not an image (or not one of the formats Pillow reads)") from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for malformed files
        raise FacelibError("the file is not an image (or not one of the formats Pillow reads)") from None
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        img = Image.fromarray((a / max(a.max(), 1) * 255).round().astype(np.uint8))
        notes.append("16-bit image scaled to 8 bits")
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            background = Image.new("RGB", img.size, (255, 255, 255))
            background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
            img = background
            notes.append("transparency flattened on white")
        else:
            notes.append(f"{img.mode} image converted to RGB")
            img = img.convert("RGB")
    if max(img.size) > MAX_SIDE:
        scale = MAX_SIDE / max(img.size)
        notes.append(f"shrunk from {img.width}x{img.height}")
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    return img, notes


@functools.cache
def _face_cascade():
    """OpenCV's frontal-face Haar cascade (shipped inside the wheel), loaded once."""
    import cv2

    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def detect_faces(img: Image.Image, min_size: int = 40) -> list[preprocessing.Box]:
    """Frontal face boxes (x1, y1, x2, y2), largest first."""
    import cv2

    grey = cv2.equalizeHist(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY))
    found = _face_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def network_crop(img: Image.Image, box: preprocessing.Box | None) -> np.ndarray:
    """The papers' crop of the face in ``box`` (``None``: the whole photo is the face region),
    uint8 [3, 129, 129]; the networks see its central 113x113."""
    return preprocessing.preprocess(img, box)


def network_inputs(img: Image.Image, box: preprocessing.Box | None) -> dict[str, np.ndarray | None]:
    """The face in ``box`` in the form each kind of network takes (``FaceNet.input_kind``): the
    papers' crop (``crop113``) and the 5-point aligned 112x112 face (``aligned112``, uint8
    [3, 112, 112]; None where ``landmarks.five_points`` finds no points, or without a box)."""
    points = landmarks.five_points(img, box) if box is not None else None
    aligned = alignment.align_image(np.asarray(img), points).transpose(2, 0, 1).copy() if points else None
    return {"crop113": network_crop(img, box), "aligned112": aligned}


NO_POINTS = ("no facial points were found in {}, so the networks that take 5-point aligned faces "
             "(MobileFaceNet) leave this pair out; the others still answer")


@dataclass
class Comparison:
    model: str
    similarity: float
    threshold: float
    same: bool
    milliseconds: float


def compare(models: dict[str, tuple[FaceNet, float]], a: dict[str, np.ndarray], b: dict[str, np.ndarray]
            ) -> list[Comparison]:
    """Cosine similarity of two faces (mirror-fused embeddings, as in evaluation) under each
    ``name: (model, threshold)``; ``same`` when it reaches the model's EER threshold on the
    development pairs. ``a`` and ``b`` hold each face by input kind (``network_inputs``); a model
    whose kind of input is missing for either face is left out."""
    from facelib.evaluation.verification import embed_images

    out = []
    for name, (model, threshold) in models.items():
        kind = getattr(model, "input_kind", "crop113")
        if a.get(kind) is None or b.get(kind) is None:
            continue
        pair = torch.from_numpy(np.stack([a[kind], b[kind]]))
        start = time.perf_counter()
        e = embed_images(model, pair)
        sim = float(e[0] @ e[1])
        out.append(Comparison(name, sim, threshold, sim >= threshold, 1000 * (time.perf_counter() - start)))
    return out
