"""Verification evaluation: embeddings, cosine scores over pairs, and the metrics of ``facelib.evaluation.metrics``.

Two kinds of model are evaluated the same way:
- a ``FaceNet`` of this library, on the papers' 113x113 centre crop (``preprocessing.to_input``),
  or, for the pretrained MobileFaceNet (``input_kind == "aligned112"``), on each face aligned by
  its 5 points to 112x112 as the ONNX reference is;
- any face model stored as ONNX (``OnnxFaceModel``), run by ONNX Runtime: a facelib network
  exported by ``facelib.deployment.export`` (fp32 or int8) takes the same crop and is evaluated exactly as
  the network itself; any other, such as the reference MobileFaceNet, has its own input size,
  pixel normalisation and 5-point alignment.

Mirror fusion adds the embedding of the horizontally flipped image to that of the image.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from facelib.data import preprocessing
from facelib.data.alignment import align_face, alignment_transform, load_faces
from facelib.data.datasets import Face
from facelib.data.pairs import Pair
from facelib.errors import FacelibError
from facelib.evaluation import metrics
from facelib.networks.base import FaceNet


@dataclass
class Verification:
    """Verification results over a set of pairs; ``scores``/``labels``/``folds`` kept for curves.
    ``eer_low``/``eer_high``: the EER's 95 % interval, bootstrapped over the pairs' people
    (``metrics.eer_interval``)."""

    eer: float
    eer_low: float
    eer_high: float
    threshold: float
    tar_at_far_1e3: float
    tar_at_far_1e2: float
    accuracy: float
    accuracy_std: float
    pairs: int
    seconds: float
    scores: np.ndarray
    labels: np.ndarray
    folds: np.ndarray

    def summary(self) -> dict:
        d = asdict(self)
        for k in ("scores", "labels", "folds"):
            d.pop(k)
        return d


def _normalise(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


@torch.no_grad()
def embed_images(model: FaceNet, images: torch.Tensor, mirror: bool = True, batch_size: int = 256,
                 progress: bool = False, precision: str = "fp32") -> np.ndarray:
    """L2-normalised embeddings of cached uint8 faces, optionally mirror-fused: [N, 3, 129, 129] crops
    (centre crop), or [N, 3, 112, 112] aligned faces for a network whose ``input_kind`` is
    ``aligned112`` (``preprocessing.network_input``). ``model``: a FaceNet, or an ``OnnxFaceModel`` of
    a facelib export (it has the same ``embed``). ``precision="bf16"``: the forward pass in bfloat16
    (autocast), as the pruning loop trains; the embeddings come back float32. The forward pass runs
    on the device that holds the model's weights (a GPU for a network trained there)."""
    model.eval()
    weights = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    device = weights.device if weights is not None else torch.device("cpu")
    kind = getattr(model, "input_kind", "crop113")
    bf16 = precision == "bf16"
    out = []
    for i in tqdm(range(0, len(images), batch_size), desc="embedding", disable=not progress, unit="batch"):
        x = preprocessing.network_input(kind, images[i:i + batch_size])
        x = x.to(device, memory_format=preprocessing.memory_format())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            e = model.embed(x)
            if mirror:
                e = e + model.embed(x.flip(-1))
        out.append(e.float().cpu().numpy())
    return _normalise(np.concatenate(out)) if out else np.zeros((0, model.embedding_dim), np.float32)


def pair_scores(pairs: list[Pair], embeddings: dict[Face, np.ndarray]) -> np.ndarray:
    """Cosine similarity of each pair (embeddings already L2-normalised)."""
    return np.array([float(embeddings[p.a] @ embeddings[p.b]) for p in pairs])


def unique_faces(pairs: list[Pair]) -> list[Face]:
    return list(dict.fromkeys(f for p in pairs for f in (p.a, p.b)))


def verification(scores: np.ndarray, pairs: list[Pair], seconds: float = 0.0) -> Verification:
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    e, t = metrics.eer(scores, labels)
    low, high = metrics.eer_interval(scores, labels, [p.a.identity for p in pairs], [p.b.identity for p in pairs])
    acc, std = (metrics.kfold_accuracy(scores, labels, folds) if len(set(folds.tolist())) > 1
                else (float(np.mean((scores >= t) == labels)), 0.0))
    return Verification(e, low, high, t, metrics.tar_at_far(scores, labels, 1e-3), metrics.tar_at_far(scores, labels, 1e-2),
                        acc, std, len(pairs), seconds, scores, labels, folds)


def evaluate_model(model: FaceNet | OnnxFaceModel, pairs: list[Pair], mirror: bool = True,
                   precision: str = "fp32", progress: bool = False) -> Verification:
    """EER, TAR@FAR and accuracy of a FaceNet on LFW pairs (10-fold accuracy where there are folds);
    ``precision``: as ``embed_images``."""
    if not pairs:
        raise FacelibError("there are no pairs to evaluate on")
    return evaluate_sets(model, {"pairs": pairs}, mirror, precision, progress)["pairs"]


def evaluate_sets(model: FaceNet | OnnxFaceModel, sets: dict[str, list[Pair]], mirror: bool = True,
                  precision: str = "fp32", progress: bool = False) -> dict[str, Verification]:
    """``evaluate_model`` of each named set of pairs (empty sets left out), every face embedded once
    however many sets hold it: the 1,000 development pairs and the larger set of the same people
    share 1,532 of their 2,487 faces, so evaluating both costs 2,487 embeddings, not 4,019.
    ``precision``: as ``embed_images``. An ONNX model with its own alignment aligns each face itself
    (``OnnxFaceModel.embed_faces``); every other model reads the cached crops."""
    sets = {name: pairs for name, pairs in sets.items() if pairs}
    faces = unique_faces([p for pairs in sets.values() for p in pairs])
    if isinstance(model, OnnxFaceModel) and model.align != "crop":
        start = time.perf_counter()
        embeddings = model.embed_faces(faces, mirror=mirror, progress=progress)
    else:
        images = load_faces(faces, getattr(model, "input_kind", "crop113"), progress=progress)
        start = time.perf_counter()
        embeddings = embed_images(model, images, mirror=mirror, progress=progress, precision=precision)
    table = dict(zip(faces, embeddings))
    seconds = time.perf_counter() - start
    return {name: verification(pair_scores(pairs, table), pairs, seconds) for name, pairs in sets.items()}


# ---------------------------------------------------------------- ONNX models with alignment

class OnnxFaceModel:
    """A face model in an ONNX file, run by ONNX Runtime: NCHW RGB input.

    ``align``: ``crop`` (the papers' centre crop, normalised as ``preprocessing.to_input``: a
    facelib network exported by ``facelib.deployment.export``, the default for such files, whose metadata
    says so), ``landmarks`` (5-point similarity alignment from each face's landmarks, falling
    back to ``fixed`` where a face has none; the default otherwise), ``fixed`` (one transform for
    LFW deep-funneled images) or ``none`` (resize the whole image); the last three map pixels by
    (v - mean) / std.
    """

    ALIGNMENTS = ("crop", "landmarks", "fixed", "none")

    def __init__(self, path: Path, mean: float = 127.5, std: float = 128.0, align: str | None = None,
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        if align is not None and align not in self.ALIGNMENTS:
            raise FacelibError(f"unknown alignment {align!r}; choose one of {', '.join(self.ALIGNMENTS)}")
        if not Path(path).is_file():
            raise FacelibError(f"ONNX model {path} does not exist")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # ONNX Runtime's threads otherwise spin after each call, taking the cores from whatever runs
        # next in the process (PyTorch, another session: the deploy bench times them in turn)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise FacelibError(f"{path} is not a loadable ONNX model") from None
        inp = self.session.get_inputs()[0]
        self.input_name, self.size = inp.name, int(inp.shape[-1])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        exported = self.metadata.get("facelib.input") == "crop113"  # export.INPUT_KIND
        self.mean, self.std, self.align = mean, std, align or ("crop" if exported else "landmarks")
        self.embedding_dim = int(self.session.get_outputs()[0].shape[-1])

    def eval(self) -> "OnnxFaceModel":
        """Nothing to switch (the FaceNet interface ``embed_images`` uses)."""
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch of network inputs, as ``FaceNet.embed`` (``crop`` models)."""
        return torch.from_numpy(self.session.run(None, {self.input_name: x.contiguous().numpy()})[0])

    def transform(self, face: Face) -> np.ndarray:
        """The 2x3 matrix taking image pixels to model input pixels."""
        return alignment_transform(face, self.size, self.align)

    def aligned(self, face: Face) -> np.ndarray:
        """The model's input image for a face: uint8 HxWx3 RGB."""
        return align_face(face, self.size, self.align)

    def embed_arrays(self, images: np.ndarray, mirror: bool = True) -> np.ndarray:
        """L2-normalised embeddings of aligned uint8 [N, H, W, 3] images."""
        x = ((images.astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2)
        e = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        if mirror:
            e = e + self.session.run(None, {self.input_name: np.ascontiguousarray(x[..., ::-1])})[0]
        return _normalise(e)

    def embed_faces(self, faces: list[Face], mirror: bool = True, batch_size: int = 128,
                    progress: bool = False) -> np.ndarray:
        out = []
        for i in tqdm(range(0, len(faces), batch_size), desc="embedding", disable=not progress, unit="batch"):
            out.append(self.embed_arrays(np.stack([self.aligned(f) for f in faces[i:i + batch_size]]), mirror))
        return np.concatenate(out)

    def evaluate(self, pairs: list[Pair], mirror: bool = True, progress: bool = False) -> Verification:
        return evaluate_sets(self, {"pairs": pairs}, mirror, progress=progress)["pairs"]
