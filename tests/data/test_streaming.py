"""Faces streamed from a VGGFace2-layout folder (``data.streaming``, ``--data``) against the in-memory
path, on real LFW and CelebA-299 faces written as such a folder by the test."""
from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from torch.utils.data import DataLoader

from facelib.data import preprocessing, streaming
from facelib.data.datasets import load_images
from facelib.errors import FacelibError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from facetree import write_tree  # noqa: E402


def some_faces(lfw_people, celeba, people: int = 4, each: int = 6) -> list:
    """``each`` faces of the first ``people`` LFW people with that many, and of as many CelebA people."""
    lfw = [faces[:each] for name, faces in sorted(lfw_people.items()) if len(faces) >= each][:people]
    by_person: dict[str, list] = {}
    for f in celeba:
        by_person.setdefault(f.identity, []).append(f)
    cel = [faces[:each] for _, faces in sorted(by_person.items()) if len(faces) >= each][:people]
    return [f for group in lfw + cel for f in group]


def test_a_face_streamed_is_the_face_in_memory(lfw_people, celeba):
    """The same faces give the same uint8 crops, hence the same 113x113 inputs, centre and augmented."""
    faces = some_faces(lfw_people, celeba, people=2, each=3)
    files = streaming.FaceFiles(faces, torch.arange(len(faces)))
    streamed = torch.stack([files[i][1] for i in range(len(faces))])
    in_memory = load_images(faces, cache=False)
    assert torch.equal(streamed, in_memory)
    drawn = preprocessing.Augmentation.draw(len(faces), torch.Generator().manual_seed(0), 0.2, 0.3)
    assert torch.equal(preprocessing.to_input(streamed, True, jitter=0.2, erase=0.3, drawn=drawn),
                       preprocessing.to_input(in_memory, True, jitter=0.2, erase=0.3, drawn=drawn))


def test_a_folder_tree_splits_by_person_with_its_boxes(tmp_path, lfw_people, celeba):
    faces = some_faces(lfw_people, celeba)
    boxes = write_tree(faces, tmp_path / "tree")
    (tmp_path / "tree" / "lone_person").mkdir()
    (tmp_path / "tree" / "lone_person" / "only.jpg").write_bytes(faces[0].path.read_bytes())
    split, left_out = streaming.folder_split(tmp_path / "tree", boxes, val_fraction=0.2, seed=0)
    assert left_out == 1 and len(split.classes) == 8 and "lone_person" not in split.classes
    assert len(split.train) + len(split.val) == len(faces)
    original = {(f.identity.replace(":", "_"), f.path.stem): f.box for f in faces}
    for f in split.train + split.val:
        assert np.allclose(f.box, original[(f.identity, f.path.stem)])


def test_unreadable_files_are_skipped_and_counted(tmp_path, lfw_people, celeba):
    faces = some_faces(lfw_people, celeba, people=1, each=4)
    write_tree(faces, tmp_path / "tree")
    broken = tmp_path / "tree" / faces[0].identity.replace(":", "_") / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    split, _ = streaming.folder_split(tmp_path / "tree", val_fraction=0.0)
    files = streaming.FaceFiles(split.train, split.labels(split.train))
    batches = list(DataLoader(files, batch_size=len(files), num_workers=1, collate_fn=streaming.collate))
    places, images, labels, unreadable = batches[0]
    assert unreadable == 1 and len(images) == len(files) - 1 == len(labels) == len(places)
    assert [split.train[i].path.name for i in places.tolist()] == [f.path.name for f in split.train
                                                                   if f.path != broken]


def test_an_empty_or_one_image_folder_is_one_sentence(tmp_path, lfw_people):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacelibError, match="holds no images in person folders"):
        streaming.folder_split(tmp_path / "empty")
    write_tree(lfw_people["George_W_Bush"][:1], tmp_path / "one")
    with pytest.raises(FacelibError, match="fewer than 2 images: nothing to train on"):
        streaming.folder_split(tmp_path / "one")
    with pytest.raises(FacelibError, match="does not exist"):
        streaming.folder_split(tmp_path / "nowhere")


def test_streaming_memory_stays_flat_over_three_passes(tmp_path, lfw_people, celeba):
    """Three passes of the streaming loader over a tree of 20,000 files (links to LFW and CelebA-299
    faces, some twice): resident memory after the third is within 10 % of that after the first."""
    every = [f for faces in lfw_people.values() for f in faces] + list(celeba)
    faces = (every * 2)[:20_000]
    write_tree(faces, tmp_path / "tree", link=True)
    split, left_out = streaming.folder_split(tmp_path / "tree", val_fraction=0.0)
    assert len(split.train) == 20_000 - left_out  # each person left out had one image
    files = streaming.FaceFiles(split.train, split.labels(split.train))
    me = psutil.Process()
    resident = []
    for _ in range(3):
        seen = 0
        for _, images, _, _ in DataLoader(files, batch_size=256, num_workers=2, collate_fn=streaming.collate):
            seen += len(images)
        gc.collect()
        resident.append(me.memory_info().rss)
        assert seen == len(files)
    assert resident[2] <= 1.1 * resident[0], [r / 2**20 for r in resident]
