"""The three networks: sizes, embeddings, torchvision parameter names, save/load."""
import subprocess
import sys

import pytest
import torch

from facelib.errors import FacelibError
from facelib.networks import models
from facelib.study import runs

# Feature-extractor parameter counts of torchvision's models (classifier excluded).
TRUNK_PARAMS = {"squeezenet": 722_496, "mobilenetv2": 2_223_872, "resnet50": 23_508_032}
EMBED = {"squeezenet": 512, "mobilenetv2": 1280, "resnet50": 2048}
# A few torchvision parameter names of each model, with their shapes.
TORCHVISION_KEYS = {
    "squeezenet": {"features.0.weight": (64, 3, 3, 3), "features.3.squeeze.weight": (16, 64, 1, 1),
                   "features.12.expand3x3.weight": (256, 64, 3, 3)},
    "mobilenetv2": {"features.0.0.weight": (32, 3, 3, 3), "features.1.conv.0.0.weight": (32, 1, 3, 3),
                    "features.1.conv.1.weight": (16, 32, 1, 1), "features.2.conv.0.1.running_var": (96,),
                    "features.17.conv.2.weight": (320, 960, 1, 1), "features.18.0.weight": (1280, 320, 1, 1)},
    "resnet50": {"conv1.weight": (64, 3, 7, 7), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                 "layer4.2.conv3.weight": (2048, 512, 1, 1), "layer3.5.bn2.num_batches_tracked": ()},
}
# Number of state-dict entries of torchvision's ImageNet models (head included).
TORCHVISION_ENTRIES = {"squeezenet": 52, "mobilenetv2": 314, "resnet50": 320}


@pytest.mark.parametrize("arch", runs.ARCHS)
def test_sizes_and_embedding(arch):
    model = models.build(arch, num_classes=10).eval()
    assert model.trunk_parameters() == TRUNK_PARAMS[arch]
    x = torch.randn(2, 3, 113, 113)
    assert model.embed(x).shape == (2, EMBED[arch])
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize("arch", runs.ARCHS)
def test_torchvision_names(arch):
    sd = models.build(arch, num_classes=1000).state_dict()
    for key, shape in TORCHVISION_KEYS[arch].items():
        assert tuple(sd[key].shape) == shape, key
    assert len(sd) == TORCHVISION_ENTRIES[arch]


def test_imagenet_trunk_loading_skips_head():
    source = models.build("squeezenet", 1000)
    sd = {k: v.clone() for k, v in source.state_dict().items() if not k.startswith("classifier")}
    sd["classifier.1.weight"] = torch.zeros(1000, 512, 1, 1)  # torchvision's conv head
    target = models.build("squeezenet", 7)
    taken = models.load_imagenet_trunk(target, sd)
    assert "classifier.1.weight" not in taken and len(taken) == 50
    assert torch.equal(target.features[0].weight, source.features[0].weight)


def test_unknown_arch():
    with pytest.raises(FacelibError, match="unknown architecture"):
        models.build("vgg16", 10)


@pytest.mark.parametrize("arch", ["squeezenet", "mobilenetv2"])
def test_save_load_in_fresh_process(tmp_path, arch):
    model = models.build(arch, num_classes=5).eval()
    x = torch.randn(1, 3, 113, 113)
    torch.save(x, tmp_path / "x.pt")
    torch.save(model.embed(x).detach(), tmp_path / "expected.pt")
    models.save_model(model, tmp_path / "model.pt", note="test")
    code = (f"import torch; from facelib.networks.models import load_model; m = load_model(r'{tmp_path / 'model.pt'}'); "
            f"x = torch.load(r'{tmp_path / 'x.pt'}', weights_only=True); "
            f"e = torch.load(r'{tmp_path / 'expected.pt'}', weights_only=True); "
            "assert m.meta['note'] == 'test'; assert torch.allclose(m.embed(x), e, atol=1e-5); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_load_model_resizes_to_saved_shapes(tmp_path):
    """A state dict with fewer filters (as pruning leaves) loads without any pruning record."""
    model = models.build("squeezenet", num_classes=5)
    sd = model.state_dict()
    keep = torch.arange(10)  # first Fire's squeeze conv keeps 10 of 16 filters
    sd["features.3.squeeze.weight"] = sd["features.3.squeeze.weight"][keep]
    sd["features.3.squeeze.bias"] = sd["features.3.squeeze.bias"][keep]
    sd["features.3.expand1x1.weight"] = sd["features.3.expand1x1.weight"][:, keep]
    sd["features.3.expand3x3.weight"] = sd["features.3.expand3x3.weight"][:, keep]
    torch.save({"arch": "squeezenet", "num_classes": 5, "state_dict": sd}, tmp_path / "small.pt")
    small = models.load_model(tmp_path / "small.pt")
    assert small.features[3].squeeze.out_channels == 10
    assert small.embed(torch.randn(1, 3, 113, 113)).shape == (1, 512)


def test_load_model_rejects_other_files(tmp_path):
    (tmp_path / "a.pt").write_text("nonsense")
    with pytest.raises(FacelibError, match="not a readable"):
        models.load_model(tmp_path / "a.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "b.pt")
    with pytest.raises(FacelibError, match="not a facelib model"):
        models.load_model(tmp_path / "b.pt")


@pytest.mark.parametrize("arch", runs.ARCHS)
def test_half_precision_embedding_only_files(tmp_path, arch, celeba):
    """Shipped pruned copies: float16 without the classifier; on real faces the embeddings barely
    move. ``has_classifier`` tells the two kinds of file apart."""
    from facelib.data import preprocessing
    from facelib.data.datasets import load_images

    model = models.build(arch, num_classes=300).eval()
    x = preprocessing.to_input(load_images(celeba[:4]))
    models.save_model(model, tmp_path / "full.pt")
    models.save_model(model, tmp_path / "small.pt", half=True, embedding_only=True)
    small = models.load_model(tmp_path / "small.pt")
    assert small.head.out_features == 0 and small.trunk_parameters() == model.trunk_parameters()
    assert models.has_classifier(tmp_path / "full.pt") and not models.has_classifier(tmp_path / "small.pt")
    assert not models.has_classifier(tmp_path / "absent.pt")
    assert (tmp_path / "small.pt").stat().st_size < 0.55 * (tmp_path / "full.pt").stat().st_size
    with torch.no_grad():
        a, b = model.embed(x), small.embed(x)
    assert all(p.dtype == torch.float32 for p in small.parameters())
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.999
