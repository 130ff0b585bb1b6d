"""Base training on a borrowed GPU machine, which sees no ``../shared`` and takes 64 MiB with it.

The study's runs train as they do here (``facelib.training.loop.train``, their configurations from
``facelib.study``), only with ``device="cuda"`` and bf16; this file moves their data:

    python tools/gpu_training.py pack .gpu              # here: what the runs read, in about 60 MB
    python tools/gpu_training.py train .gpu OUT RUN...  # there: unpack, train the runs side by side, collect

What travels and how (``pack``):
- the training and validation faces of the study split, as the decoded 129x129 crops
  ``load_images`` caches, each re-encoded as WebP (quality 80: about 2.3 KB a face instead of
  50 KB; the only lossy step, and on the training faces alone);
- the development and larger-set faces as their original LFW JPEG files, so that the EERs computed
  there are those of the study's own evaluation;
- the reference embeddings of the training faces (float16) and the reference ONNX file they are
  keyed by; the LFW and CelebA-299 listings (file names, ``faces.csv``, ``meta.csv``, pairs files).

``train`` rebuilds ``$FACELIB_DATA`` at the same absolute path (empty files where an image is
never read), writes the caches under the keys facelib looks for, trains each RUN (``recipe:NAME``
or ``base:ARCH/WAY``) in its own process until all end or ``--minutes`` pass (a run left unfinished
resumes from its checkpoint when called again), records each finished recipe in ``recipes.csv``
(evaluated there, fp32), evaluates each base on the development and larger sets, and leaves in OUT
the results, histories and logs (``results.tgz``) and, in half precision split into 15 MB parts,
the model of each run named by ``--return``.

Seen on the first use (a one-GPU H200 lent for 15 minutes): eight runs side by side took 15-17 s an
epoch each for ResNet50 (the weight-30 base it replaced took 430-454 s an epoch on two CPU cores with
AMX, its history before commit 4e0a5f6); the device tool does not keep a link
made by one command for the next, so each command links ``runs/`` anew (``ln -s /dev/shm/runs runs``)
before it resumes anything.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PART_BYTES = 15_000_000  # the device tool returns files of at most 16 MiB


def _split_faces():
    from facelib.data.split import study_split
    from facelib.study import configs
    cfg = configs.base_config("resnet50", "distill")
    split = study_split(cfg.min_images, cfg.val_fraction, cfg.seed, cfg.max_identities, cfg.use_lfw,
                             cfg.use_celeba, cfg.held_out)
    return split


def pack(dest: Path) -> None:
    from facelib.data import paths
    from facelib.data.datasets import images_cache_file, load_images
    from facelib.evaluation import verification
    from facelib.study import configs
    from facelib.training import distill
    dest.mkdir(parents=True, exist_ok=True)
    split = _split_faces()
    blobs, offsets, keys = [], [0], []
    for faces in (split.train, split.val):
        images = load_images(faces).numpy()
        keys.append((images_cache_file(faces).name, len(faces)))
        for im in images:
            buf = io.BytesIO()
            Image.fromarray(im.transpose(1, 2, 0)).save(buf, "WEBP", quality=80)
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
            offsets.append(offsets[-1] + len(blobs[-1]))
    np.savez(dest / "faces.npz", blob=np.concatenate(blobs), offsets=np.array(offsets), keys=json.dumps(keys))
    ref, usable = distill.reference_embeddings(split.train)
    np.savez(dest / "reference.npz", embeddings=ref.numpy().astype(np.float16), usable=usable.numpy(),
             name=distill.reference_cache_file(split.train, paths.reference_model()).name)
    data_root, lfw = paths.data_root(), paths.lfw_root()
    mirror = dest / "data"
    for f in ["faces.csv", "pairs.txt", "pairsDevTest.txt", "pairsDevTrain.txt"]:
        _copy(lfw / f, mirror / "lfw" / f)
    for f in ["meta.csv", "faces.csv"]:
        _copy(paths.celeba299_root() / f, mirror / "celeba299" / f)
    listing = sorted(str(p.relative_to(data_root)) for p in (lfw / "lfw-deepfunneled").glob("*/*.jpg"))
    (dest / "lfw-listing.txt").write_text("\n".join(listing))
    for face in verification.unique_faces(configs.dev_pairs() + configs.larger_pairs()):
        _copy(face.path, mirror / face.path.relative_to(data_root))
    _copy(paths.reference_model(), dest / "models" / "mobilefacenet" / "mobilefacenet.onnx")
    from facelib.study import layout
    (dest / "manifest.json").write_text(json.dumps({"data_root": str(data_root), "models_root": str(paths.models_root()),
                                                    "commit": layout.commit()}))
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"packed {len(offsets) - 1} faces and {len(listing)} LFW names into {dest}: {size / 1e6:.1f} MB")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def unpack(src: Path) -> None:
    """Rebuild the data root and caches the pack describes (at the paths of the machine that packed)."""
    manifest = json.loads((src / "manifest.json").read_text())
    data_root, models_root = Path(manifest["data_root"]), Path(manifest["models_root"])
    os.environ.update(FACELIB_DATA=str(data_root), FACELIB_MODELS=str(models_root), FACELIB_COMMIT=manifest["commit"])
    cache = Path(os.environ.setdefault("FACELIB_CACHE", "/dev/shm/facelib-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    for name in (src / "lfw-listing.txt").read_text().split("\n"):
        (data_root / name).parent.mkdir(parents=True, exist_ok=True)
        (data_root / name).touch()  # listed, never read: the crops come from the cache
    shutil.copytree(src / "data", data_root, dirs_exist_ok=True)  # the evaluation faces, real
    shutil.copytree(src / "models", models_root, dirs_exist_ok=True)
    pack_ = np.load(src / "faces.npz")
    blob, offsets, start = pack_["blob"], pack_["offsets"], 0
    for name, n in json.loads(str(pack_["keys"])):
        arr = np.stack([np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                        .transpose(2, 0, 1) for i in range(start, start + n)])
        np.save(cache / name, arr)
        start += n
    ref = np.load(src / "reference.npz")
    np.savez(cache / str(ref["name"]), embeddings=ref["embeddings"].astype(np.float32), usable=ref["usable"])


def _config(run: str):
    from dataclasses import replace

    from facelib.study import configs, layout
    kind, name = run.split(":")
    cfg, out = ((configs.recipe_config(name), layout.recipe_run_dir(name)) if kind == "recipe"
                else (configs.base_config(*name.split("/")), layout.base_run_dir(*name.split("/"))))
    device = os.environ.get("FACELIB_TRAIN_DEVICE", "cuda")  # cpu: to try this file without a GPU
    return replace(cfg, device=device, precision="bf16" if device == "cuda" else cfg.precision, threads=2), out


def train_one(run: str) -> None:
    import torch

    from facelib.training import loop
    torch.backends.cudnn.benchmark = True
    cfg, out = _config(run)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "commit.txt").exists():  # the commit packed from: the copy there is not a clone
        (out / "commit.txt").write_text(os.environ["FACELIB_COMMIT"])
    loop.train(cfg, out, progress=False)


def train_all(src: Path, out: Path, runs: list[str], minutes: float, returned: list[str]) -> None:
    unpack(src)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    start = time.time()
    procs = {run: subprocess.Popen([sys.executable, __file__, "one", run], cwd=ROOT,
                                   stdout=open(logs / f"{run.replace(':', '-').replace('/', '-')}.log", "w"),
                                   stderr=subprocess.STDOUT) for run in runs}
    while any(p.poll() is None for p in procs.values()) and time.time() - start < minutes * 60:
        time.sleep(5)
    for run, p in procs.items():
        if p.poll() is None:
            p.kill()
            print(f"{run}: stopped at the time limit (resumes from its checkpoint)")
    record(runs, out, returned)
    print(f"wall {time.time() - start:.0f} s")


def record(runs: list[str], out: Path, returned: list[str]) -> None:
    from facelib.evaluation import verification
    from facelib.networks import models
    from facelib.study import configs, layout, record
    dev, larger = configs.dev_pairs(), configs.larger_pairs()
    device, summary = os.environ.get("FACELIB_TRAIN_DEVICE", "cuda"), {}  # evaluated where it trained
    for run in runs:
        cfg, run_dir = _config(run)
        if not (run_dir / "model.pt").exists():
            continue
        if run.startswith("recipe:"):
            summary[run] = record.record_recipe(run.split(":")[1], dev, larger, device)
        else:
            v, big = verification.evaluate_sets(models.load_model(run_dir / "model.pt").to(device), {"dev": dev, "larger": larger}).values()
            summary[run] = {**v.summary(), "larger": big.summary()}
        print(run, json.dumps({k: summary[run][k] for k in ("dev_eer", "devpeople_eer") if k in summary[run]}))
    recipes = [r for r in summary if r.startswith("recipe:")]
    best = min(recipes, key=lambda r: summary[r]["dev_eer"]) if recipes else None
    fetch(out, [best if r == "best" else r for r in returned if r != "best" or best])
    (out / "logs" / "summary.json").write_text(json.dumps(summary, default=str, indent=1))
    with tarfile.open(out / "results.tgz", "w:gz") as tar:
        tar.add(out / "logs", "logs")
        for path in [layout.results_dir() / "recipes.csv", *layout.results_dir().glob("recipes/*")]:
            if path.exists():
                tar.add(path, str(path.relative_to(layout.ROOT)))
        for run in runs:
            _, run_dir = _config(run)
            for f in ("history.csv", "config.json"):
                if (run_dir / f).exists():
                    tar.add(run_dir / f, str((run_dir / f).relative_to(layout.ROOT)))
    shutil.rmtree(out / "logs")


def _file_name(run: str) -> str:
    return run.replace(":", "-").replace("/", "-") + ".pt"


def fetch(out: Path, runs: list[str]) -> None:
    """Each run's ``model.pt`` with its floating tensors in half precision, and its history,
    configuration and commit, in parts of at most ``PART_BYTES``: ``<run>.pt.0``, ``.1``, ... in ``out``."""
    import torch

    from facelib.io import load_torch
    for run in runs:
        _, run_dir = _config(run)
        saved = load_torch(run_dir / "model.pt")
        saved["state_dict"] = {k: (v.half() if v.is_floating_point() else v) for k, v in saved["state_dict"].items()}
        buf = io.BytesIO()
        torch.save({"run": run, "model": saved, **{f: (run_dir / f).read_text()
                                                 for f in ("history.csv", "commit.txt", "config.json")}}, buf)
        raw = buf.getvalue()
        for i in range(0, len(raw), PART_BYTES):
            (out / f"{_file_name(run)}.{i // PART_BYTES}").write_bytes(raw[i:i + PART_BYTES])


def receive(parts: Path, run: str) -> Path:
    """Here: a fetched run's files back in its run folder (``model.pt``'s weights rounded to half
    precision on the way, as the shipped copies are); return the folder."""
    import torch

    from facelib.io import save_torch
    raw = b"".join(p.read_bytes() for p in sorted(parts.glob(f"{_file_name(run)}.*"), key=lambda p: int(p.suffix[1:])))
    saved = torch.load(io.BytesIO(raw), weights_only=True)
    _, run_dir = _config(run)
    run_dir.mkdir(parents=True, exist_ok=True)
    for f in ("history.csv", "commit.txt", "config.json"):
        (run_dir / f).write_text(saved[f])
    save_torch(saved["model"], run_dir / "model.pt")
    return run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("verb", choices=["pack", "train", "one", "fetch", "receive"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--return", dest="returned", nargs="*", default=[],
                    help="runs whose models come back; best: the recipe of lowest development EER")
    a = ap.parse_args()
    if a.verb == "pack":
        pack(Path(a.args[0]))
    elif a.verb == "fetch":
        fetch(Path(a.args[0]), a.args[1:])
    elif a.verb == "receive":
        print(receive(Path(a.args[0]), a.args[1]))
    elif a.verb == "one":
        train_one(a.args[0])
    else:
        train_all(Path(a.args[0]), Path(a.args[1]), a.args[2:], a.minutes, a.returned)


if __name__ == "__main__":
    main()
