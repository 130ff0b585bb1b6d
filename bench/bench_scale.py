"""Training beyond one machine, on this CPU (not a test). Run: .venv/bin/python bench/bench_scale.py [loader|ddp]

1. ``loader``: faces per second the training loop receives per network (its input kind: the papers'
   129x129 crops, or 5-point aligned faces for MobileFaceNet), streamed from a VGGFace2-layout folder
   (links to 4,000 LFW and CelebA-299 faces; ``data.streaming``, 2 DataLoader workers, each file decoded
   and cropped) against the in-memory path (the decoded crops indexed from one tensor). Ratio streamed /
   in-memory, both measured in this run; the network's own step is not included.
2. ``ddp``: seconds per optimisation step of SqueezeNet on global batches of 64 streamed faces, on 1
   process and on 2 under ``torchrun`` (gloo), one thread per process; ratio 2 / 1; and 1 process with
   both cores' threads. On 2 cores the two processes share the machine one process's threads would use:
   the figures say what gloo's averaging costs here, not what N GPUs gain.
Every figure comes from one run on this machine.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from facelib.data import streaming
from facelib.data.alignment import load_faces
from facelib.data.datasets import celeba299_faces, lfw_faces
from facelib.io import read_csv
from facelib.networks.models import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from facetree import write_tree  # noqa: E402


def some_faces(count: int) -> list:
    """``count`` faces of people with at least 2 images, LFW then CelebA-299."""
    people = [faces for faces in lfw_faces().values() if len(faces) >= 2]
    faces = [f for group in people for f in group] + list(celeba299_faces())
    return faces[:count]


def loader_rates(root: Path, faces: list, batch: int = 128) -> dict[str, tuple[float, float]]:
    """Per input kind: (streamed faces/s, in-memory faces/s)."""
    split, _ = streaming.folder_split(root, val_fraction=0.0)
    labels = split.labels(split.train)
    out = {}
    for kind in dict.fromkeys(a.input_kind for a in ARCHITECTURES.values()):
        files = streaming.FaceFiles(split.train, labels, kind)
        start = time.perf_counter()
        seen = sum(len(b[1]) for b in DataLoader(files, batch_size=batch, num_workers=2, collate_fn=streaming.collate))
        streamed = seen / (time.perf_counter() - start)
        images = load_faces(split.train, kind)  # decoded once (and cached), as the in-memory path holds them
        order = torch.randperm(len(images))
        start = time.perf_counter()
        for i in range(0, len(order), batch):
            images[order[i:i + batch]].clone()
        out[kind] = (streamed, len(images) / (time.perf_counter() - start))
    return out


def step_seconds(root: Path, processes: int, out: Path, threads: int = 1) -> float:
    """Seconds per step of one epoch of SqueezeNet on the folder (its history's epoch time over its steps)."""
    args = ["-m", "facelib", "train", "--arch", "squeezenet", "--data", str(root), "--epochs", "1",
            "--batch-size", "64", "--eval-pairs", "none", "--val-fraction", "0", "--threads", str(threads),
            "--workers", "1", "--out", str(out), "--quiet"]
    launcher = [str(Path(sys.executable).with_name("torchrun")), f"--nproc_per_node={processes}"] if processes > 1 \
        else [sys.executable]
    subprocess.run([*launcher, *args], cwd=ROOT, check=True, capture_output=True)
    seconds = read_csv(out / "history.csv", numeric=True)[0]["seconds"]
    return seconds / -(-len(streaming.folder_split(root, val_fraction=0.0)[0].train) // 64)


if __name__ == "__main__":
    part = sys.argv[1:] or ["loader", "ddp"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "tree"
        faces = some_faces(4000)
        write_tree(faces, root, link=True)
        if "loader" in part:
            rates = loader_rates(root, faces)
            for arch, network in ARCHITECTURES.items():
                streamed, memory = rates[network.input_kind]
                print(f"loader, {arch} ({network.input_kind}): streamed {streamed:,.0f} faces/s, in memory "
                      f"{memory:,.0f} faces/s, ratio {streamed / memory:.3f}")
        if "ddp" in part:
            one = step_seconds(root, 1, Path(folder) / "one")
            both = step_seconds(root, 1, Path(folder) / "both", threads=2)
            two = step_seconds(root, 2, Path(folder) / "two")
            print(f"ddp, squeezenet, batch 64: {one:.2f} s a step on 1 process (1 thread), {two:.2f} s on 2 "
                  f"(gloo, 1 thread each), ratio {two / one:.2f}; 1 process with 2 threads {both:.2f} s, "
                  f"2 processes over it {two / both:.2f}")
