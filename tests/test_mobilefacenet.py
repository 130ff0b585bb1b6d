"""The reference MobileFaceNet as a PyTorch module, its weights read from the shared ONNX file."""
import numpy as np
import pytest
import torch

from facelib import paths
from facelib.backbones import MobileFaceNet
from facelib.errors import FacelibError
from facelib.evaluate import OnnxFaceModel


def test_pytorch_port_equals_onnx_runtime_on_real_faces(lfw_people):
    onnx = OnnxFaceModel(paths.reference_model(), align="landmarks", threads=2)
    faces = [f for p in list(lfw_people.values())[:30] for f in p if f.landmarks][:16]
    aligned = np.stack([onnx.aligned(f) for f in faces])
    x = ((aligned.astype(np.float32) - 127.5) / 128).transpose(0, 3, 1, 2).copy()
    model = MobileFaceNet.from_onnx(paths.reference_model())
    assert model.trunk_parameters() == 989_952  # the README's 0.99M
    with torch.no_grad():
        ours = model.embed(torch.from_numpy(x)).numpy()
    theirs = onnx.session.run(None, {onnx.input_name: x})[0]
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(theirs).max() > 0.5  # real embeddings, not zeros


def test_a_file_that_is_not_mobilefacenet_is_one_sentence(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(FacelibError, match="not a readable ONNX model"):
        MobileFaceNet.from_onnx(bad)
