"""Runs the study: trains and prunes what ``study.configs`` declares, resumes what was interrupted,
and has ``study.record`` write what finished.

The notebooks call the ``ensure_*`` functions: each returns a run's results at once when
``results/`` already holds them with today's configuration, and otherwise runs (or resumes)
it first. Calling :func:`train_base` or :func:`run_pruning` again continues an interrupted run
from its last checkpoint. Where files go: ``study.layout``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from facelib import io
from facelib.errors import FacelibError
from facelib.networks.models import has_classifier
from facelib.pruning.config import PruneConfig
from facelib.pruning.loop import prune
from facelib.study import checkpoint, layout, record
from facelib.study.bases import base_training_config
from facelib.study.configs import (
    base_config,
    dev_pairs,
    larger_pairs,
    pretrained_base,
    prune_config,
    recipe_config,
    shipped_base_file,
)
from facelib.study.recorded import PruningRun, earlier_base_note, load_run, started_from_earlier_base
from facelib.study.runs import ARCHS, NETWORKS, PRETRAINED, PRETRAINED_RUNS, PRUNING_RUNS, SHIPPED_RUNS
from facelib.training.config import TrainConfig
from facelib.training.loop import train
from facelib.training.trainset import TrainData


def train_base(arch: str, way: str, progress: bool = True) -> Path:
    """Train (or resume, or find finished) the base model ``arch``/``way``; return its ``model.pt``."""
    return _train_run(base_config(arch, way), layout.base_run_dir(arch, way), progress)


def _train_run(cfg: TrainConfig, out: Path, progress: bool) -> Path:
    """Train (or resume, or find finished) the training run ``cfg`` in ``out``; return its ``model.pt``."""
    if not (out / "model.pt").exists():
        layout.started_commit(out)
        train(cfg, out, progress=progress)
    return out / "model.pt"


def run_pruning(arch: str, criterion: str, progress: bool = True) -> Path:
    """Run (or resume, or find finished) the pruning run; return its folder."""
    cfg = prune_config(arch, criterion)
    if arch == PRETRAINED:
        pretrained_base()
    if not (layout.ROOT / cfg.base_model).exists():
        raise FacelibError(f"the base model {cfg.base_model} is not here (only its tables are committed); "
                           f"run notebooks/{layout.notebook_for(arch)}.ipynb with FACELIB_RERUN=1 first")
    out = layout.prune_run_dir(arch, criterion)
    saved = layout.checkpoint_dir(arch, criterion)
    if (saved / "config.json").exists() and PruneConfig.from_dict(json.loads((saved / "config.json").read_text())) == cfg:
        checkpoint.restore(saved, out)  # a run too long for one session, taken up where it was committed
    layout.started_commit(out)
    td = None
    if cfg.refit_head and arch != PRETRAINED:  # a shipped base: its training split from base_models.csv
        base_cfg = TrainConfig.from_dict({**base_training_config(arch), "distill_weight": 0.0})
        td = TrainData.load(base_cfg, progress=progress)
    cwd = os.getcwd()
    os.chdir(layout.ROOT)  # the base model path is stored relative to the repository
    try:
        prune(cfg, out, td, progress=progress)
    finally:
        os.chdir(cwd)
    return out


def ensure_reference() -> list[dict]:
    """The reference model's rows of ``reference.csv``, evaluating it first unless they are there with today's columns."""
    rows = io.read_csv(layout.results_dir() / "reference.csv", numeric=True, missing_ok=True)
    if rows and set(layout.REFERENCE_COLUMNS) <= set(rows[0]) and not layout.rerun():
        return rows
    return record.record_reference(dev_pairs(), larger_pairs())


def _recorded(cfg: TrainConfig, table: str, match: Callable[[dict], bool]) -> dict | None:
    """The row of ``table`` (in the results folder) that ``match`` picks, if it holds today's ``cfg``
    (``same_study_run``: perhaps in another precision) and FACELIB_RERUN is off; else None."""
    rows = [r for r in io.read_csv(layout.results_dir() / table, missing_ok=True, numeric=True) if match(r)]
    if rows and not layout.rerun() and TrainConfig.from_dict(json.loads(rows[0]["config"])).same_study_run(cfg):
        return rows[0]
    return None


def _ready_run(cfg: TrainConfig, out: Path, progress: bool) -> None:
    """Train ``cfg`` in ``out`` to its end. A finished result must match exactly (``_recorded``); a
    run folder only needs to be the same run (``TrainConfig.same_run_as``: other threads, another
    device, or more epochs under the plateau schedule)."""
    _clear_if_stale(out, lambda saved: TrainConfig.from_dict(saved).same_run_as(cfg))
    _train_run(cfg, out, progress)


def ensure_base(arch: str, way: str, progress: bool = True) -> dict:
    """The results row of base model ``arch``/``way``, training it first unless the results hold
    it with today's configuration."""
    cfg = base_config(arch, way)
    row = _recorded(cfg, "base_models.csv", lambda r: (r["arch"], r["way"]) == (arch, way))
    if row is not None:
        return row
    _ready_run(cfg, layout.base_run_dir(arch, way), progress)
    return record.record_base(arch, way, dev_pairs(), larger_pairs())


def ensure_recipe(name: str, progress: bool = True) -> dict:
    """The results row of recipe ``name``, training it first unless ``recipes.csv`` holds it with
    today's configuration."""
    cfg = recipe_config(name)
    row = _recorded(cfg, "recipes.csv", lambda r: r["recipe"] == name)
    if row is not None:
        return row
    _ready_run(cfg, layout.recipe_run_dir(name), progress)
    return record.record_recipe(name, dev_pairs(), larger_pairs())


def ensure_pruning(arch: str, criterion: str, progress: bool = True) -> Path:
    """The results folder of a pruning run, running it first unless the results hold it with today's
    configuration, started from the network's chosen base as ``base_models.csv`` has it now (results
    from an earlier base are run again where the new base's checkpoint is here, and otherwise
    returned with a printed note saying so). One run of a network (``runs.SHIPPED_RUNS``) ships its
    deployable fine-tuned models (``record.ship_run``)."""
    dest, cfg = layout.pruning_results_dir(arch, criterion), prune_config(arch, criterion)
    # saved configurations are read through from_dict, so a field added since (at its default) still matches;
    # a run folder continues only in its own precision, a recorded result answers either (same_study_run)
    same = lambda saved: PruneConfig.from_dict(saved) == cfg  # noqa: E731
    recorded = load_run(arch, criterion) if (dest / "run.json").exists() else None
    # results from a base since replaced in base_models.csv are stale, and so is a run folder beside them
    earlier = recorded is not None and started_from_earlier_base(recorded)
    current = recorded is not None and PruneConfig.from_dict(recorded.info["config"]).same_study_run(cfg)
    if current and earlier and not layout.rerun() and not (layout.ROOT / cfg.base_model).exists():
        # the new base is recorded but its checkpoint is not here to prune from: the results, flagged
        print(earlier_base_note([recorded]))
        return dest
    if not current or earlier or layout.rerun():
        _clear_if_stale(layout.prune_run_dir(arch, criterion), lambda saved: same(saved) and not earlier)
        run_pruning(arch, criterion, progress=progress)
        record.record_pruning(arch, criterion, ship=SHIPPED_RUNS.get(arch) == criterion)
        checkpoint.discard(layout.checkpoint_dir(arch, criterion))
    return dest


def save_checkpoint(arch: str, criterion: str) -> list[Path]:
    """Commit-ready checkpoint of an unfinished pruning run (``facelib.study.checkpoint``), for a run that
    cannot finish in one session; ``run_pruning`` takes it up on a fresh clone. A shipped run keeps the
    fine-tuned copies deployable so far (``PruningRun.deployable_steps``), the candidates for shipping."""
    run = layout.prune_run_dir(arch, criterion)
    keep = []
    if SHIPPED_RUNS.get(arch) == criterion and (run / "steps.csv").exists():
        keep = PruningRun(arch, criterion, io.read_csv(run / "steps.csv", numeric=True), [], {}).deployable_steps()
    return checkpoint.save(run, layout.checkpoint_dir(arch, criterion), keep)


def _clear_if_stale(out: Path, same: Callable[[dict], bool]) -> None:
    """A run folder made with another configuration is deleted in the fast profile (disposable)
    and refused in the full one."""
    if not (out / "config.json").exists() or same(json.loads((out / "config.json").read_text())):
        return
    if layout.profile().name == "fast":
        shutil.rmtree(out)
    else:
        raise FacelibError(f"{out} holds a run with another configuration or from an earlier base; "
                           "move it away to run this one")


def rerun_note(notebook: str) -> str:
    """How to run ``notebook``'s experiments again and how long they took when recorded (from the
    results folder: ``train_seconds`` of the bases, ``seconds`` of each pruning run's ``run.json``,
    which leave out the development-pair evaluations)."""
    how = (f"FACELIB_RERUN=1 make lab, then Run > Run All Cells (or, without a browser: FACELIB_RERUN=1 "
           f".venv/bin/jupyter nbconvert --to notebook --execute --inplace notebooks/{notebook}.ipynb)")
    if notebook == layout.notebook_for(ARCHS[0]):
        rows = io.read_csv(layout.results_dir() / "base_models.csv", missing_ok=True, numeric=True)
        if not rows:
            return f"No base model is recorded yet: running this notebook trains them ({how})."
        minutes = sum(r["train_seconds"] for r in rows) / 60
        return (f"Re-running: this notebook reads its {len(rows)} base trainings from the results folder; "
                f"to train them again: {how}. Recorded training time: {minutes:.0f} min in all.")
    made = [(a, c) for a in NETWORKS for c in (PRETRAINED_RUNS if a == PRETRAINED else PRUNING_RUNS)
            if layout.notebook_for(a, c) == notebook]
    recorded = [(a, c) for a, c in made if (layout.pruning_results_dir(a, c) / "run.json").exists()]
    if not made:
        return "This notebook trains and prunes nothing: every run of it computes everything it shows."
    if not recorded:
        return f"No run of this notebook is recorded yet: running it prunes ({how})."
    minutes = sum(json.loads((layout.pruning_results_dir(a, c) / "run.json").read_text())["seconds"]
                  for a, c in recorded) / 60
    # a run needs the uncommitted run folder only where the shipped base has no classifier to keep
    need_runs = sorted({a for a, c in made if a != PRETRAINED and not PRUNING_RUNS[c].get("refit_head")
                        and not has_classifier(shipped_base_file(a))})
    start = ("Every run starts from a file in the clone (a base shipped in models/ with its classifier, "
             "or MobileFaceNet's shared ONNX weights): nothing needs training first." if not need_runs else
             f"The {', '.join(need_runs)} runs not refitting a head start from the base checkpoints in runs/, "
             f"which are not committed (their shipped bases predate shipping the classifier): notebooks/"
             f"{layout.notebook_for(ARCHS[0])}.ipynb with FACELIB_RERUN=1 trains them first; the others start "
             f"from the files shipped in models/.")
    return (f"Re-running: this notebook reads its {len(recorded)} pruning run(s) from the results folder; to prune "
            f"again: {how}. Recorded time: at least {minutes:.0f} min (the training, scoring and removal of its steps; "
            f"each step's evaluation on the pairs comes on top). {start}")
