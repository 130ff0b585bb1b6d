"""Finished runs into ``results/`` and ``models/``: each run's rows, its per-step latency, and the
shipped half-precision copies of the models the dashboard compares (a base with its identity
classifier, so that pruning can start from it; a pruned copy embedding-only).

Nothing here trains or prunes: ``facelib.study`` calls these once a run folder is complete.
Every table is written atomically (``facelib.io``), so a write cut short leaves the old one.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from facelib import io
from facelib.data import paths
from facelib.data.pairs import Pair
from facelib.data.split import study_split
from facelib.errors import FacelibError
from facelib.evaluation import metrics, timing, verification
from facelib.evaluation.verification import OnnxFaceModel
from facelib.networks import models
from facelib.pruning.config import PruneConfig
from facelib.pruning.log import step_columns, widths_by_step
from facelib.pruning.surgery import shrink_to
from facelib.study import layout, shipped_scores
from facelib.study.bases import base_training_config, chosen_way, is_earlier_base
from facelib.study.layout import BASE_COLUMNS, LATENCY_COLUMNS, MODEL_COLUMNS, RECIPE_COLUMNS, REFERENCE_COLUMNS
from facelib.study.recorded import load_run
from facelib.study.runs import ARCHS, LONG_RECIPES, NETWORKS, PRETRAINED, RECIPES, WAYS


def record_base(arch: str, way: str, pairs: list[Pair], larger: list[Pair], device: str = "cpu") -> dict:
    """Evaluate a finished base model on ``pairs`` (the development pairs) and on the larger set of
    the same people (``larger``), on ``device`` (where it trained: a GPU's evaluation is in fp32
    as here), and write its row of ``base_models.csv``, its training history and, if it is the
    chosen way, its shipped copy."""
    run = layout.base_run_dir(arch, way)
    model = models.load_model(run / "model.pt").to(device)
    cfg = json.loads(model.meta["config"])
    history = io.read_csv(run / "history.csv")
    v, big = verification.evaluate_sets(model, {"dev": pairs, "larger": larger}).values()
    model = model.cpu()  # its latency and shipped copy are the CPU's
    split = study_split(cfg["min_images"], cfg["val_fraction"], cfg["seed"], cfg["max_identities"],
                        cfg["use_lfw"], cfg["use_celeba"])
    row = {"arch": arch, "way": way, "epochs": cfg["epochs"], "dev_eer": v.eer, "dev_eer_low": v.eer_low,
           "dev_eer_high": v.eer_high, "devpeople_eer": big.eer, "devpeople_eer_low": big.eer_low,
           "devpeople_eer_high": big.eer_high, "dev_tar_1e3": v.tar_at_far_1e3,
           "dev_threshold": v.threshold, "train_seconds": sum(float(h["seconds"]) for h in history),
           "params": models.count_parameters(model), "trunk_params": model.trunk_parameters(),
           "macs": models.count_macs(model), "latency_ms": timing.latency_ms(model),
           "identities": model.head.out_features, "train_images": len(split.train), "seed": cfg["seed"],
           "commit": layout.started_commit(run), "config": json.dumps(cfg, sort_keys=True)}
    io.save_csv(history, list(history[0]), layout.history_csv(arch, way))
    rows = [r for r in io.read_csv(layout.results_dir() / "base_models.csv", missing_ok=True)
            if (r["arch"], r["way"]) != (arch, way)] + [row]
    rows.sort(key=lambda r: (ARCHS.index(r["arch"]), WAYS.index(r["way"])))
    io.save_csv(rows, BASE_COLUMNS, layout.results_dir() / "base_models.csv")
    if chosen_way(arch) == way:
        name = f"{arch}-{way}-base.pt"
        # with its identity classifier and training configuration: what a pruning run needs to
        # start from this file alone (study.prune_config), on a fresh clone without the run folder
        models.save_model(model, layout.models_dir() / name, half=True, dev_eer=v.eer, threshold=v.threshold,
                          config=model.meta["config"])
        update_models_table(name, [{"file": name, "arch": arch, "criterion": "", "step": 0, "kind": f"base-{way}",
                                    "trunk_params": row["trunk_params"], "macs": row["macs"], "dev_eer": v.eer,
                                    "threshold": v.threshold}])
    unship_other_bases(arch)
    unship_pruned_of_other_bases(arch)
    return row


def record_recipe(name: str, pairs: list[Pair], larger: list[Pair], device: str = "cpu") -> dict:
    """Evaluate a finished recipe run on the development pairs and on the larger set of the same
    people (``larger``), on ``device``, and write its row of ``recipes.csv`` and its history."""
    run = layout.recipe_run_dir(name)
    model = models.load_model(run / "model.pt").to(device)
    cfg = json.loads(model.meta["config"])
    history = io.read_csv(run / "history.csv")
    dev, big = verification.evaluate_sets(model, {"dev": pairs, "larger": larger}).values()
    row = {"recipe": name, "arch": cfg["arch"], "epochs": cfg["epochs"], "dev_eer": dev.eer, "dev_eer_low": dev.eer_low,
           "dev_eer_high": dev.eer_high, "devpeople_eer": big.eer, "devpeople_eer_low": big.eer_low,
           "devpeople_eer_high": big.eer_high, "train_seconds": sum(float(h["seconds"]) for h in history),
           "seed": cfg["seed"], "commit": layout.started_commit(run), "config": json.dumps(cfg, sort_keys=True)}
    io.save_csv(history, list(history[0]), layout.recipe_history_csv(name))
    rows = [r for r in io.read_csv(layout.results_dir() / "recipes.csv", missing_ok=True) if r["recipe"] != name]
    order = list(RECIPES) + list(LONG_RECIPES)
    rows = sorted(rows + [row], key=lambda r: order.index(r["recipe"]) if r["recipe"] in order else len(order))
    io.save_csv(rows, RECIPE_COLUMNS, layout.results_dir() / "recipes.csv")
    return row


def unship_other_bases(arch: str) -> None:
    """Only the chosen base of each network (the one its pruning starts from) is shipped in
    ``models/``: two half-precision ResNet50 bases alone would take 94 of the 80 MB allowed.
    The other way's numbers stay in ``base_models.csv``; its model stays in its run folder."""
    chosen = chosen_way(arch)
    for way in WAYS:
        if way != chosen:
            name = f"{arch}-{way}-base.pt"
            (layout.models_dir() / name).unlink(missing_ok=True)
            update_models_table(name, [])


def unship_pruned_of_other_bases(arch: str) -> None:
    """Pruned copies shipped from a base other than ``arch``'s chosen one (its pruning run's
    ``base_training`` differs) leave ``models/``: beside a new base they would compare faces as a
    network the study no longer has. Their run's tables stay, flagged (``recorded.earlier_base_note``)."""
    for r in io.read_csv(layout.results_dir() / "models.csv", missing_ok=True):
        if r["arch"] != arch or r["kind"].startswith("base"):
            continue
        info = layout.pruning_results_dir(arch, r["criterion"]) / "run.json"
        if is_earlier_base(arch, json.loads(info.read_text()).get("base_training") if info.exists() else None):
            (layout.models_dir() / r["file"]).unlink(missing_ok=True)
            update_models_table(r["file"], [])


def with_latency(arch: str, steps: list[dict], layers: list[dict]) -> list[dict]:
    """``steps`` with each step's batch-1 CPU latency: ``latency_ms`` of the step's network and
    ``latency_ratio`` to the unpruned one, timed in turn with it for the profile's
    ``latency_seconds`` and ``latency_repeats`` at least (``timing.paired_latency_ms``).
    The step's network is rebuilt from its widths in ``layers`` (``pruning.surgery.shrink_to``): latency
    depends on the shape, not on the weights, and the rebuilt network has the step's exact
    parameters and MACs (tests/test_results.py checks it)."""
    widths = widths_by_step(layers)
    torch.manual_seed(0)
    full = models.build(arch, 1)
    out = []
    for row in steps:
        pruned = shrink_to(copy.deepcopy(full), widths[int(float(row["step"]))])
        profile = layout.profile()
        full_ms, ms = timing.paired_latency_ms(full, pruned, repeats=profile.latency_repeats,
                                              min_seconds=profile.latency_seconds)
        out.append({**row, "latency_ms": ms, "latency_ratio": ms / full_ms})
    return out


def paired_differences(run: Path, steps: list[dict], larger: list[Pair]) -> list[dict]:
    """``steps`` (rows of a run's ``steps.csv``) with the paired-difference columns filled
    (``devpeople_diff_*``, as the loop writes them today) from the run folder ``run``'s models:
    every step's pruned network and fine-tuned copy evaluated on ``larger`` and compared with step 0's
    scores (``metrics.eer_difference_interval``). For runs recorded before the loop wrote them; a
    model whose larger-set EER is not the recorded one is not that run's (one sentence)."""
    a, b = [p.a.identity for p in larger], [p.b.identity for p in larger]
    precision = PruneConfig.from_dict(json.loads((run / "config.json").read_text())).eval_precision
    unpruned = None
    out = []
    for row in steps:
        row, step = dict(row), int(float(row["step"]))
        for kind in ("pruned", "finetuned"):
            if str(row[f"devpeople_eer_{kind}"]) in ("", "nan"):
                continue
            model = models.load_model(run / "models" / f"step_{step:03d}_{kind}.pt")
            v = verification.evaluate_sets(model, {"larger": larger}, precision=precision)["larger"]
            if abs(v.eer - float(row[f"devpeople_eer_{kind}"])) > 1e-6:
                raise FacelibError(f"{run}: the step {step} {kind} model's EER on the larger set is {v.eer:.4f}, "
                                   f"not the recorded {float(row[f'devpeople_eer_{kind}']):.4f}: not this run's model")
            unpruned = v.scores if unpruned is None else unpruned  # step 0 comes first
            low, high = metrics.eer_difference_interval(unpruned, v.scores, v.labels, a, b)
            row |= {f"devpeople_diff_low_{kind}": low, f"devpeople_diff_high_{kind}": high}
        out.append(row)
    return out


def add_paired_differences(arch: str, criterion: str, larger: list[Pair]) -> list[dict]:
    """Fill a recorded run's paired-difference columns in place (``paired_differences``), in its
    results table and in its run folder's table, atomically."""
    run, dest = layout.prune_run_dir(arch, criterion), layout.pruning_results_dir(arch, criterion)
    steps = paired_differences(run, io.read_csv(dest / "steps.csv"), larger)
    io.save_csv(steps, step_columns(steps) + LATENCY_COLUMNS, dest / "steps.csv")
    columns = step_columns(steps)
    io.save_csv([{k: r[k] for k in columns if k in r} for r in steps], columns, run / "steps.csv")
    return steps


def record_pruning(arch: str, criterion: str, ship: bool = False) -> list[dict]:
    """Copy a finished pruning run's tables to ``results/pruning/<arch>-<criterion>/`` with each
    step's batch-1 CPU latency added (``with_latency``), write ``run.json`` (configuration, seed,
    split, duration, commit), and, where ``ship``, ship its deployable fine-tuned models (``ship_run``)."""
    run, dest = layout.prune_run_dir(arch, criterion), layout.pruning_results_dir(arch, criterion)
    for table in ("layers.csv", "removed.csv"):
        io.copy_atomic(run / table, dest / table)
    steps = with_latency(arch, io.read_csv(run / "steps.csv"), io.read_csv(run / "layers.csv"))
    io.save_csv(steps, step_columns(steps) + LATENCY_COLUMNS, dest / "steps.csv")
    cfg = json.loads((run / "config.json").read_text())
    base_meta = models.load_model(layout.ROOT / cfg["base_model"]).meta
    if "config" in base_meta:
        base_cfg = json.loads(base_meta["config"])
    else:  # a shipped base (refit_head)
        base_cfg = base_training_config(arch)
    io.save_json({"config": cfg, "seed": cfg["seed"], "base_training": base_cfg,
                  "seconds": sum(float(r["seconds"]) for r in steps), "commit": layout.started_commit(run),
                  "profile": layout.profile().name,
                  "base_way": ("pretrained" if arch == PRETRAINED
                               else "distill" if base_cfg["distill_weight"] > 0 else "plain")},
                 dest / "run.json")
    if ship:
        ship_run(arch, criterion, run)
    return steps


def ship_run(arch: str, criterion: str, run: Path | None = None) -> list[dict]:
    """Ship the recorded run's deployable fine-tuned copies (``PruningRun.deployable_steps``) to ``models/``
    in half precision, embedding only, from its run folder ``run``, or where a copy's model is not
    there, as ``models/`` already has it; the run's other copies leave ``models/``. Returns their rows."""
    found = load_run(arch, criterion)
    by_step = {int(r["step"]): r for r in found.steps}
    prefix, rows = f"{arch}-{criterion}-", []
    listed = {r["file"]: r for r in io.read_csv(layout.results_dir() / "models.csv", missing_ok=True)}
    for step in found.deployable_steps():
        row, name = by_step[step], f"{arch}-{criterion}-step{step:03d}-finetuned.pt"
        source = run / "models" / f"step_{step:03d}_finetuned.pt" if run is not None else None
        if source is not None and source.exists():
            model = models.load_model(source)  # with its classifier: MACs counted as the run counts them
            models.save_model(model, layout.models_dir() / name, half=True, embedding_only=True,
                              dev_eer=float(row["eer_finetuned"]), threshold=float(row["threshold_finetuned"]))
            rows.append({"file": name, "arch": arch, "criterion": criterion, "step": step, "kind": "finetuned",
                         "trunk_params": model.trunk_parameters(), "macs": models.count_macs(model),
                         "dev_eer": float(row["eer_finetuned"]), "threshold": float(row["threshold_finetuned"])})
        elif name in listed and (layout.models_dir() / name).exists():
            rows.append(listed[name])
        else:
            raise FacelibError(f"step {step} of {arch}/{criterion} is to be shipped, but neither its run folder nor "
                               f"models/ holds it: run notebooks/{layout.notebook_for(arch, criterion)}.ipynb again")
    update_models_table(prefix, rows)
    return rows


def withdraw_run(arch: str, criterion: str) -> None:
    """Take a run's shipped copies out of ``models/`` and ``models.csv`` (a run no longer shipped)."""
    update_models_table(f"{arch}-{criterion}-", [])


def update_models_table(prefix: str, rows: list[dict]) -> None:
    """Replace the rows of ``models.csv`` whose file name starts with ``prefix`` by ``rows``; the files of
    the rows replaced and not among ``rows`` leave ``models/``. Each shipped file's scores on its pairs
    are recorded where they are not yet (``shipped_scores``)."""
    path = layout.results_dir() / "models.csv"
    old = io.read_csv(path, missing_ok=True)
    keep = [r for r in old if not r["file"].startswith(prefix)]
    for r in old:
        if r["file"].startswith(prefix) and r["file"] not in {n["file"] for n in rows}:
            (layout.models_dir() / r["file"]).unlink(missing_ok=True)
            shipped_scores.forget(r["file"])
    for r in rows:
        if shipped_scores.load(r["file"]) is None:
            shipped_scores.record(r["file"], r["arch"])
    rows = sorted(keep + rows, key=lambda r: (NETWORKS.index(r["arch"]), r["file"]))
    io.save_csv(rows, MODEL_COLUMNS, path)


def record_reference(pairs: list[Pair], larger: list[Pair]) -> list[dict]:
    """The reference MobileFaceNet's EER on ``pairs`` (the development pairs) and on the larger set
    of the same people (``larger``), each with its 95 % interval, with its own 5-point alignment and
    with the fixed transform, so the base networks are compared on the same pairs."""
    rows, sets = [], {"dev": pairs, "larger": larger}
    for align in ("landmarks", "fixed"):
        v, big = verification.evaluate_sets(OnnxFaceModel(paths.reference_model(), align=align), sets).values()
        rows.append({"model": "mobilefacenet (ONNX)", "align": align, "pairs": len(pairs), "eer": v.eer,
                     "eer_low": v.eer_low, "eer_high": v.eer_high, "devpeople_eer": big.eer,
                     "devpeople_eer_low": big.eer_low, "devpeople_eer_high": big.eer_high,
                     "tar_1e3": v.tar_at_far_1e3, "threshold": v.threshold, "seconds": v.seconds,
                     "commit": layout.commit()})
    io.save_csv(rows, REFERENCE_COLUMNS, layout.results_dir() / "reference.csv")
    return rows
