"""LFW parsers against the real files, the papers' crop geometry, splits and bad images."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from facelib.data import preprocessing
from facelib.data.datasets import identity_folders, load_images
from facelib.data.pairs import SAME_PAIRS_PER_PERSON, dev_people_pairs, lfw_pairs, read_pairs
from facelib.data.split import study_split
from facelib.errors import FacelibError


def test_view2_pairs(lfw_people):
    pairs = lfw_pairs("view2", lfw_people)
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert sorted({p.fold for p in pairs}) == list(range(10))
    for fold in range(10):  # each fold: 300 same, then 300 different
        same = [p.same for p in pairs if p.fold == fold]
        assert same == [True] * 300 + [False] * 300
    assert all(p.a.path.is_file() and p.b.path.is_file() for p in pairs)
    first = pairs[0]  # "Abel_Pacheco 1 4"
    assert first.a.path.name == "Abel_Pacheco_0001.jpg" and first.b.path.name == "Abel_Pacheco_0004.jpg"


def test_view1_pairs_disjoint(lfw_people):
    dev, devtrain = lfw_pairs("dev", lfw_people), lfw_pairs("devtrain", lfw_people)
    assert (len(dev), sum(p.same for p in dev)) == (1000, 500)
    assert (len(devtrain), sum(p.same for p in devtrain)) == (2200, 1100)
    people = lambda ps: {f.identity for p in ps for f in (p.a, p.b)}  # noqa: E731
    assert len(people(dev)) == 963 and len(people(devtrain)) == 2132
    assert not people(dev) & people(devtrain)


def test_lfw_counts_and_landmarks(lfw_people):
    assert len(lfw_people) == 5749
    assert sum(len(v) for v in lfw_people.values()) == 13233
    face = lfw_people["AJ_Cook"][0]
    assert face.box == (86.2, 62.8, 177.8, 196.0)
    assert face.landmarks[0] == (105.09, 114.88)


def test_bad_pairs_file(tmp_path, lfw_people):
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\nNobody_Here 1 2\nAJ_Cook 1 AJ_Lamas 1\n")
    with pytest.raises(FacelibError, match="Nobody_Here"):
        read_pairs(bad, lfw_people)
    with pytest.raises(FacelibError, match="does not exist"):
        read_pairs(tmp_path / "missing.txt", lfw_people)


def test_enlarge_box_geometry():
    assert preprocessing.enlarge_box((10, 20, 110, 220)) == pytest.approx((-5, -10, 125, 250))


def test_face_crop_geometry_on_real_image(lfw_people):
    face = lfw_people["AJ_Cook"][0]
    img = preprocessing.open_image(face.path)
    crop = preprocessing.face_crop(img, face.box)
    x1, y1, x2, y2 = preprocessing.enlarge_box(face.box)
    w, h = round(x2) - round(x1), round(y2) - round(y1)
    assert min(crop.size) == 129
    assert crop.size == (129, round(h * 129 / w))  # the tall box keeps its aspect ratio
    # The resized crop equals resizing the same region cut out by hand.
    by_hand = img.crop((round(x1), round(y1), round(x2), round(y2))).resize(crop.size, Image.BILINEAR)
    assert np.abs(np.asarray(crop, int) - np.asarray(by_hand, int)).mean() < 1.0
    cached = preprocessing.preprocess(img, face.box)
    assert cached.shape == (3, 129, 129) and cached.dtype == np.uint8


def test_crop_outside_image_repeats_edges():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    out = preprocessing.crop_padded(img, (-2, -2, 2, 2))
    assert out.shape == (4, 4, 1)
    assert out[0, 0, 0] == img[0, 0, 0] and out[3, 3, 0] == img[1, 1, 0]


def test_to_input_train_and_test(lfw_people):
    faces = lfw_people["AJ_Cook"] + lfw_people["Aaron_Peirsol"]
    images = load_images(faces, cache=False)
    test = preprocessing.to_input(images)
    assert test.shape == (len(faces), 3, 113, 113)
    centre = images[:, :, 8:121, 8:121].float()
    assert torch.allclose(test * preprocessing.STD + preprocessing.MEAN, centre, atol=1e-3)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = preprocessing.to_input(images, train=True, generator=g1), preprocessing.to_input(images, train=True, generator=g2)
    assert torch.equal(a, b) and a.shape == test.shape


def test_jitter_and_erase_on_real_faces(lfw_people):
    """Off: exactly the plain crop and flip, same draws. On: each face's contrast and brightness within
    the bound, and erased rectangles at the ImageNet mean (0 after normalising) of 2-20 % of the area."""
    images = load_images(lfw_people["AJ_Cook"] + lfw_people["Aaron_Peirsol"], cache=False)
    plain = preprocessing.to_input(images, True, torch.Generator().manual_seed(5))
    assert torch.equal(plain, preprocessing.to_input(images, True, torch.Generator().manual_seed(5), 0.0, 0.0))
    views = (plain * preprocessing.STD + preprocessing.MEAN).clamp(0, 255)
    erased = preprocessing.jitter_and_erase(views, 0.0, 1.0, torch.Generator().manual_seed(5))
    share = (erased != views).any(1).float().mean(dim=(1, 2))
    assert ((share > 0.01) & (share <= 0.21)).all(), share
    assert torch.allclose(preprocessing.normalise(erased)[(erased != views).any(1, keepdim=True).expand_as(erased)],
                          torch.tensor(0.0), atol=1e-4)
    jittered = preprocessing.jitter_and_erase(views, 0.3, 0.0, torch.Generator().manual_seed(5))
    ratio = (jittered - jittered.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3)) / (
        views - views.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3))
    assert ((ratio > 0.6) & (ratio < 1.35)).all() and (ratio - 1).abs().max() > 0.02, ratio


def test_load_images_cache_roundtrip(tmp_path, monkeypatch, lfw_people):
    monkeypatch.setenv("FACELIB_CACHE", str(tmp_path))
    faces = lfw_people["Aaron_Peirsol"]
    first = load_images(faces)
    assert len(list(tmp_path.glob("faces-*.npy"))) == 1
    assert torch.equal(first, load_images(faces))


def test_study_split_never_touches_dev_pairs(lfw_people):
    split = study_split(seed=0)
    dev = {f.identity for p in lfw_pairs("dev", lfw_people) for f in (p.a, p.b)}
    train_ids = {f.identity for f in split.train}
    assert not train_ids & dev
    assert {f.identity for f in split.val} <= train_ids  # validation holds out images, not people
    assert not {f.path for f in split.train} & {f.path for f in split.val}
    n = len(split.train) + len(split.val)
    assert 0.01 < len(split.val) / n < 0.03  # about 2 %
    assert sum(i.startswith("celeba:") for i in split.classes) == 299
    assert study_split(seed=0).val == split.val  # seeded


def test_split_for_view2_leaves_out_every_view2_person(lfw_people):
    """The split MobileFaceNet is pruned on: no person of View 2's 6,000 pairs, so View 2 stays a test set."""
    split = study_split(seed=0, held_out="view2")
    view2 = {f.identity for p in lfw_pairs("view2", lfw_people) for f in (p.a, p.b)}
    train_ids = {f.identity for f in split.train}
    assert not train_ids & view2
    assert sum(i.startswith("lfw:") for i in split.classes) > 40  # LFW people outside View 2 remain (52 with 2+ images)
    assert sum(i.startswith("celeba:") for i in split.classes) == 299
    with pytest.raises(FacelibError, match="unknown held-out pairs"):
        study_split(held_out="view1")


def test_celeba_faces(celeba):
    assert len(celeba) == 6261 and len({f.identity for f in celeba}) == 299
    assert sum(f.box is None for f in celeba) == 5
    img = preprocessing.open_image(celeba[0].path)
    assert img.size == (144, 144)


def test_identity_folders_with_vggface2_boxes(tmp_path, celeba):
    """A VGGFace2-layout folder (symlinks to real CelebA crops) with a loose_bb-style CSV."""
    root = tmp_path / "vgg"
    for f in celeba[:6]:
        dest = root / f"n{f.identity.split(':')[1]}" / f.path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(f.path)
    first = sorted(root.rglob("*.jpg"))[0]
    csv = tmp_path / "loose_bb.csv"
    csv.write_text(f"NAME_ID,X,Y,W,H\n{first.parent.name}/{first.stem},10,20,100,110\n")
    faces = identity_folders(root, csv)
    assert len(faces) == 6
    boxed = [f for f in faces if f.box is not None]
    assert len(boxed) == 1 and boxed[0].box == (10, 20, 110, 130)
    assert load_images(faces, cache=False).shape == (6, 3, 129, 129)
    with pytest.raises(FacelibError, match="does not exist"):
        identity_folders(tmp_path / "nowhere")


def _encode(img: Image.Image, fmt: str) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, fmt)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "I;16", "P"])
def test_open_image_modes_become_rgb(lfw_people, mode):
    real = preprocessing.open_image(lfw_people["AJ_Cook"][0].path)
    converted = real.convert(mode) if mode != "I;16" else Image.fromarray(
        (np.asarray(real.convert("L"), np.uint16) * 257))
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG" if mode != "I;16" else "TIFF"
    img = preprocessing.open_image(_encode(converted, fmt))
    assert img.mode == "RGB" and img.size == real.size


def test_open_image_errors(tmp_path, lfw_people):
    raw = lfw_people["AJ_Cook"][0].path.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(raw[: len(raw) // 3])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for path in (truncated, text, tmp_path / "missing.jpg"):
        with pytest.raises(FacelibError):
            preprocessing.open_image(path)


def test_decompression_bomb_is_refused(monkeypatch, lfw_people):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 250x250 photo is then a "bomb"
    with pytest.raises(FacelibError, match="too large"):
        preprocessing.open_image(lfw_people["AJ_Cook"][0].path)


def test_dev_people_pairs_are_a_larger_set_of_the_same_untrained_people(lfw_people):
    pairs = lfw_pairs("devpeople", lfw_people)
    dev_people = {f.identity for p in lfw_pairs("dev", lfw_people) for f in (p.a, p.b)}
    same = [p for p in pairs if p.same]
    assert len(same) == len(pairs) - len(same) == 2552  # 418 people with 2+ images, at most 20 pairs each
    assert {f.identity for p in pairs for f in (p.a, p.b)} <= dev_people
    assert all(p.a.identity == p.b.identity and p.a.path != p.b.path for p in same)
    assert all(p.a.identity != p.b.identity for p in pairs if not p.same)
    per_person = {}
    for p in same:
        per_person[p.a.identity] = per_person.get(p.a.identity, 0) + 1
    assert max(per_person.values()) == SAME_PAIRS_PER_PERSON and len(per_person) == 418
    assert len({frozenset((p.a.path, p.b.path)) for p in pairs}) == len(pairs)  # no pair twice
    assert not {f.identity for f in study_split(seed=0).train} & dev_people
    assert dev_people_pairs(lfw_people) == pairs  # seeded
    assert dev_people_pairs(lfw_people, seed=1) != pairs
