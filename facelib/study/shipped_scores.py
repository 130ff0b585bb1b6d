"""The shipped models' verification scores on the pairs each is judged on, recorded once beside them.

A DET curve needs every pair's score; computing them means embedding every face of the pairs (about
15 s a SqueezeNet on 2 CPU cores, up to 2 min a MobileFaceNet on LFW View 2). The dashboard draws the
curves of the models in ``models/``, so their scores are small tables in ``results/scores/``, written
when a model is shipped (``study.record``), and the page reads them instead of the networks:

    results/scores/<model file stem>.csv   score, label (1: same person) of each pair, in the pairs' order
    results/scores.csv                     one row per file: its digest, pairs, eer, eer_low, eer_high, threshold

The scores are of the half-precision file as shipped, evaluated in fp32 with mirror fusion
(``verification.evaluate_model``): what the compare page computes from the same file.
"""
from __future__ import annotations

import numpy as np

from facelib import io
from facelib.evaluation import verification
from facelib.networks import models
from facelib.study import bases, configs, layout
from facelib.study.recorded import load_run
from facelib.study.runs import PRETRAINED

COLUMNS = ["file", "digest", "pairs", "eer", "eer_low", "eer_high", "threshold"]


def scores_csv(file: str):
    """Where the scores of the shipped model ``file`` are recorded."""
    return layout.results_dir() / "scores" / f"{file.removesuffix('.pt')}.csv"


def pairs_for(arch: str) -> list:
    """The pairs a shipped model of ``arch`` is judged on: the development pairs; LFW View 2 for the
    pretrained MobileFaceNet's copies, whose fine-tuning may include development people."""
    return configs.pretrained_pairs() if arch == PRETRAINED else configs.dev_pairs()


def record(file: str, arch: str) -> dict:
    """Evaluate the shipped model ``file`` on its pairs and record its scores and its row."""
    model = models.load_model(layout.models_dir() / file)
    v = verification.evaluate_model(model, pairs_for(arch))
    io.save_csv([{"score": float(s), "label": int(y)} for s, y in zip(v.scores, v.labels)], ["score", "label"],
                scores_csv(file))
    row = {"file": file, "digest": io.file_digest(layout.models_dir() / file), "pairs": len(v.labels), "eer": v.eer,
           "eer_low": v.eer_low, "eer_high": v.eer_high, "threshold": v.threshold}
    path = layout.results_dir() / "scores.csv"
    rows = [r for r in io.read_csv(path, missing_ok=True) if r["file"] != file] + [row]
    io.save_csv(sorted(rows, key=lambda r: r["file"]), COLUMNS, path)
    return row


def forget(file: str) -> None:
    """Drop the scores of a model that leaves ``models/``."""
    scores_csv(file).unlink(missing_ok=True)
    path = layout.results_dir() / "scores.csv"
    if path.exists():
        io.save_csv([r for r in io.read_csv(path) if r["file"] != file], COLUMNS, path)


def load(file: str) -> dict | None:
    """The recorded scores of ``file``, as the dashboard's DET page draws them: ``scores``, ``labels``,
    ``eer``, ``low``, ``high``, ``threshold`` (None where none are recorded, or recorded from a file
    since replaced: another digest)."""
    path, model = scores_csv(file), layout.models_dir() / file
    rows = [r for r in io.read_csv(layout.results_dir() / "scores.csv", missing_ok=True) if r["file"] == file]
    if not rows or not path.exists() or not model.exists() or rows[0]["digest"] != io.file_digest(model):
        return None
    rows = [{k: float(v) if k.startswith("eer") or k == "threshold" else v for k, v in rows[0].items()}]
    table = io.read_csv(path, numeric=True)
    return {"scores": np.array([r["score"] for r in table]), "labels": np.array([int(r["label"]) for r in table]),
            "eer": rows[0]["eer"], "low": rows[0]["eer_low"], "high": rows[0]["eer_high"],
            "threshold": rows[0]["threshold"]}


def record_missing() -> list[str]:
    """Record the scores of every model in ``models.csv`` that has none; returns their files."""
    done = []
    for r in io.read_csv(layout.results_dir() / "models.csv", missing_ok=True):
        if load(r["file"]) is None:
            record(r["file"], r["arch"])
            done.append(r["file"])
    return done


def recorded_eer(row: dict) -> dict:
    """A shipped model's EER as its run recorded it, on the most pairs it was measured on: the larger set
    of the development people (5,104 pairs) where measured, else the development pairs (LFW View 2 for
    MobileFaceNet's copies): ``eer``, ``low``, ``high`` and ``pairs`` (which, in two words). The
    1,000 development pairs alone can put a copy within a point of its base 3 points from it."""
    if row["kind"] == "finetuned":
        step = next(s for s in load_run(row["arch"], row["criterion"]).steps if s["step"] == int(row["step"]))
        found = {p: (step.get(f"{p}eer_finetuned"), step.get(f"{p}eer_low_finetuned"),
                     step.get(f"{p}eer_high_finetuned")) for p in ("devpeople_", "")}
    else:
        base = next(b for b in bases.base_models() if (b["arch"], f"base-{b['way']}") == (row["arch"], row["kind"]))
        found = {"devpeople_": (base["devpeople_eer"], base["devpeople_eer_low"], base["devpeople_eer_high"]),
                 "": (base["dev_eer"], base["dev_eer_low"], base["dev_eer_high"])}
    larger = found["devpeople_"][0] is not None and found["devpeople_"][0] == found["devpeople_"][0]
    eer, low, high = found["devpeople_" if larger else ""]
    pairs = ("larger set" if larger else "LFW View 2" if row["arch"] == PRETRAINED else "1,000 pairs")
    return {"eer": float(eer), "low": float(low), "high": float(high), "pairs": pairs}
