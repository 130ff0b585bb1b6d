"""Iterative pruning, as in the papers (MATLAB's Taylor pruning loop):

    repeat for each step:
        train on ``batches_per_step`` mini-batches, accumulating every filter's score
        remove the ``filters_per_step`` lowest-scoring filters across the whole network
        log filters per layer, parameters, MACs, loss and development-pairs EER ("pruned"), and the
            EER on a larger set of the development people where the run names one (``larger_pairs``)
        every ``finetune_every`` steps, and at the last: fine-tune a copy for ``finetune_batches`` mini-batches
            and log its EER too ("pruned + fine-tuned"); the loop goes on from the pruned model

Where ``cfg.train`` is off, the step's mini-batches are only scored (and not even run where the criterion
reads none) and no copy is fine-tuned: the network changes by removal (and ``reconstruct``) alone.
``prune_step`` is one such step: ``retrain.train_batches`` scored by a ``criteria.Importance``,
``selection.select_to_remove``, ``surgery.remove_chosen``, a fine-tuned copy, and the rows of ``log``.

Every evaluation embeds the faces of both pair sets once, in ``eval_precision`` (bf16 in the study:
about the EERs of fp32 in a fraction of the time: bench/bench_evaluate.py), the unpruned
network's (step 0) included.

A run folder holds ``config.json``, ``state.pt`` (the last completed step: the commit point),
the tables ``steps.csv``, ``layers.csv`` and ``removed.csv`` (columns below), ``head.json`` where
the identity classifier was refitted (``refit_head``, ``pruning.head``), and
``models/step_NNN_pruned.pt`` / ``models/step_NNN_finetuned.pt``. Every file is written
atomically, tables and models before ``state.pt``; a killed run resumes from the last completed
step and ends with the same result as an uninterrupted one, because each step draws its batch
order and random numbers from (seed, step) alone and the optimizer restarts after each removal.

Under ``torchrun`` every process trains on its share of each mini-batch (``retrain.train_batches``),
its Taylor scores are summed with the others' (``Importance.combine``) before the filters are chosen,
so every process removes the same ones; rank 0 alone evaluates and writes, and a run resumes on any
number of processes.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from facelib.data import preprocessing
from facelib.data.pairs import Pair, every_nth_pair, lfw_pairs
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.io import load_torch, remove_partial_writes, save_csv, save_json, save_torch
from facelib.networks.base import FaceNet
from facelib.networks.models import count_macs, count_parameters, load_model, save_model, set_dropout
from facelib.pruning import head, reconstruction
from facelib.pruning.config import PruneConfig
from facelib.pruning.criteria import importance
from facelib.pruning.groups import Group, channel_groups, size
from facelib.pruning.log import LAYER_COLUMNS, REFIT_COLUMN, REMOVED_COLUMNS, step_columns, verification_columns
from facelib.pruning.reconstruction_error import Reference
from facelib.pruning.retrain import projection_targets, step_batches, train_batches, training_data
from facelib.pruning.selection import select_to_remove
from facelib.pruning.surgery import remove_chosen
from facelib.training import distill, parallel
from facelib.training.allocator import hold_freed_memory
from facelib.training.parallel import Part
from facelib.training.trainset import FolderData, TrainData


@dataclass
class PruningState:
    """A run in progress: the network as pruned so far, what every step trains and is evaluated on,
    and the tables as they grow (``log``: ``steps``, ``layers``, ``removed`` rows and ``ids``, each
    group's filters by their number in the unpruned network)."""

    cfg: PruneConfig
    out: Path
    base: FaceNet
    model: FaceNet
    td: TrainData | FolderData
    larger: list[Pair]
    unpruned: np.ndarray | None  # the unpruned network's scores of the larger set (paired differences)
    groups: list[Group]
    initial: dict[str, int]
    log: dict
    teacher: FaceNet | None = None
    teacher_targets: torch.Tensor | None = None
    part: Part = Part()
    fit_inputs: torch.Tensor | None = None  # the faces each reconstruction fits on (``cfg.reconstruct_faces``)
    unpruned_net: FaceNet | None = None  # what it reconstructs: the base as loaded (``base`` is pruned in place)
    by_name: dict[str, Group] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {g.name: g for g in self.groups}

    def shape(self) -> dict:
        return {"params": count_parameters(self.model), "macs": count_macs(self.model)}

    def reached(self, row: dict) -> bool:
        """Whether a step's ``params`` or ``macs`` is at the run's target."""
        cfg = self.cfg
        return ((cfg.target_params is not None and row["params"] <= cfg.target_params)
                or (cfg.target_macs is not None and row["macs"] <= cfg.target_macs))

    def record(self, step: int, removed: int, loss: float, seconds: float, shape: dict,
               tuned: FaceNet | None = None, found: dict | None = None, refit: float | None = None) -> None:
        """Append the step's rows; its fine-tuned cells stay empty where it has no fine-tuned copy. Only
        the writing process evaluates (the others keep the rows' shape columns, which end the run)."""
        model, td, cfg = self.model, self.td, self.cfg
        if not self.part.writes:
            found = {}
        skipped = None if self.part.writes else {}
        self.log["steps"].append({
            "step": step, **shape, "trunk_params": model.trunk_parameters(),
            "filters": sum(size(model, g) for g in self.groups), "removed": removed, "loss": loss,
            **verification_columns(model, td.dev_pairs, self.larger, "pruned", cfg.eval_precision, self.unpruned, found),
            **(verification_columns(tuned, td.dev_pairs, self.larger, "finetuned", cfg.eval_precision, self.unpruned,
                                    skipped) if tuned is not None else {}),
            "seconds": seconds, **({REFIT_COLUMN: refit} if self.fit_inputs is not None else {})})
        self.log["layers"] += [{"step": step, "group": g.name, "kind": g.kind, "filters": size(model, g),
                                "initial_filters": self.initial[g.name]} for g in self.groups]

    def commit(self, step: int, tuned: FaceNet | None = None) -> None:
        """Write the step's models and tables, then ``state.pt``, the commit point of a resumed run (rank 0;
        the others wait for it)."""
        if not self.part.writes:
            return self.part.wait()
        out, log = self.out, self.log
        meta = dict(self.base.meta, pruning=json.dumps(asdict(self.cfg)), step=step)
        save_model(self.model, out / "models" / f"step_{step:03d}_pruned.pt", **meta)
        if tuned is not None:
            save_model(tuned, out / "models" / f"step_{step:03d}_finetuned.pt", **meta)
        save_csv(log["steps"], step_columns(log["steps"]), out / "steps.csv")
        save_csv(log["layers"], LAYER_COLUMNS, out / "layers.csv")
        save_csv(log["removed"], REMOVED_COLUMNS, out / "removed.csv")
        save_torch({"step": step, "log": json.dumps(log), "config": json.dumps(asdict(self.cfg))}, out / "state.pt")
        self.part.wait()


def prune(cfg: PruneConfig, out: Path, td: TrainData | FolderData | None = None, stop_after: int | None = None,
          progress: bool = True) -> list[dict]:
    """Run (or resume) iterative pruning of ``cfg.base_model`` into ``out``; return the step rows.

    ``stop_after`` ends the call after that many completed steps, as an interruption would.
    """
    cfg.check()
    part = parallel.join()
    out = Path(out)
    if part.writes:
        remove_partial_writes(out)
    hold_freed_memory()  # steady step times: see facelib.training.allocator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    state, step, base_found = start(cfg, out, td, progress and part.writes, part)
    if base_found is not None:  # a new run: its step 0 is the unpruned network
        if part.writes:
            save_json(asdict(cfg), out / "config.json")
        state.record(0, 0, float("nan"), 0.0, state.shape(), found=base_found)
        state.commit(0)
    done = 0
    bar = tqdm(total=cfg.steps, initial=step, desc=f"pruning ({cfg.criterion})", disable=not (progress and part.writes),
               unit="step")
    while step < cfg.steps and not state.reached(state.log["steps"][-1]):
        step += 1
        removed = prune_step(state, step)
        bar.update(1)
        done += 1
        if removed == 0 or (stop_after is not None and done >= stop_after):
            break
    bar.close()
    return state.log["steps"]


def prune_step(state: PruningState, step: int) -> int:
    """One step of the papers' procedure: train and score, remove the lowest-scoring filters,
    fine-tune a copy every ``finetune_every`` steps (and at the last), evaluate, record; returns the
    number of filters removed. Its random numbers come from (seed, step) alone."""
    cfg, model, td = state.cfg, state.model, state.td
    start = time.perf_counter()
    torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout
    reference = None if state.fit_inputs is None else Reference(
        state.unpruned_net, state.fit_inputs, state.log["ids"], cfg.reconstruct_positions, cfg.ridge, cfg.seed * 31 + step)
    scorer = importance(cfg.criterion, model, state.groups, cfg.normalise,
                        generator=torch.Generator().manual_seed(cfg.seed * 31 + step), reference=reference)
    loss = float("nan")  # a run that neither trains nor scores on mini-batches has no training loss
    if cfg.train or scorer.needs_batches:
        batches = step_batches(td.count, cfg.batches_per_step, cfg.batch_size, cfg.seed, step)
        loss = train_batches(model, td, batches, cfg, step, scorer, state.teacher, state.teacher_targets, state.part)
    scorer.remove()
    scorer.combine(state.part.total_tensor)  # every process's scores, so that all choose the same filters
    scores = scorer.scores()
    chosen = select_to_remove(scores, cfg.filters_per_step, cfg.min_channels, cfg.round_to)
    for name, keep in remove_chosen(model, chosen, state.by_name).items():
        ids = state.log["ids"][name]
        state.log["removed"] += [{"step": step, "group": name, "index": ids[i], "score": float(scores[name][i])}
                                 for i in sorted(chosen[name])]
        state.log["ids"][name] = [ids[i] for i in keep]
    refit = reconstruct(state, set(chosen), step)
    shape = state.shape()
    last = step == cfg.steps or state.reached(shape)
    tuned = None
    if cfg.finetune_every and (step % cfg.finetune_every == 0 or last):
        tuned = copy.deepcopy(model)
        torch.manual_seed(cfg.seed * 1_000_033 + step)
        train_batches(tuned, td, step_batches(td.count, cfg.finetune_batches, cfg.batch_size, cfg.seed + 1, step),
                      cfg, -step, teacher=state.teacher, teacher_targets=state.teacher_targets, part=state.part)
    removed = sum(len(v) for v in chosen.values())
    state.record(step, removed, loss, time.perf_counter() - start, shape, tuned, refit=refit)
    state.commit(step, tuned)
    return removed


def reconstruct(state: PruningState, shrunk: set[str], step: int) -> float | None:
    """Where the run reconstructs: refit the layers reading the groups ``shrunk`` by least squares to the
    unpruned network's outputs (``pruning.reconstruction``); returns the seconds it took."""
    if state.fit_inputs is None:
        return None
    cfg, start = state.cfg, time.perf_counter()
    reconstruction.refit(state.model, state.unpruned_net, state.groups, shrunk, state.log["ids"], state.fit_inputs,
                         cfg.ridge, cfg.reconstruct_positions, cfg.seed * 1_000_037 + step)
    return time.perf_counter() - start


def start(cfg: PruneConfig, out: Path, td: TrainData | FolderData | None, progress: bool, part: Part = Part()
          ) -> tuple[PruningState, int, dict | None]:
    """The run as its last completed step left it (a new run: the base network, step 0), with its
    training data, the larger set and the unpruned network's scores of it; and, for a new run, the
    unpruned network's evaluation, its step 0 row (evaluated by the writing process alone)."""
    base = load_model(Path(cfg.base_model))
    state_path = out / "state.pt"
    if state_path.exists():
        saved = load_torch(state_path)
        if replace(PruneConfig.from_dict(json.loads(saved["config"])), workers=cfg.workers) != cfg:
            raise FacelibError(f"{out} holds a pruning run with another configuration; choose a new --out folder")
        model = load_model(out / "models" / f"step_{saved['step']:03d}_pruned.pt")
        step, log = saved["step"], json.loads(saved["log"])
    else:
        model, step = base, 0
        log = {"steps": [], "layers": [], "removed": [], "ids": {}}
    td = td or training_data(cfg, base, progress)
    set_dropout(model, json.loads(base.meta.get("config", "{}")).get("dropout"))  # as the base was trained
    larger = every_nth_pair(lfw_pairs(cfg.larger_pairs), cfg.max_pairs) if cfg.larger_pairs else []
    # the unpruned network's scores of the larger set, which every step's EER is compared with (paired);
    # a new run's step 0 row is made of the same evaluation
    fresh = step == 0 and not state_path.exists()
    base_found = (verification.evaluate_sets(base, {"dev": td.dev_pairs if fresh else [], "larger": larger},
                                             precision=cfg.eval_precision) if part.writes else {})
    if cfg.distill_weight > 0 and td.reference is None:
        td.reference, td.reference_usable = distill.reference_embeddings(td.split.train, progress=progress)
    if cfg.refit_head and fresh:
        if part.writes:  # fitted once and cached; the other processes read it from the cache
            refit_head(cfg, out, model, td)
        part.wait()
        if not part.writes:
            refit_head(cfg, out, model, td, write=False)
    if len(td.split.classes) != model.head.out_features:
        raise FacelibError("the base model's classifier does not match its training split (a shipped base has "
                           "none): retrain it with this facelib, or prune with --refit-head 1")
    groups = channel_groups(model)
    state = PruningState(cfg, out, base, model, td, larger, base_found["larger"].scores if larger and part.writes
                         else None, groups, {g.name: size(base, g) for g in groups}, log, part=part)
    if cfg.distill_weight > 0 and cfg.teacher == "unpruned":  # frozen, on the student's own batches
        state.teacher = load_model(Path(cfg.base_model)).eval().requires_grad_(False)
        state.teacher.to(memory_format=preprocessing.memory_format())
        state.teacher_targets = projection_targets(state.teacher, td, cfg)
    if not log["ids"]:
        log["ids"] = {g.name: list(range(state.initial[g.name])) for g in groups}
    if cfg.reconstruct_faces:  # evenly spaced training faces, the same at every step
        if not isinstance(td, TrainData):
            raise FacelibError("--reconstruct-faces needs the base's training faces in memory, not --data")
        pick = torch.linspace(0, td.count - 1, min(cfg.reconstruct_faces, td.count)).long()
        state.fit_inputs = preprocessing.network_input(td.input_kind, td.train_images[pick])
        state.unpruned_net = load_model(Path(cfg.base_model))
    return state, step, base_found if fresh else None


def refit_head(cfg: PruneConfig, out: Path, model: FaceNet, td: TrainData, write: bool = True) -> None:
    """A new identity classifier on the frozen network (``pruning.head``), fitted once per base, split
    and seed and shared by the runs beside this one (a run of ResNet50 spends minutes embedding the
    training faces); ``write``: record its training accuracy in ``head.json``."""
    classes = len(td.split.classes)
    cache = head.cache_file(out.parent / "heads", Path(cfg.base_model), classes, len(td.train_images), cfg.seed)
    fitted, accuracy = head.cached_fit(model, td.train_images, td.train_labels, classes, cfg.seed, cache)
    head.install_head(model, fitted)
    if write:
        save_json({"train_accuracy": accuracy, "classes": len(td.split.classes)}, out / "head.json")
