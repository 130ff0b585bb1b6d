"""Which base each network's pruning starts from: its rows of ``results/base_models.csv`` and the way
of training chosen there, and whether a recorded pruning run started from that base or an earlier one."""
from __future__ import annotations

import json

from facelib import io
from facelib.errors import FacelibError
from facelib.study import layout
from facelib.study.runs import ARCHS
from facelib.training.config import TrainConfig


def base_models() -> list[dict]:
    """The rows of ``base_models.csv`` (numbers as floats)."""
    path = layout.results_dir() / "base_models.csv"
    if not path.exists():
        raise FacelibError(f"{path} does not exist; run notebooks/{layout.notebook_for(ARCHS[0])}.ipynb first")
    return io.read_csv(path, numeric=True)


def chosen_way(arch: str) -> str:
    """The way of training the pruning runs start from: the one with the lower development EER."""
    rows = [r for r in base_models() if r["arch"] == arch]
    if not rows:
        raise FacelibError(f"no base model of {arch} in results; run notebooks/{layout.notebook_for(arch)}.ipynb first")
    return min(rows, key=lambda r: r["dev_eer"])["way"]


def base_training_config(arch: str) -> dict:
    """The training configuration of ``arch``'s chosen base, from ``base_models.csv`` (the shipped
    base files carry none)."""
    way = chosen_way(arch)
    return next(json.loads(r["config"]) for r in base_models() if (r["arch"], r["way"]) == (arch, way))


def is_earlier_base(arch: str, base_training: dict | None) -> bool:
    """Whether a pruning run whose base was trained by ``base_training`` (its ``run.json`` field;
    None when unknown) started from a base other than ``arch``'s chosen one in ``base_models.csv``:
    the two training configurations differ. An unknown base counts as an earlier one."""
    if base_training is None:
        return True
    return TrainConfig.from_dict(base_training).to_dict() != TrainConfig.from_dict(base_training_config(arch)).to_dict()
