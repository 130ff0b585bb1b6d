"""Reading uploads, finding faces and comparing them, on real LFW photos and their damaged variants."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facelib.errors import FacelibError
from facelib.evaluation import photos


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(lfw_people) -> Image.Image:
    return Image.open(lfw_people["George_W_Bush"][0].path).convert("RGB")


def test_real_photo_has_one_face_and_gives_the_network_crop(photo):
    img, notes = photos.read_photo(encode(photo))
    assert notes == [] and img.size == (250, 250)
    boxes = photos.detect_faces(img)
    assert len(boxes) >= 1
    x1, y1, x2, y2 = boxes[0]
    assert 60 < (x1 + x2) / 2 < 190 and 60 < (y1 + y2) / 2 < 190  # the central face of a deep-funneled image
    assert photos.network_crop(img, boxes[0]).shape == (3, 129, 129)


@pytest.mark.parametrize("raw,message", [
    (b"this is a text file, not a photo", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_not_an_image(raw, message):
    with pytest.raises(FacelibError, match=message):
        photos.read_photo(raw)


def test_truncated_jpeg(photo):
    raw = encode(photo)
    with pytest.raises(FacelibError, match="truncated"):
        photos.read_photo(raw[: len(raw) // 2])


def test_decompression_bomb_and_too_large():
    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")  # 400 Mpx in a few hundred kB
    assert len(bomb) < 2_000_000
    with pytest.raises(FacelibError, match="decompression bomb"):
        photos.read_photo(bomb)
    large = encode(Image.new("1", (9_000, 8_000)), "PNG")  # 72 Mpx: below Pillow's limit, above ours
    with pytest.raises(FacelibError, match="too large"):
        photos.read_photo(large)


def test_huge_photo_is_shrunk_and_its_face_found(photo):
    img, notes = photos.read_photo(encode(photo.resize((4000, 4000))))
    assert max(img.size) == photos.MAX_SIDE and any("shrunk" in n for n in notes)
    assert len(photos.detect_faces(img)) >= 1


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("I;16", "PNG"), ("P", "PNG")])
def test_other_modes_become_rgb_with_the_face_kept(photo, mode, fmt):
    if mode == "I;16":
        grey = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
        src = Image.fromarray(grey)
        assert src.mode == "I;16"
    else:
        src = photo.convert(mode)
    img, notes = photos.read_photo(encode(src, fmt))
    assert img.mode == "RGB" and img.size == photo.size and notes
    assert len(photos.detect_faces(img)) >= 1


def test_no_face_and_several_faces(photo, lfw_people):
    wall = Image.fromarray(np.full((300, 300, 3), 128, np.uint8))
    assert photos.detect_faces(wall) == []
    other = Image.open(lfw_people["Colin_Powell"][0].path).convert("RGB")
    both = Image.new("RGB", (500, 250))
    both.paste(photo, (0, 0))
    both.paste(other, (250, 0))
    boxes = photos.detect_faces(both)
    assert len(boxes) >= 2
    centres = sorted((b[0] + b[2]) / 2 for b in boxes[:2])
    assert centres[0] < 250 < centres[1]


def test_shipped_models_score_the_same_person_higher(monkeypatch, lfw_people):
    """Two photos of one LFW person are clearly more similar than photos of two people, for the
    unpruned and the pruned shipped models (development pairs: people never trained on)."""
    from facelib import io
    from facelib.data import alignment
    from facelib.data.datasets import load_images
    from facelib.data.pairs import lfw_pairs
    from facelib.networks import models
    from facelib.study import layout

    monkeypatch.setenv("FACELIB_PROFILE", "full")
    rows = io.read_csv(layout.results_dir() / "models.csv", numeric=True)
    assert any(r["kind"] == "finetuned" for r in rows) and any(r["kind"].startswith("base") for r in rows)
    pairs = lfw_pairs("dev", lfw_people)
    same = [p for p in pairs if p.same][:25]
    different = [p for p in pairs if not p.same][:25]
    crops = {p: load_images([p.a, p.b]).numpy() for p in same + different}
    aligned = {p: alignment.load_aligned([p.a, p.b]).numpy() for p in same + different}  # MobileFaceNet's input
    loaded = {r["file"]: (models.load_model(layout.models_dir() / r["file"]), r["threshold"]) for r in rows}
    sims = {name: {True: [], False: []} for name in loaded}
    for p in same + different:
        a, b = ({"crop113": crops[p][i], "aligned112": aligned[p][i]} for i in (0, 1))
        for c in photos.compare(loaded, a, b):
            sims[c.model][p.same].append(c.similarity)
    for name, s in sims.items():
        assert len(s[True]) == len(same) and len(s[False]) == len(different), name  # every model answered
        spread = np.std(s[True] + s[False])  # cosines of ReLU features crowd near 1: judge in their spread
        assert np.mean(s[True]) - np.mean(s[False]) > 0.8 * spread, name
        assert np.median(s[True]) > np.quantile(s[False], 0.75), name


def test_uploaded_photos_reach_the_networks_that_take_aligned_faces(lfw_people):
    """Photos as a user uploads them: the pretrained MobileFaceNet (5-point aligned input, points from
    ``facelib.data.landmarks``) calls two photos of one person the same and two people different at its
    EER threshold on the development pairs (results/reference.csv); a face without points leaves it
    out while a box-only network still answers."""
    from facelib import io
    from facelib.data import paths
    from facelib.networks import models
    from facelib.networks.mobilefacenet import MobileFaceNet
    from facelib.study import layout

    threshold = next(r["threshold"] for r in io.read_csv(layout.ROOT / "results" / "reference.csv", numeric=True)
                     if r["align"] == "landmarks")
    pretrained = {"mobilefacenet": (MobileFaceNet.from_onnx(paths.reference_model()), threshold)}
    inputs = {}
    for name, i in (("Colin_Powell", 0), ("Colin_Powell", 1), ("Tony_Blair", 0)):
        photo = Image.open(lfw_people[name][i].path).convert("RGB")
        box = max(photos.detect_faces(photo), key=lambda b: b[2] - b[0])
        inputs[name, i] = photos.network_inputs(photo, box)
        assert inputs[name, i]["aligned112"].shape == (3, 112, 112)
    same = photos.compare(pretrained, inputs["Colin_Powell", 0], inputs["Colin_Powell", 1])[0]
    different = photos.compare(pretrained, inputs["Colin_Powell", 0], inputs["Tony_Blair", 0])[0]
    assert same.same and not different.same, (same.similarity, different.similarity, threshold)
    wall = photos.network_inputs(Image.new("RGB", (250, 250), (128, 128, 128)), (60.0, 60.0, 190.0, 190.0))
    assert wall["aligned112"] is None and wall["crop113"].shape == (3, 129, 129)
    both = {**pretrained, "squeezenet": (models.build("squeezenet", 1), 0.5)}
    assert [c.model for c in photos.compare(both, inputs["Colin_Powell", 0], wall)] == ["squeezenet"]
