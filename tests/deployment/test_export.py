"""ONNX export and int8 quantisation of facelib networks (facelib.deployment.export), on real LFW faces."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from facelib.data.pairs import every_nth_pair, lfw_pairs
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.evaluation.timing import lfw_batch
from facelib.networks import models
from facelib.networks.base import FaceNet
from facelib.study import configs, layout

SHIPPED = layout.ROOT / "models"


@pytest.fixture(scope="module")
def faces():
    return lfw_batch(16)


def pruned(arch: str, share: float = 0.4) -> FaceNet:
    """The shipped base of ``arch`` with its lowest group-L1 filters removed until its trunk has
    ``1 - share`` of its parameters: a pruned shape (uneven filter counts in every group kind)
    built here, as shipped pruned copies come and go with their runs."""
    from facelib.pruning.criteria import l1_scores
    from facelib.pruning.groups import channel_groups
    from facelib.pruning.selection import pruned_to

    base = models.load_model(SHIPPED / f"{arch}-distill-base.pt")
    by_name = {g.name: g for g in channel_groups(base)}
    scores = {name: l1_scores(base, g, by_name) for name, g in by_name.items()}
    return pruned_to(base, scores, int((1 - share) * base.trunk_parameters()))


@pytest.mark.parametrize("arch, share", [("squeezenet", 0.0), ("squeezenet", 0.4), ("mobilenetv2", 0.4),
                                         ("resnet50", 0.4)])
def test_onnx_runtime_embeds_as_pytorch_does(tmp_path, faces, arch, share):
    """Unpruned and pruned networks of all three kinds: ONNX Runtime's fp32 embeddings of real
    faces equal PyTorch's within 1e-4, at a batch size other than the exported one."""
    model = pruned(arch, share)
    path = export.export_onnx(model, tmp_path / "m.onnx")
    onnx_model = verification.OnnxFaceModel(path)
    assert onnx_model.align == "crop" and onnx_model.metadata["facelib.precision"] == "fp32"
    with torch.no_grad():
        want = model.embed(faces)
    got = onnx_model.embed(faces)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_int8_model_is_smaller_and_agrees_with_fp32_on_real_faces(tmp_path, faces):
    model = pruned("squeezenet")
    fp32 = export.export_onnx(model, tmp_path / "fp32.onnx")
    calibration = export.calibration_faces(64)
    int8 = export.quantize_int8(fp32, tmp_path / "int8.onnx", calibration)
    assert int8.stat().st_size < 0.4 * fp32.stat().st_size
    a, b = verification.OnnxFaceModel(fp32).embed(faces), verification.OnnxFaceModel(int8).embed(faces)
    assert verification.OnnxFaceModel(int8).metadata["facelib.precision"] == "int8"
    cos = torch.nn.functional.cosine_similarity(a, b)
    assert float(cos.min()) > 0.95, cos  # int8 rounding moves each embedding a little, not away
    assert not torch.allclose(a, b, atol=1e-4)  # really quantised


def test_calibration_faces_hold_no_development_person():
    faces = export.calibration_faces(300)
    assert len(faces) == 300 and len(set(faces)) == 300
    dev = {f.identity for p in lfw_pairs("dev") for f in (p.a, p.b)}
    assert not dev & {f.identity for f in faces}
    assert export.calibration_faces(300) == faces  # seeded


def test_exported_model_evaluates_like_the_network(tmp_path):
    """``evaluate`` treats an exported file as the network itself: same crop, same scores."""
    model = pruned("squeezenet")
    path = export.export_onnx(model, tmp_path / "m.onnx")
    pairs = every_nth_pair(configs.dev_pairs(), 60)
    native, onnx = verification.evaluate_model(model, pairs), verification.OnnxFaceModel(path).evaluate(pairs)
    assert np.allclose(native.scores, onnx.scores, atol=1e-5)
    assert native.eer == onnx.eer


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facelib", *args], capture_output=True, text=True)


def test_export_command_writes_fp32_and_int8_and_evaluate_reads_them(tmp_path):
    model = tmp_path / "pruned.pt"
    models.save_model(pruned("squeezenet"), model, half=True, embedding_only=True)
    out = run("export", str(model), "--out", str(tmp_path / "sq.onnx"))
    assert out.returncode == 0 and "fp32" in out.stdout, out.stderr
    out = run("export", str(model), "--out", str(tmp_path / "sq-int8.onnx"), "--int8", "--calibration-faces", "32")
    assert out.returncode == 0 and "int8" in out.stdout, out.stderr
    out = run("evaluate", "--onnx", str(tmp_path / "sq-int8.onnx"), "--pairs", "dev")
    assert out.returncode == 0 and "EER" in out.stdout and "1000 pairs" in out.stdout, out.stderr


def test_bad_export_inputs_are_one_sentence(tmp_path):
    out = run("export", str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.onnx"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "does not exist" in out.stderr
    with pytest.raises(FacelibError, match="not exported by facelib"):
        export.quantize_int8(layout.ROOT.parent / "shared" / "models" / "mobilefacenet" / "mobilefacenet.onnx",
                             tmp_path / "x.onnx")
