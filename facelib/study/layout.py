"""Where the study's files live: run folders, result tables, shipped models, and the columns of
each table in ``results/`` (documented in ``results/README.md``).

The active profile (``FACELIB_PROFILE``, see ``facelib.study.profiles``) picks the folders::

    full: runs/full/...   results/              models/
    fast: runs/fast/...   runs/fast/results/    runs/fast/models/

so a fast run never touches the committed tables.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from facelib import io
from facelib.errors import FacelibError
from facelib.study.profiles import PROFILES, Profile
from facelib.study.runs import NOTEBOOKS, PRETRAINED, SCORE_FORMS

ROOT = Path(__file__).resolve().parents[2]  # the repository (facelib is installed editable)

# Columns of results/base_models.csv (one row per network and way of training): the EER on the 1,000
# development pairs and on the larger set of the same people, each with its 95 % interval (people
# bootstrapped; empty in rows recorded before the larger set existed).
BASE_COLUMNS = ["arch", "way", "epochs", "dev_eer", "dev_eer_low", "dev_eer_high", "devpeople_eer",
                "devpeople_eer_low", "devpeople_eer_high", "dev_tar_1e3", "dev_threshold", "train_seconds", "params",
                "trunk_params", "macs", "latency_ms", "identities", "train_images", "seed", "commit", "config"]
# Columns of results/models.csv: the shipped models, with what the dashboard shows of each.
MODEL_COLUMNS = ["file", "arch", "criterion", "step", "kind", "trunk_params", "macs", "dev_eer", "threshold"]
# Columns of results/reference.csv: the pretrained reference model on the development pairs and the larger set.
REFERENCE_COLUMNS = ["model", "align", "pairs", "eer", "eer_low", "eer_high", "devpeople_eer", "devpeople_eer_low",
                     "devpeople_eer_high", "tar_1e3", "threshold", "seconds", "commit"]
# Columns of results/recipes.csv: one short SqueezeNet run per training recipe (runs.RECIPES), its
# EER on the 1,000 development pairs and on the larger set of the same people, each with its interval.
RECIPE_COLUMNS = ["recipe", "arch", "epochs", "dev_eer", "dev_eer_low", "dev_eer_high", "devpeople_eer",
                  "devpeople_eer_low", "devpeople_eer_high", "train_seconds", "seed", "commit", "config"]
# Added to a pruning run's steps.csv (facelib.pruning.loop.STEP_COLUMNS) when it is recorded.
LATENCY_COLUMNS = ["latency_ms", "latency_ratio"]


def profile() -> Profile:
    """The profile named by ``FACELIB_PROFILE`` (default ``full``)."""
    name = os.environ.get("FACELIB_PROFILE", "full")
    if name not in PROFILES:
        raise FacelibError(f"FACELIB_PROFILE={name!r} is not a profile; use full or fast")
    return PROFILES[name]


def rerun() -> bool:
    """``FACELIB_RERUN=1`` makes the notebooks run experiments whose results are already in the
    results folder (the committed full-run tables); otherwise those tables are used as they are."""
    return os.environ.get("FACELIB_RERUN", "0") not in ("", "0")


def runs_dir() -> Path:
    """Run folders (checkpoints; not committed)."""
    return ROOT / "runs" / profile().name


def results_dir() -> Path:
    """Result tables: ``results/`` for the full profile, ``runs/fast/results`` otherwise."""
    return ROOT / "results" if profile().name == "full" else runs_dir() / "results"


def models_dir() -> Path:
    """Shipped models: ``models/`` for the full profile, ``runs/fast/models`` otherwise."""
    return ROOT / "models" if profile().name == "full" else runs_dir() / "models"


def base_run_dir(arch: str, way: str) -> Path:
    """A base training's run folder (its checkpoints and ``model.pt``)."""
    return runs_dir() / "base" / f"{arch}-{way}"


def recipe_run_dir(name: str) -> Path:
    """A recipe run's folder (``runs.RECIPES``)."""
    return runs_dir() / "recipes" / name


def recipe_history_csv(name: str) -> Path:
    """A recipe run's per-epoch history in the results folder."""
    return results_dir() / "recipes" / f"{name}-history.csv"


def prune_run_dir(arch: str, criterion: str) -> Path:
    """A pruning run's run folder (its checkpoints and per-step models)."""
    return runs_dir() / "pruning" / f"{arch}-{criterion}"


def checkpoint_dir(arch: str, criterion: str) -> Path:
    """A committed resumable checkpoint of an unfinished pruning run (``facelib.study.checkpoint``):
    ``checkpoints/<arch>-<criterion>/`` for the full profile, under ``runs/fast/`` otherwise."""
    root = ROOT / "checkpoints" if profile().name == "full" else runs_dir() / "checkpoints"
    return root / f"{arch}-{criterion}"


def pruning_results_dir(arch: str, criterion: str) -> Path:
    """A recorded pruning run's tables: ``<results>/pruning/<arch>-<criterion>/``."""
    return results_dir() / "pruning" / f"{arch}-{criterion}"


def history_csv(arch: str, way: str) -> Path:
    """A base training's per-epoch history in the results folder."""
    return results_dir() / "base" / f"{arch}-{way}-history.csv"


def notebook_for(arch: str, criterion: str | None = None) -> str:
    """The notebook (``notebooks/<name>.ipynb``) that makes a run: the base models (``criterion``
    ``None``), a network's Taylor runs (both score forms, ``runs.SCORE_FORMS``), or the other
    criteria's runs (the comparison); every run of the pretrained MobileFaceNet is its own notebook's."""
    if criterion is None:
        return "02_base_models"
    return NOTEBOOKS[arch] if criterion in SCORE_FORMS.values() or arch == PRETRAINED else "07_comparison"


def commit() -> str:
    """The git commit the code runs at, ``-dirty`` when tracked files outside ``results/`` differ from
    it (``unknown`` outside a clone): a run recorded while the next starts changes only results."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        code_only = ["--", ".", ":(exclude)results"]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", *code_only], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def started_commit(run: Path) -> str:
    """The commit a run folder was started with (written when it starts; read when it is recorded)."""
    path = run / "commit.txt"
    if not path.exists():
        io.save_text(commit(), path)
    return path.read_text().strip()
