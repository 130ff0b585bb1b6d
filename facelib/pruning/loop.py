"""Iterative pruning, as in the papers (MATLAB's Taylor pruning loop):

    repeat for each step:
        train on ``batches_per_step`` mini-batches, accumulating every filter's score
        remove the ``filters_per_step`` lowest-scoring filters across the whole network
        log filters per layer, parameters, MACs, loss and development-pairs EER ("pruned"), and the
            EER on a larger set of the development people where the run names one (``larger_pairs``)
        every ``finetune_every`` steps, and at the last: fine-tune a copy for ``finetune_batches`` mini-batches
            and log its EER too ("pruned + fine-tuned"); the loop goes on from the pruned model

Every evaluation embeds the faces of both pair sets once, in ``eval_precision`` (bf16 in the study:
about the EERs of fp32 in a fraction of the time: bench/bench_evaluate.py), the unpruned
network's (step 0) included.

A run folder holds ``config.json``, ``state.pt`` (the last completed step: the commit point),
the tables ``steps.csv``, ``layers.csv`` and ``removed.csv`` (columns below), ``head.json`` where
the identity classifier was refitted (``refit_head``, ``facelib.pruning.head``), and
``models/step_NNN_pruned.pt`` / ``models/step_NNN_finetuned.pt``. Every file is written
atomically, tables and models before ``state.pt``; a killed run resumes from the last completed
step and ends with the same result as an uninterrupted one, because each step draws its batch
order and random numbers from (seed, step) alone and the optimizer restarts after each removal.

Columns:
- steps.csv: step, params (whole network), trunk_params (without the identity classifier),
  macs (at the network's input size), filters (all groups), removed, loss (mean training loss of the step),
  eer_pruned, eer_finetuned (empty where not fine-tuned), tar_1e3_pruned, tar_1e3_finetuned,
  threshold_pruned, threshold_finetuned, eer_low_pruned, eer_high_pruned, eer_low_finetuned,
  eer_high_finetuned (the EER's 95 % interval, people resampled: ``metrics.eer_interval``),
  accuracy_pruned, accuracy_finetuned (mean accuracy over the pairs' folds, a threshold chosen on
  the other folds each time: LFW's 10-fold protocol on View 2, ``metrics.kfold_accuracy``),
  devpeople_eer_pruned, devpeople_eer_low_pruned, devpeople_eer_high_pruned and the same for the
  fine-tuned copy: EER and interval on ``cfg.larger_pairs`` (empty without); devpeople_diff_low_pruned,
  devpeople_diff_high_pruned and the same for the fine-tuned copy: the 95 % interval of this step's
  larger-set EER minus the unpruned network's, the same people resampled for both
  (``metrics.eer_difference_interval``, paired); seconds
- layers.csv: step, group, kind, filters, initial_filters
- removed.csv: step, group, index (filter number in the unpruned network), score
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from facelib import data, distill, evaluate, metrics, preprocessing
from facelib.allocator import hold_freed_memory
from facelib.config import PruneConfig, TrainConfig
from facelib.errors import FacelibError
from facelib.io import load_torch, remove_partial_writes, save_csv, save_json, save_torch
from facelib.models import count_macs, count_parameters, load_model, save_model
from facelib.pruning import head
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.scores import ScoreCollector, select_to_remove
from facelib.pruning.surgery import remove_chosen
from facelib.train import TrainData, autocast, batch_order, make_optimizer

STEP_COLUMNS = ["step", "params", "trunk_params", "macs", "filters", "removed", "loss", "eer_pruned", "eer_finetuned",
                "tar_1e3_pruned", "tar_1e3_finetuned", "threshold_pruned", "threshold_finetuned",
                "eer_low_pruned", "eer_high_pruned", "eer_low_finetuned", "eer_high_finetuned",
                "accuracy_pruned", "accuracy_finetuned", "devpeople_eer_pruned", "devpeople_eer_low_pruned",
                "devpeople_eer_high_pruned", "devpeople_eer_finetuned", "devpeople_eer_low_finetuned",
                "devpeople_eer_high_finetuned", "devpeople_diff_low_pruned", "devpeople_diff_high_pruned",
                "devpeople_diff_low_finetuned", "devpeople_diff_high_finetuned", "seconds"]
LAYER_COLUMNS = ["step", "group", "kind", "filters", "initial_filters"]
REMOVED_COLUMNS = ["step", "group", "index", "score"]


def _batches(n: int, count: int, batch_size: int, seed: int, step: int) -> list[torch.Tensor]:
    order = batch_order(n, seed, step)
    order = order.repeat((count * batch_size) // n + 1)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]


def train_batches(model, td: TrainData, batches: list[torch.Tensor], cfg: PruneConfig, step: int,
                  collector: ScoreCollector | None = None, teacher=None,
                  teacher_targets: torch.Tensor | None = None) -> float:
    """SGD or AdamW (``train.make_optimizer``, made afresh) on the given mini-batches; scores
    accumulate if a collector is given.

    ``cfg.precision="bf16"`` runs the forward passes under bfloat16 autocast, as base training
    does (``train.autocast``); weights, optimizer and losses stay fp32. The batches run in
    channels-last layout (``preprocessing.memory_format``), and the model leaves in the contiguous layout
    that surgery and saving expect.
    With ``cfg.distill_weight > 0`` the loss is ``identity_weight`` * identity + W * distillation
    (``distill.distillation_loss``), through a projection refitted to the current embeddings
    (``distill.fit_projection``) towards ``cfg.teacher``: the reference's cached embedding of the
    unaugmented face, or (``"unpruned"``) ``teacher``, the frozen base network run on the student's
    own augmented batch, a target that leaves the unpruned network where it is (zero loss);
    ``teacher_targets``: its embeddings of the projection's faces (``projection_targets``), made
    once per run where the caller keeps them.
    The scores come from the identity loss (``score_loss="identity"``, a separate scored
    backward pass), from the loss that trains (``"combined"``), or (``"reference"``) from the
    distillation loss towards the cached reference, scored and not trained on: a loss whose
    gradient is not zero at the unpruned network, unlike the ``"unpruned"`` target's.
    """
    online = cfg.distill_weight > 0 and cfg.teacher == "unpruned"
    # the projection towards the cached reference, where that loss trains or is scored
    scored_on_reference = collector is not None and cfg.score_loss == "reference"
    to_cached = cfg.distill_weight > 0 and (not online or scored_on_reference)
    pick = _projection_faces(td, cfg) if to_cached or online else None
    own = head.embeddings(model, td.train_images[pick]) if pick is not None else None
    proj = distill.fit_projection(own, td.reference[pick]) if to_cached else None
    if online and teacher_targets is None:
        teacher_targets = projection_targets(teacher, td, cfg)
    proj_online = distill.fit_projection(own, teacher_targets) if online else None
    trained = proj_online if online else proj
    params = list(model.parameters()) + (list(trained.parameters()) if trained is not None else [])
    optimizer = make_optimizer(params, cfg)
    augment = torch.Generator().manual_seed(cfg.seed * 7919 + step)
    fmt = preprocessing.memory_format()
    model.train().to(memory_format=fmt)
    total = 0.0
    for idx in batches:
        x = preprocessing.network_input(td.input_kind, td.train_images[idx], train=True,
                                        generator=augment).contiguous(memory_format=fmt)
        with autocast(cfg.precision):
            emb = model.embed(x)
            logits = model.classify(emb)
            if online:
                with torch.no_grad():
                    target = teacher.embed(x).float()
        emb, loss = emb.float(), cfg.identity_weight * F.cross_entropy(logits.float(), td.train_labels[idx])
        optimizer.zero_grad(set_to_none=True)
        if trained is None:
            loss.backward()
            if collector is not None:
                collector.after_backward()
        else:
            usable = td.reference_usable[idx]
            to_reference = (cfg.distill_weight * distill.distillation_loss(proj(emb), td.reference[idx], usable)
                            if proj is not None else None)
            d = (cfg.distill_weight * distill.distillation_loss(proj_online(emb), target, torch.ones_like(usable))
                 if online else to_reference)
            if collector is None:
                (loss + d).backward()
            elif cfg.score_loss == "combined":
                (loss + d).backward()
                collector.after_backward()
            else:  # a scored backward pass, then the unscored rest of the training loss
                (loss if cfg.score_loss == "identity" else to_reference).backward(retain_graph=True)
                collector.after_backward()
                collector.active = False
                if cfg.score_loss == "reference":
                    optimizer.zero_grad(set_to_none=True)
                (d if cfg.score_loss == "identity" else loss + d).backward()
                collector.active = True
            loss = loss + d
        optimizer.step()
        total += loss.item()
    model.eval().to(memory_format=torch.contiguous_format)
    return total / max(len(batches), 1)


def _projection_faces(td: TrainData, cfg: PruneConfig, faces: int = 1024) -> torch.Tensor:
    """The fixed faces the distillation projection is fitted on, refitted to the network as it is
    at every call of ``train_batches``: ``faces`` of those with a reference, drawn with the seed."""
    usable = torch.nonzero(td.reference_usable).flatten()
    return usable[torch.randperm(len(usable), generator=torch.Generator().manual_seed(cfg.seed))[:faces]]


def projection_targets(teacher, td: TrainData, cfg: PruneConfig) -> torch.Tensor:
    """The frozen ``teacher``'s embeddings of the projection's faces: the same all run long."""
    return head.embeddings(teacher, td.train_images[_projection_faces(td, cfg)])


def _verify(model, pairs, larger, suffix: str, precision: str, unpruned: np.ndarray | None = None,
            found=None) -> dict:
    """The verification columns of ``steps.csv`` for ``model`` on the development ``pairs``, named
    ``<metric>_<suffix>``, and its EER with interval on the ``larger`` set, ``devpeople_<metric>_<suffix>``,
    with the paired interval of its difference to the ``unpruned`` network's scores of the same pairs
    (NaN without pairs, so that a fine-tuned step stays told apart from one that was not: empty).
    ``precision``: the evaluation's (``PruneConfig.eval_precision``); ``found``: the model's
    ``evaluate.evaluate_sets`` where already made (the unpruned network's, step 0)."""
    names, nan = ("eer", "eer_low", "eer_high", "tar_1e3", "threshold", "accuracy"), float("nan")
    found = found or evaluate.evaluate_sets(model, {"dev": pairs, "larger": larger}, precision=precision)
    v, big = found.get("dev"), found.get("larger")
    dev = (v.eer, v.eer_low, v.eer_high, v.tar_at_far_1e3, v.threshold, v.accuracy) if v else [nan] * 6
    diff = (metrics.eer_difference_interval(unpruned, big.scores, big.labels, [p.a.identity for p in larger],
                                            [p.b.identity for p in larger])
            if big is not None and unpruned is not None else (nan, nan))
    return {**{f"{k}_{suffix}": x for k, x in zip(names, dev)},
            **{f"devpeople_{k}_{suffix}": x for k, x in zip(names[:3], (big.eer, big.eer_low, big.eer_high)
                                                            if big else [nan] * 3)},
            f"devpeople_diff_low_{suffix}": diff[0], f"devpeople_diff_high_{suffix}": diff[1]}


def prune(cfg: PruneConfig, out: Path, td: TrainData | None = None, stop_after: int | None = None,
          progress: bool = True) -> list[dict]:
    """Run (or resume) iterative pruning of ``cfg.base_model`` into ``out``; return the step rows.

    ``stop_after`` ends the call after that many completed steps, as an interruption would.
    """
    cfg.check()
    out = Path(out)
    state_path = out / "state.pt"
    remove_partial_writes(out)
    hold_freed_memory()  # steady step times: see facelib.allocator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base = load_model(Path(cfg.base_model))
    if state_path.exists():
        state = load_torch(state_path)
        if PruneConfig.from_dict(json.loads(state["config"])) != cfg:
            raise FacelibError(f"{out} holds a pruning run with another configuration; choose a new --out folder")
        model = load_model(out / "models" / f"step_{state['step']:03d}_pruned.pt")
        step, log = state["step"], json.loads(state["log"])
    else:
        model, step = base, 0
        log = {"steps": [], "layers": [], "removed": [], "ids": {}}
    # a shipped base carries no training configuration: the study's default split is its own
    train_cfg = TrainConfig.from_dict({**json.loads(base.meta.get("config", "{}")), "distill_weight": 0.0})
    td = td or TrainData.load(train_cfg, progress=progress)
    larger = data.every_nth_pair(data.lfw_pairs(cfg.larger_pairs), cfg.max_pairs) if cfg.larger_pairs else []
    # the unpruned network's scores of the larger set, which every step's EER is compared with (paired);
    # a new run's step 0 row is made of the same evaluation
    fresh = step == 0 and not state_path.exists()
    base_found = evaluate.evaluate_sets(base, {"dev": td.dev_pairs if fresh else [], "larger": larger},
                                        precision=cfg.eval_precision)
    unpruned = base_found["larger"].scores if larger else None
    if cfg.distill_weight > 0 and td.reference is None:
        td.reference, td.reference_usable = distill.reference_embeddings(td.split.train, progress=progress)
    if cfg.refit_head and fresh:
        # fitted once per base, split and seed, and shared by the runs beside this one (a run of
        # ResNet50 spends minutes embedding the training faces)
        key = f"{Path(cfg.base_model).stem}-{len(td.split.classes)}x{len(td.train_images)}-seed{cfg.seed}"
        fitted, accuracy = head.cached_fit(model, td.train_images, td.train_labels, len(td.split.classes),
                                           cfg.seed, out.parent / "heads" / f"{key}.pt")
        head.install_head(model, fitted)
        save_json({"train_accuracy": accuracy, "classes": len(td.split.classes)}, out / "head.json")
    if len(td.split.classes) != model.head.out_features:
        raise FacelibError("the base model's classifier does not match its training split (a shipped base has "
                           "none): retrain it with this facelib, or prune with --refit-head 1")
    teacher = None
    if cfg.distill_weight > 0 and cfg.teacher == "unpruned":  # frozen, on the student's own batches
        teacher = load_model(Path(cfg.base_model)).eval().requires_grad_(False)
        teacher.to(memory_format=preprocessing.memory_format())
    teacher_targets = projection_targets(teacher, td, cfg) if teacher is not None else None
    groups = channel_groups(model)
    by_name = {g.name: g for g in groups}
    initial = {g.name: size(base, g) for g in groups}
    if not log["ids"]:
        log["ids"] = {g.name: list(range(initial[g.name])) for g in groups}

    def counts() -> dict:
        return {"params": count_parameters(model), "macs": count_macs(model)}

    def record(step: int, removed: int, loss: float, seconds: float, shape: dict, tuned=None, found=None) -> None:
        # the fine-tuned cells are left empty where this step has no fine-tuned copy
        log["steps"].append({"step": step, **shape, "trunk_params": model.trunk_parameters(),
                             "filters": sum(size(model, g) for g in groups), "removed": removed, "loss": loss,
                             **_verify(model, td.dev_pairs, larger, "pruned", cfg.eval_precision, unpruned, found),
                             **(_verify(tuned, td.dev_pairs, larger, "finetuned", cfg.eval_precision, unpruned)
                                if tuned is not None else {}),
                             "seconds": seconds})
        log["layers"] += [{"step": step, "group": g.name, "kind": g.kind, "filters": size(model, g),
                           "initial_filters": initial[g.name]} for g in groups]

    def commit(step: int, tuned=None) -> None:
        meta = dict(base.meta, pruning=json.dumps(asdict(cfg)), step=step)
        save_model(model, out / "models" / f"step_{step:03d}_pruned.pt", **meta)
        if tuned is not None:
            save_model(tuned, out / "models" / f"step_{step:03d}_finetuned.pt", **meta)
        save_csv(log["steps"], STEP_COLUMNS, out / "steps.csv")
        save_csv(log["layers"], LAYER_COLUMNS, out / "layers.csv")
        save_csv(log["removed"], REMOVED_COLUMNS, out / "removed.csv")
        save_torch({"step": step, "log": json.dumps(log), "config": json.dumps(asdict(cfg))}, state_path)

    if fresh:
        save_json(asdict(cfg), out / "config.json")
        record(0, 0, float("nan"), 0.0, counts(), found=base_found)
        commit(0)

    done = 0
    bar = tqdm(total=cfg.steps, initial=step, desc=f"pruning ({cfg.criterion})", disable=not progress, unit="step")
    def reached(row: dict) -> bool:
        return ((cfg.target_params is not None and row["params"] <= cfg.target_params)
                or (cfg.target_macs is not None and row["macs"] <= cfg.target_macs))

    while step < cfg.steps and not reached(log["steps"][-1]):
        start = time.perf_counter()
        step += 1
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout
        collector = ScoreCollector(model, groups, cfg.criterion,
                                   generator=torch.Generator().manual_seed(cfg.seed * 31 + step))
        batches = _batches(len(td.train_images), cfg.batches_per_step, cfg.batch_size, cfg.seed, step)
        loss = train_batches(model, td, batches, cfg, step, collector, teacher, teacher_targets)
        collector.remove()
        scores = collector.scores(cfg.normalise)
        chosen = select_to_remove(scores, cfg.filters_per_step, cfg.min_channels, cfg.round_to)
        for name, keep in remove_chosen(model, chosen, by_name).items():
            ids = log["ids"][name]
            log["removed"] += [{"step": step, "group": name, "index": ids[i], "score": float(scores[name][i])}
                               for i in sorted(chosen[name])]
            log["ids"][name] = [ids[i] for i in keep]
        tuned = None
        shape = counts()
        last = step == cfg.steps or reached(shape)
        if cfg.finetune_every and (step % cfg.finetune_every == 0 or last):
            tuned = copy.deepcopy(model)
            torch.manual_seed(cfg.seed * 1_000_033 + step)
            train_batches(tuned, td, _batches(len(td.train_images), cfg.finetune_batches, cfg.batch_size,
                                              cfg.seed + 1, step), cfg, -step, teacher=teacher,
                          teacher_targets=teacher_targets)
        removed = sum(len(v) for v in chosen.values())
        record(step, removed, loss, time.perf_counter() - start, shape, tuned)
        commit(step, tuned)
        bar.update(1)
        done += 1
        if removed == 0 or (stop_after is not None and done >= stop_after):
            break
    bar.close()
    return log["steps"]
