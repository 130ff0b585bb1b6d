"""The reference model as an online teacher that sees the student's own augmented view.

"Knowledge distillation: a good teacher is patient and consistent" (Beyer et al., CVPR 2022):
a student matches its teacher best when both see the *same* input at every step, including
augmented and mixed ones, so that every step shows the student new points of the teacher's
function. Here the student sees the papers' 113x113 crop; the teacher (the reference
MobileFaceNet) needs a 112x112 face aligned by its 5 points. So each face's points are carried
through every transform the student's view went through:

    photo --crop_matrix--> cached 129x129 face --flip, mix--> image --113x113 window--> student
                                                                    --similarity (Umeyama)--> teacher 112x112

so the teacher's input is resampled from the very image the student's view is cut from
(``make_batch``). Under mixup the second face of each mixed pair is first warped onto the first
one's points (``mix_onto``), so the mixed image, aligned by the first face's points, is the same
mixture of the two aligned faces: teacher and student still see one image.

Point order everywhere: left eye, right eye, nose, left mouth corner, right mouth corner (as
``faces.csv``); a flip mirrors the x coordinates and swaps left and right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facelib.data import preprocessing
from facelib.data.alignment import TEMPLATE_112, similarity_transform
from facelib.data.datasets import Face
from facelib.evaluation.verification import OnnxFaceModel
from facelib.training.distill import REFERENCE_DIM

SWAP_ON_FLIP = [1, 0, 2, 4, 3]
TEACHER_SIZE = 112


def points_in_crop(faces: list[Face]) -> torch.Tensor:
    """Each face's 5 points in its cached 129x129 crop, [N, 5, 2] (NaN for faces without points)."""
    out = np.full((len(faces), 5, 2), np.nan)
    for i, f in enumerate(faces):
        if f.landmarks is not None and f.box is not None:
            m = preprocessing.crop_matrix(f.box)
            pts = np.asarray(f.landmarks, np.float64)
            out[i] = pts @ m[:, :2].T + m[:, 2]
    return torch.from_numpy(out)


def flip_faces(images: torch.Tensor, points: torch.Tensor, flips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached faces [N, 3, S, S] and their points mirrored where ``flips`` (left and right swap)."""
    images, points = images.clone(), points.clone()
    images[flips] = images[flips].flip(-1)
    mirrored = points[flips][:, SWAP_ON_FLIP]
    mirrored[..., 0] = images.shape[-1] - 1 - mirrored[..., 0]
    points[flips] = mirrored
    return images, points


def _grid(matrices: np.ndarray, in_size: int, out_size: int) -> torch.Tensor:
    """Sampling grids for ``F.grid_sample`` (align_corners=False) from 2x3 matrices taking output
    pixel coordinates to input pixel coordinates."""
    to_pix = np.array([[out_size / 2, 0, (out_size - 1) / 2], [0, out_size / 2, (out_size - 1) / 2], [0, 0, 1]])
    to_norm = np.array([[2 / in_size, 0, 1 / in_size - 1], [0, 2 / in_size, 1 / in_size - 1], [0, 0, 1]])
    full = np.concatenate([matrices, np.tile([[[0, 0, 1]]], (len(matrices), 1, 1))], 1)
    theta = (to_norm @ full @ to_pix)[:, :2]
    return F.affine_grid(torch.from_numpy(theta).float(), [len(matrices), 3, out_size, out_size], align_corners=False)


def _warp(views: torch.Tensor, matrices: np.ndarray, out_size: int) -> torch.Tensor:
    return F.grid_sample(views.float(), _grid(matrices, views.shape[-1], out_size), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def align_views(faces: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Teacher inputs: each face (pixel values 0-255, [N, 3, S, S]) aligned by its points to the
    112x112 template, as float pixel values [N, 3, 112, 112]."""
    inv = np.stack([_invert(similarity_transform(p, TEMPLATE_112)) for p in points.numpy()])
    return _warp(faces, inv, TEACHER_SIZE)


def mix_onto(views: torch.Tensor, points: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """Each face's mixup partner (``partner[i]``) warped so that its points land on face i's."""
    m = np.stack([similarity_transform(points[i].numpy(), points[j].numpy()) for i, j in enumerate(partner.tolist())])
    return _warp(views[partner], m, views.shape[-1])


def _invert(m: np.ndarray) -> np.ndarray:
    full = np.vstack([m, [0, 0, 1]])
    return np.linalg.inv(full)[:2]


@dataclass
class Batch:
    """One training batch under the online teacher: the student's input, the teacher's embedding
    of the same image where the face has points (``usable``), and the mixup partner and weight of
    each face (``partner[i] == i`` and ``weight == 1`` where not mixed)."""

    x: torch.Tensor
    reference: torch.Tensor
    usable: torch.Tensor
    partner: torch.Tensor
    weight: torch.Tensor


def make_batch(images: torch.Tensor, points: torch.Tensor, teacher: "Teacher", generator: torch.Generator,
               augment: bool = True, mixup_alpha: float = 0.0) -> Batch:
    """Student input and teacher targets of uint8 cached faces [N, 3, 129, 129] with their points
    in the crop [N, 5, 2]. The flips, then the mixing, act on the cached faces; the student sees
    its 113x113 window of the result, the teacher the same image aligned by the face's points (the
    window only translates it, which the alignment undoes; outside the window the teacher sees the
    face's surroundings rather than zeros). Augmentation draws ``preprocessing.draw_views``; mixup
    draws each face's weight from Beta(alpha, alpha) and a partner among the faces with points
    (all from ``generator``, so a resumed run draws the same)."""
    n, margin = len(images), preprocessing.SHORT_SIDE - preprocessing.CROP
    if augment:
        offsets, flips = preprocessing.draw_views(n, generator)
    else:
        offsets, flips = torch.full((n, 2), margin // 2), torch.zeros(n, dtype=torch.bool)
    faces, pts = flip_faces(images, points, flips)
    faces = faces.float()
    usable = ~torch.isnan(pts).flatten(1).any(1)
    partner, weight = torch.arange(n), torch.ones(n)
    with_points = usable.nonzero().flatten()
    if mixup_alpha > 0 and len(with_points) > 1:
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
        local = torch.from_numpy(rng.permutation(len(with_points)))
        partner[with_points] = with_points[local]
        weight[with_points] = torch.from_numpy(rng.beta(mixup_alpha, mixup_alpha, len(with_points))).float()
        w = weight[with_points].view(-1, 1, 1, 1)
        own = faces[with_points]
        faces[with_points] = w * own + (1 - w) * mix_onto(own, pts[with_points], local)
    reference = torch.zeros(n, REFERENCE_DIM)
    if len(with_points):
        reference[with_points] = teacher(align_views(faces[with_points], pts[with_points]))
    window = offsets.clone()  # the window of the flipped face that is the flipped window of the face
    window[flips, 1] = margin - window[flips, 1]
    views = preprocessing.cut_views(faces, window, torch.zeros(n, dtype=torch.bool))
    return Batch(preprocessing.normalise(views), reference, usable, partner, weight)


class Teacher:
    """The reference model run on teacher inputs (float pixel values); returns L2-normalised
    embeddings [N, 128]. ONNX Runtime runs it: faster here than PyTorch's port in fp32 or bf16."""

    def __init__(self, model_path, threads: int | None = None) -> None:
        self.model = OnnxFaceModel(model_path, align="landmarks", threads=threads)

    @torch.no_grad()
    def __call__(self, aligned: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.embed((aligned - self.model.mean) / self.model.std), dim=1)
