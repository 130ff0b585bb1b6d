"""Compact resumable checkpoints of pruning runs too long for one working session.

A session on this project's 2-core machines lasts about three hours and ``runs/`` is not
committed, so a run that needs longer would start again from step 0 on every fresh clone. For
such a run the study commits, under ``checkpoints/<arch>-<run>/``, only what resuming needs:

    config.json, commit.txt, head.json   the run's configuration, the commit it started at, its head's fit
    state.pt                             the commit point: the last completed step and the run's log
    models/step_NNN_pruned.pt            the network after that step, where the loop goes on from
    models/step_MMM_finetuned.pt         the fine-tuned copies the run may ship (``keep``)

``restore`` copies them into an empty run folder, and ``facelib.pruning.loop.prune`` resumes from
``state.pt`` as after any interruption: its steps draw their batches and random numbers from
(seed, step) alone, so the finished run equals one made without a break (``tests/
test_mobilefacenet.py`` checks it). Once the run is recorded, its checkpoint is deleted
(``discard``), so the repository carries it only while the run is unfinished.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from facelib import io

RUN_FILES = ("config.json", "commit.txt", "head.json", "state.pt")


def save(run: Path, dest: Path, keep: list[int] = ()) -> list[Path]:
    """Copy what resuming ``run`` needs into ``dest`` (replacing an older checkpoint there) and
    return the files written. ``keep``: steps whose fine-tuned models go too."""
    last = step(run)
    names = [n for n in RUN_FILES if (run / n).exists()] + [f"models/step_{last:03d}_pruned.pt"]
    names += [f"models/step_{s:03d}_finetuned.pt" for s in keep
              if s <= last and (run / "models" / f"step_{s:03d}_finetuned.pt").exists()]
    if dest.exists():
        shutil.rmtree(dest)
    for name in names:
        io.copy_atomic(run / name, dest / name)
    return [dest / n for n in names]


def step(folder: Path) -> int:
    """The last completed step of a run folder or checkpoint (-1 where it has none)."""
    return int(io.load_torch(folder / "state.pt")["step"]) if (folder / "state.pt").exists() else -1


def restore(src: Path, run: Path) -> bool:
    """Copy the checkpoint ``src`` into the run folder ``run`` unless the folder has already come
    as far on its own; return whether it did."""
    if step(src) < 0 or step(run) >= step(src):
        return False
    for path in sorted(p for p in src.rglob("*") if p.is_file() and p.name != "state.pt"):
        io.copy_atomic(path, run / path.relative_to(src))
    io.copy_atomic(src / "state.pt", run / "state.pt")  # the commit point, last
    return True


def discard(src: Path) -> None:
    """Delete a checkpoint once its run is recorded."""
    if src.exists():
        shutil.rmtree(src)
