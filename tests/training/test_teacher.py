"""The online teacher sees the student's own view: points carried through crop, flip and mix,
checked against the reference model run on the photos themselves (real LFW and CelebA faces)."""
import cv2
import numpy as np
import pytest
import torch

from facelib.data import paths, preprocessing
from facelib.data.datasets import load_images
from facelib.errors import FacelibError
from facelib.evaluation.verification import OnnxFaceModel
from facelib.io import load_torch
from facelib.training import teacher
from facelib.training.config import TrainConfig
from facelib.training.loop import train
from facelib.training.trainset import TrainData


@pytest.fixture(scope="module")
def faces(lfw_people, celeba):
    lfw = [f for p in list(lfw_people.values())[100:160] for f in p if f.landmarks][:24]
    return lfw + [f for f in celeba if f.landmarks][:8]


@pytest.fixture(scope="module")
def reference():
    return OnnxFaceModel(paths.reference_model(), align="landmarks", threads=2)


@pytest.fixture(scope="module")
def online():
    return teacher.Teacher(paths.reference_model(), threads=2)


def test_crop_matrix_is_the_cached_crop(faces):
    """Warping the photo by crop_matrix gives the cached 129x129 face (up to resampling)."""
    images = load_images(faces[::8])
    for face, cached in zip(faces[::8], images):
        photo = np.asarray(preprocessing.open_image(face.path))
        warped = cv2.warpAffine(photo, preprocessing.crop_matrix(face.box), (129, 129), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        err = np.abs(warped.astype(float) - cached.numpy().transpose(1, 2, 0)).mean()
        assert err < 6, (face.path, err)  # a shifted crop by one pixel already gives > 10


def test_teacher_on_the_view_agrees_with_the_teacher_on_the_photo(faces, reference, online):
    images, points = load_images(faces), teacher.points_in_crop(faces)
    photo = torch.from_numpy(reference.embed_faces(faces, mirror=False))
    mirror = torch.from_numpy(reference.embed_arrays(np.stack([reference.aligned(f)[:, ::-1] for f in faces]),
                                                     mirror=False))
    g = torch.Generator().manual_seed(3)
    batch = teacher.make_batch(images, points, online, g)
    offsets, flips = preprocessing.draw_views(len(faces), torch.Generator().manual_seed(3))
    assert 0 < flips.sum() < len(faces)
    wanted = torch.where(flips[:, None], mirror, photo)
    cos = (batch.reference * wanted).sum(1)
    assert cos.min() > 0.85 and cos.mean() > 0.95, cos
    others = (batch.reference @ wanted.T).fill_diagonal_(0)
    assert others.abs().mean() < 0.2  # and not because every face looks alike to it
    # the student's input is its 113x113 window of the same (flipped) face
    assert torch.allclose(batch.x, preprocessing.to_input(images, train=True, generator=torch.Generator().manual_seed(3)))


def test_mixup_keeps_teacher_and_student_on_one_image(faces, online):
    images, points = load_images(faces), teacher.points_in_crop(faces)
    a = teacher.make_batch(images, points, online, torch.Generator().manual_seed(5), mixup_alpha=1.0)
    b = teacher.make_batch(images, points, online, torch.Generator().manual_seed(5), mixup_alpha=1.0)
    assert torch.equal(a.x, b.x) and torch.equal(a.reference, b.reference)  # seeded
    assert ((a.weight > 0) & (a.weight < 1)).all() and (a.partner != torch.arange(len(faces))).any()
    plain = teacher.make_batch(images, points, online, torch.Generator().manual_seed(5))
    # the partner warped onto a face's points: a mixed face's target lies between its two faces' targets
    own, other = (a.reference * plain.reference).sum(1), (a.reference * plain.reference[a.partner]).sum(1)
    mostly_own = a.weight > 0.8
    assert (own[mostly_own] > other[mostly_own]).all()
    assert own.mean() > 0.5 and other.mean() > 0.3


def test_online_teacher_training_resumes_exactly(tmp_path):
    cfg = TrainConfig(arch="squeezenet", batch_size=32, lr=0.01, max_identities=6, use_lfw=False, val_fraction=0.1,
                      eval_pairs=None, checkpoint_every=2, seed=1, epochs=1, distill_weight=10.0, teacher="online",
                      mixup_alpha=1.0)
    td = TrainData.load(cfg)
    assert td.points is not None and td.reference is None
    history = train(cfg, tmp_path / "a", td, progress=False)
    assert history[0]["distill_loss"] > 0
    train(cfg, tmp_path / "b", td, stop_after=2, progress=False)
    train(cfg, tmp_path / "b", td, progress=False)
    a, b = (load_torch(tmp_path / r / "checkpoint.pt")["model"] for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_teacher_options_are_one_sentence():
    with pytest.raises(FacelibError, match="unknown teacher 'live'"):
        TrainConfig(teacher="live").check()
    with pytest.raises(FacelibError, match="mixup needs --teacher online"):
        TrainConfig(mixup_alpha=0.4).check()
