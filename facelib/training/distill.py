"""Knowledge distillation from a pretrained reference face model (issue: stronger base models offline).

The loss of a training batch becomes

    L = identity_weight * CE(classifier(e), y) + distill_weight * mean_i [1 - cos(P e_i, r_i)]

(``distill_form="embedding"``, the default) or, with ``distill_form="similarity"``, the batch's
pairwise similarities matched instead (``similarity_loss``)

where ``e`` is the student's embedding (the global-average-pool output the papers use), ``P``
a linear projection to the reference's 128 values used only in training, and ``r`` the
reference model's L2-normalised, mirror-fused embedding of the same face (Hinton et al. 2015
distil logits; here, as in embedding distillation for face recognition, the embedding is
pulled towards the teacher's by cosine distance).

Reference embeddings are computed once per set of faces with the ONNX MobileFaceNet, aligned
by each face's own 5 landmarks (``faces.csv``), and cached on disk; they never change between
epochs. Faces without landmarks (5 of the CelebA-299 crops) get no reference and train with the
identity loss only (``usable`` is False for them).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facelib import io
from facelib.data import paths
from facelib.data.datasets import Face
from facelib.evaluation.verification import OnnxFaceModel

REFERENCE_DIM = 128
computed_faces = 0  # faces embedded by the reference model in this process (cache misses)


def reference_embeddings(faces: list[Face], model_path: Path | None = None,
                         progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference embeddings [N, 128] (zeros where unusable) and a usable mask [N], cached on disk."""
    global computed_faces
    model_path = Path(model_path) if model_path else paths.reference_model()
    cached = reference_cache_file(faces, model_path)
    if cached.is_file():
        stored = np.load(cached)
        return torch.from_numpy(stored["embeddings"]), torch.from_numpy(stored["usable"])
    usable = np.array([f.landmarks is not None for f in faces])
    emb = np.zeros((len(faces), REFERENCE_DIM), np.float32)
    with_points = [f for f, ok in zip(faces, usable) if ok]
    if with_points:
        model = OnnxFaceModel(model_path, align="landmarks")
        emb[usable] = model.embed_faces(with_points, mirror=True, progress=progress)
    computed_faces += len(with_points)
    io.save_array(cached, embeddings=emb, usable=usable)
    return torch.from_numpy(emb), torch.from_numpy(usable)


def reference_cache_file(faces: list[Face], model_path: Path) -> Path:
    """The file ``reference_embeddings`` caches its result in: named by the model's md5 and the faces."""
    key = hashlib.sha1(json.dumps([paths.md5(model_path)] + [[str(f.path), f.landmarks] for f in faces]).encode())
    return paths.cache_root() / f"reference-{key.hexdigest()[:20]}.npz"


def projection(embedding_dim: int, seed: int) -> torch.nn.Linear:
    """The training-only projection P, initialised from its own seed so the global random
    state (and so a run with distillation weight 0) is untouched."""
    with torch.random.fork_rng():
        torch.manual_seed(seed + 7)
        return torch.nn.Linear(embedding_dim, REFERENCE_DIM)


@torch.no_grad()
def fit_projection(embeddings: torch.Tensor, reference: torch.Tensor) -> torch.nn.Linear:
    """The projection P (with bias) minimising ||P e - r||^2 over the given faces (least squares).

    Pruning shrinks the embedding, so the projection used while fine-tuning a pruned network is
    refitted to the network's current embeddings at every step instead of being carried along.
    """
    e = torch.cat([embeddings.double(), torch.ones(len(embeddings), 1, dtype=torch.float64)], 1)
    ridge = 1e-3 * torch.eye(e.shape[1], dtype=torch.float64) * e.pow(2).mean()
    solution = torch.linalg.solve(e.T @ e + ridge, e.T @ reference.double())  # [C + 1, 128]
    with torch.random.fork_rng():  # its random initialisation is overwritten; keep the global stream as it was
        proj = torch.nn.Linear(embeddings.shape[1], reference.shape[1])
    proj.weight.copy_(solution[:-1].T.float())
    proj.bias.copy_(solution[-1].float())
    return proj


def similarity_loss(embeddings: torch.Tensor, reference: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """Mean over the pairs i != j of a batch's faces with a reference of
    ``(cos(e_i, e_j) - cos(r_i, r_j))^2``: the student keeps the teacher's similarities within the
    batch rather than its coordinates (similarity-preserving distillation, Tung & Mori 2019), so it
    needs no projection and acts on the embedding verification uses (0 with fewer than 2 faces)."""
    if int(usable.sum()) < 2:
        return embeddings.sum() * 0.0
    e, r = F.normalize(embeddings[usable], dim=1), F.normalize(reference[usable], dim=1)
    n = len(e)
    return (e @ e.T - r @ r.T).pow(2).sum() / (n * (n - 1))  # the diagonal is 1 - 1 = 0


def distillation_loss(projected: torch.Tensor, reference: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance 1 - cos(P e, r) over the faces that have a reference (0 if none)."""
    if not usable.any():
        return projected.sum() * 0.0
    cos = F.cosine_similarity(projected[usable], reference[usable], dim=1)
    return (1.0 - cos).mean()
