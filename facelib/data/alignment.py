"""5-point face alignment: the similarity transform taking a face's eyes, nose tip and mouth
corners onto the 112x112 template of ArcFace-style models such as the reference MobileFaceNet,
and the aligned input image it gives.

    >>> m = alignment_transform(face)        # 2x3, photo pixels -> 112x112 input pixels
    >>> img = align_face(face)               # uint8 112x112x3 RGB
    >>> images = load_aligned(faces)     # uint8 [N, 3, 112, 112], cached (preprocessing.aligned_input)
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from facelib import io
from facelib.data import paths, preprocessing
from facelib.data.datasets import Face, load_images

# The usual 112x112 5-point template (eyes, nose tip, mouth corners) of ArcFace-style models.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]])
# One fixed transform for any 250x250 LFW deep-funneled image (from the reference model's README).
LFW_FIXED_TRANSFORM = np.array([[0.853, -0.012, -50.186], [0.012, 0.853, -45.897]])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src points to dst
    (Umeyama 1991, "Least-squares estimation of transformation parameters"), as a 2x3 matrix."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def alignment_transform(face: Face, size: int = 112, align: str = "landmarks") -> np.ndarray | None:
    """The 2x3 matrix taking a photo's pixels to a ``size`` x ``size`` model input: ``landmarks``
    maps the face's 5 points onto the template (the fixed LFW transform where it has none),
    ``fixed`` always uses that, ``none`` gives None (resize the whole photo)."""
    if align == "landmarks" and face.landmarks is not None:
        return similarity_transform(np.array(face.landmarks), TEMPLATE_112 * size / 112)
    if align in ("landmarks", "fixed"):
        return LFW_FIXED_TRANSFORM * size / 112
    return None


def align_face(face: Face, size: int = 112, align: str = "landmarks") -> np.ndarray:
    """A face as an aligned model input: uint8 ``size`` x ``size`` x 3 RGB (``alignment_transform``)."""
    import cv2

    img = np.asarray(preprocessing.open_image(face.path))
    m = alignment_transform(face, size, align)
    if m is None:
        return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return warp(img, m, size)


def align_image(img: np.ndarray, points: list[list[float]], size: int = 112) -> np.ndarray:
    """A photo (uint8 H x W x 3 RGB) aligned by its face's 5 points (``faces.csv`` order) onto the
    template: uint8 ``size`` x ``size`` x 3, as ``align_face`` makes them from faces.csv."""
    return warp(img, similarity_transform(np.array(points), TEMPLATE_112 * size / 112), size)


def warp(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``img`` under the 2x3 transform ``m``, cut to ``size`` x ``size`` (black outside the photo)."""
    import cv2

    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def load_aligned(faces: list[Face], size: int = 112) -> torch.Tensor:
    """Every face aligned by its 5 points (``align_face``), uint8 [N, 3, size, size], cached on disk
    by content key as ``datasets.load_images`` caches the papers' crops."""
    key = hashlib.sha1(json.dumps([[str(f.path), f.landmarks] for f in faces] + [size, "aligned", 1]).encode())
    cached = paths.cache_root() / f"aligned-{key.hexdigest()[:20]}.npy"
    if cached.is_file():
        return torch.from_numpy(np.load(cached))
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        arr = np.stack([a.transpose(2, 0, 1) for a in pool.map(lambda f: align_face(f, size), faces)]) if faces \
            else np.zeros((0, 3, size, size), np.uint8)
    io.save_array(cached, arr)
    return torch.from_numpy(arr)


def load_faces(faces: list[Face], input_kind: str, progress: bool = False) -> torch.Tensor:
    """The cached uint8 form of ``faces`` a network of ``input_kind`` takes its input from: the
    papers' 129x129 crops (``crop113``, ``datasets.load_images``) or 112x112 aligned faces (``aligned112``)."""
    return load_aligned(faces) if input_kind == "aligned112" else load_images(faces, progress=progress)
