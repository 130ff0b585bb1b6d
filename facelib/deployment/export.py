"""Face networks where they are deployed: ONNX export and static int8 quantisation.

    python -m facelib export models/squeezenet-taylor_normalised-step028-finetuned.pt --out sq.onnx
    python -m facelib export models/squeezenet-taylor_normalised-step028-finetuned.pt --out sq-int8.onnx --int8
    python -m facelib evaluate --onnx sq-int8.onnx --pairs dev

``export_onnx`` writes the embedding of a facelib network (``FaceNet.embed``, the global average
pool: no identity classifier) as an ONNX graph with a dynamic batch size. The file's metadata
names the input it takes (``facelib.input = crop113``: the papers' 113x113 centre crop, normalised
as ``preprocessing.to_input`` does), so ``verification.OnnxFaceModel`` feeds it as facelib feeds the
network, and ONNX Runtime's embeddings equal PyTorch's (``tests/test_export.py``).

``quantize_int8`` is ONNX Runtime's static quantisation (QDQ format, int8 weights per output
channel, activations calibrated by their observed min/max) calibrated on faces of the study's
training split, never on development faces (``calibration_faces``).
"""
from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from facelib import io
from facelib.data import preprocessing
from facelib.data.datasets import Face, load_images
from facelib.data.split import study_split
from facelib.errors import FacelibError
from facelib.networks.base import FaceNet
from facelib.networks.models import load_model

INPUT_KIND = "crop113"  # the metadata value that marks a facelib export (evaluate.OnnxFaceModel reads it)
OPSET = 17
# torch.onnx.export keeps its state in module globals: two dashboard sessions (threads of one process)
# exporting at once fail with "GLOBALS.in_onnx_export must be False"
_EXPORTING = threading.Lock()


class _Embedding(torch.nn.Module):
    """The part of a FaceNet a deployed model runs: image batch -> embedding."""

    def __init__(self, model: FaceNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x)


def _with_metadata(model_bytes: bytes, meta: dict[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(model_bytes)
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=str(value))
    return proto.SerializeToString()


def export_onnx(model: FaceNet, path: Path, **meta) -> Path:
    """Write ``model``'s embedding to ``path`` as fp32 ONNX (dynamic batch; input ``input`` [N, 3,
    113, 113], output ``embeddings`` [N, D]), atomically; ``meta`` goes into the file's metadata."""
    import io as bytes_io

    # the wrapper in eval mode too: the exporter restores the wrapper's mode afterwards, recursively
    wrapper = _Embedding(model).eval()
    buffer = bytes_io.BytesIO()
    with _EXPORTING, torch.no_grad():
        torch.onnx.export(wrapper, torch.zeros(1, 3, preprocessing.CROP, preprocessing.CROP), buffer,
                          input_names=["input"], output_names=["embeddings"], opset_version=OPSET,
                          dynamic_axes={"input": {0: "batch"}, "embeddings": {0: "batch"}}, dynamo=False)
    tags = {"facelib.input": INPUT_KIND, "facelib.arch": type(model).__name__, "facelib.precision": "fp32", **meta}
    blob = _with_metadata(buffer.getvalue(), tags)
    io.save_bytes(blob, Path(path))
    return Path(path)


def calibration_faces(count: int = 300, seed: int = 0) -> list[Face]:
    """``count`` faces drawn (seeded) from the study's training split: no development person among them."""
    train = study_split().train
    pick = np.random.default_rng(seed).choice(len(train), size=min(count, len(train)), replace=False)
    return [train[i] for i in sorted(pick.tolist())]


class _FaceBatches:
    """onnxruntime's CalibrationDataReader over face crops, a mini-batch at a time."""

    def __init__(self, faces: list[Face], batch_size: int = 32) -> None:
        images = load_images(faces)
        self.batches = [preprocessing.to_input(images[i:i + batch_size]).numpy()
                        for i in range(0, len(images), batch_size)]

    def get_next(self):
        return {"input": self.batches.pop(0)} if self.batches else None


def quantize_int8(fp32: Path, out: Path, faces: list[Face] | None = None) -> Path:
    """Static int8 quantisation of the exported ``fp32`` model into ``out``, calibrated on ``faces``
    (default: ``calibration_faces()``); the metadata is carried over, its precision set to int8."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    fp32, out = Path(fp32), Path(out)
    try:
        meta = {p.key: p.value for p in onnx.load(str(fp32), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - onnx raises several unrelated types on a bad file
        raise FacelibError(f"{fp32} is not a loadable ONNX model") from None
    if meta.get("facelib.input") != INPUT_KIND:
        raise FacelibError(f"{fp32} was not exported by facelib (python -m facelib export), so its input is unknown")
    with tempfile.TemporaryDirectory() as tmp:
        prepared, staged = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32), str(prepared))  # shape inference and graph optimisation, as recommended
        quantize_static(str(prepared), str(staged), _FaceBatches(faces or calibration_faces()),
                        quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8)
        io.save_bytes(_with_metadata(staged.read_bytes(), {**meta, "facelib.precision": "int8"}), out)
    return out


def cached_export(model_file: Path, precision: str, folder: Path) -> Path:
    """The facelib model file exported to ONNX in ``folder`` (``precision`` fp32 or int8), made once
    and made again only when the model file is newer: what the dashboard runs in ONNX Runtime."""
    if precision not in ("fp32", "int8"):
        raise FacelibError(f"unknown precision {precision!r}; choose fp32 or int8")
    model_file = Path(model_file)
    fp32 = Path(folder) / f"{model_file.stem}.onnx"
    out = fp32 if precision == "fp32" else Path(folder) / f"{model_file.stem}-int8.onnx"
    if out.exists() and out.stat().st_mtime >= model_file.stat().st_mtime:
        return out
    if not (fp32.exists() and fp32.stat().st_mtime >= model_file.stat().st_mtime):
        export_onnx(load_model(model_file), fp32, source=model_file.name)
    return out if precision == "fp32" else quantize_int8(fp32, out)
