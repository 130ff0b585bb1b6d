"""Softmax identity training, in one plain loop, resumable at any checkpoint.

The run folder holds ``config.json``, ``checkpoint.pt`` (written atomically every
``checkpoint_every`` steps and at the end of each epoch), ``history.csv`` (one row per epoch)
and, at the end, ``model.pt``. Calling :func:`train` again on the same folder continues
where the last checkpoint left off; the result is the same as an uninterrupted run, because
the epoch's batch order is a function of (seed, epoch) and every random state is checkpointed.
Under ``torchrun`` each process takes its share of every mini-batch and DistributedDataParallel
averages the gradients (``training.parallel``): the same steps as one process, which rank 0 alone
writes; a run resumes on any number of processes.

    for each epoch:
        for each mini-batch of the epoch's order:
            loss = identity_weight * cross-entropy + distill_weight * distillation (if any)
            one optimizer step (and one step of the cosine schedule)
        validate, evaluate on the development pairs, checkpoint
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from facelib.data import paths, preprocessing
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.io import load_torch, remove_partial_writes, save_csv, save_json, save_torch
from facelib.networks.base import FaceNet
from facelib.networks.models import build, save_model, set_dropout
from facelib.training import distill, parallel, teacher
from facelib.training.allocator import hold_freed_memory
from facelib.training.config import TrainConfig
from facelib.training.optimizer import make_optimizer, make_schedule
from facelib.training.parallel import Part
from facelib.training.precision import autocast
from facelib.training.trainset import Batch, FolderData, TrainData, batch_order, load_train_data

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "distill_loss", "val_loss", "val_acc", "lr", "dev_eer",
                   "seconds"]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def validate(model, batches, device: str) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the held-out faces, ``batches`` of (images, labels) (centre
    crop, or aligned)."""
    model.eval()
    loss, correct, seen = 0.0, 0, 0
    for images, labels in batches:
        x = preprocessing.network_input(model.input_kind, images).to(device)
        y = labels.to(device)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    return (loss / seen, correct / seen) if seen else (float("nan"), float("nan"))


@dataclass
class TrainState:
    """Everything a checkpoint holds: the network, the distillation projection (None without
    distillation), the optimizer and schedule, the augmentation generator and where the run is."""

    model: FaceNet
    proj: torch.nn.Linear | None
    online: teacher.Teacher | None  # the reference run on the student's own view (online teacher)
    optimizer: torch.optim.Optimizer
    scheduler: object
    augment: torch.Generator
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    sums: list = field(default_factory=lambda: [0.0, 0, 0, 0.0])  # loss, correct, seen, distillation loss: all ranks'
    part: Part = Part()
    forward: torch.nn.Module | None = None  # the training pass (``parallel.wrap``), made once restored
    unreadable: int = 0  # training files that could not be read, all ranks (streaming)

    @classmethod
    def start(cls, cfg: TrainConfig, td: TrainData | FolderData, part: Part = Part()) -> "TrainState":
        model = build(cfg.arch, len(td.split.classes), cfg.batch_norm)
        set_dropout(model, cfg.dropout)
        model = model.to(cfg.device, memory_format=preprocessing.memory_format())
        # Distillation is on whenever the data carries reference embeddings or points (its weight may be 0).
        distilling = td.reference is not None or td.points is not None
        proj = distill.projection(model.embedding_dim, cfg.seed).to(cfg.device) if distilling else None
        online = teacher.Teacher(paths.reference_model(), cfg.threads) if td.points is not None else None
        params = list(model.parameters()) + (list(proj.parameters()) if proj is not None else [])
        optimizer = make_optimizer(params, cfg)
        steps_per_epoch = (td.count + cfg.batch_size - 1) // cfg.batch_size
        scheduler = make_schedule(optimizer, cfg, steps_per_epoch)
        return cls(model, proj, online, optimizer, scheduler, torch.Generator().manual_seed(cfg.seed), steps_per_epoch,
                   part=part)

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if self.proj is not None:
            self.proj.load_state_dict(state["projection"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.augment.set_state(state["augment_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step, self.history = state["epoch"], state["step"], json.loads(state["history"])
        self.sums = list(state["sums"])
        self.unreadable = int(state.get("unreadable", 0))

    def save(self, path: Path, cfg: TrainConfig) -> None:
        """The checkpoint, written by rank 0 alone; the other ranks wait for it."""
        if self.part.writes:
            self._write(path, cfg)
        self.part.wait()

    def _write(self, path: Path, cfg: TrainConfig) -> None:
        save_torch({"model": self.model.state_dict(),
                    "projection": self.proj.state_dict() if self.proj is not None else None,
                    "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "augment_rng": self.augment.get_state(), "torch_rng": torch.get_rng_state(), "epoch": self.epoch,
                    "step": self.step, "history": json.dumps(self.history), "sums": self.sums,
                    "unreadable": self.unreadable,
                    "config": json.dumps(cfg.to_dict())}, path)


def train(cfg: TrainConfig, out: Path, td: TrainData | FolderData | None = None, stop_after: int | None = None,
          progress: bool = True) -> list[dict]:
    """Train (or resume training) a face network into the run folder ``out``; return the history.

    ``stop_after`` ends the call after that many optimisation steps (a checkpoint is written
    first), as an interruption would; calling again resumes.
    """
    cfg.check()
    part = parallel.join(cfg.device)
    if part.world > 1 and cfg.distill_weight > 0 and cfg.teacher == "online":
        raise FacelibError("the online teacher draws each process's views apart: under torchrun use --teacher cached")
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if part.writes:
        remove_partial_writes(out)
    saved = load_torch(ckpt_path) if ckpt_path.exists() else None
    if saved is not None and not TrainConfig.from_dict(json.loads(saved["config"])).same_run_as(cfg):
        raise FacelibError(f"{out} holds a run with another configuration; choose a new --out folder")
    hold_freed_memory()  # steady step times: see facelib.training.allocator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    td = td or load_train_data(cfg, progress=progress and part.writes)
    if getattr(td, "left_out", 0) and part.writes:
        tqdm.write(f"{td.left_out} people of {cfg.data} have fewer than {cfg.min_images} images and were left out")
    state = TrainState.start(cfg, td, part)
    if saved is None:
        if part.writes:
            save_json(cfg.to_dict(), out / "config.json")
    else:
        state.restore(saved)
    state.forward = parallel.wrap(state.model, state.proj if cfg.distill_form == "embedding" else None, part)
    done = 0  # optimisation steps taken in this call
    while state.epoch < cfg.epochs:
        start = time.perf_counter()
        done, stopped = train_epoch(state, cfg, td, ckpt_path, done, stop_after, progress and part.writes)
        if stopped:
            return state.history
        end_epoch(state, cfg, td, start)
        state.save(ckpt_path, cfg)
        if part.writes:
            save_csv(state.history, HISTORY_COLUMNS, out / "history.csv")
        if stop_after is not None and done >= stop_after and state.epoch < cfg.epochs:
            return state.history
    if part.writes:
        model = state.model.cpu().to(memory_format=torch.contiguous_format).eval()
        if cfg.batch_norm:
            model.fold_batch_norm()  # the saved network is the plain architecture
        save_model(model, out / "model.pt", config=json.dumps(cfg.to_dict()), classes=json.dumps(td.split.classes))
    part.wait()
    return state.history


def train_epoch(state: TrainState, cfg: TrainConfig, td: TrainData | FolderData, ckpt_path: Path, done: int,
                stop_after: int | None, progress: bool) -> tuple[int, bool]:
    """The rest of the current epoch's mini-batches from ``state.step``, with a checkpoint every
    ``checkpoint_every`` steps; returns the steps done in this call and whether ``stop_after`` ended it."""
    order = batch_order(td.count, cfg.seed, state.epoch)
    state.model.train()
    n = state.steps_per_epoch
    steps = [order[step * cfg.batch_size:(step + 1) * cfg.batch_size] for step in range(state.step, n)]
    bar = tqdm(range(state.step, n), desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress,
               initial=state.step, total=n, unit="batch")
    for step, idx, batch in zip(bar, steps, td.batches(steps, state.part)):
        readable = state.part.total([len(batch.idx), batch.unreadable])
        loss, correct, d_loss = train_batch(state, cfg, td, batch, len(idx), int(readable[0]))
        mine = len(batch.idx)
        totals = state.part.total([loss * mine, correct, mine, d_loss * mine])
        state.sums = [a + b for a, b in zip(state.sums, totals)]
        state.unreadable += int(readable[1])
        bar.set_postfix(loss=f"{state.sums[0] / max(state.sums[2], 1):.3f}")
        done += 1
        last_of_epoch = step + 1 == n
        if stop_after is not None and done >= stop_after and not last_of_epoch:
            state.step = step + 1
            state.save(ckpt_path, cfg)
            return done, True
        if (step + 1) % cfg.checkpoint_every == 0 and not last_of_epoch:
            state.step = step + 1
            state.save(ckpt_path, cfg)
    return done, False


def train_batch(state: TrainState, cfg: TrainConfig, td: TrainData | FolderData, batch: Batch, size: int,
                readable: int) -> tuple[float, int, float]:
    """One optimizer step on this rank's faces ``batch`` of a global mini-batch of ``size`` faces
    (``readable`` of them read, all ranks): identity loss (each identity of a mixed face by its
    weight) plus, where distilling, ``distill_weight`` times the distillation loss towards the
    reference; each face augmented by its own draws of the global batch. Returns the rank's mean
    loss, correct predictions and mean distillation loss."""
    proj, device = state.proj, cfg.device
    y = batch.labels.to(device)
    mixed = None
    if state.online is not None:  # the teacher sees the student's own (mixed) view
        mixed = teacher.make_batch(batch.images, td.points[batch.idx], state.online, state.augment, cfg.augment,
                                   cfg.mixup_alpha)
        x, ref, ok = mixed.x, mixed.reference, mixed.usable
    else:
        drawn = (preprocessing.Augmentation.draw(size, state.augment, cfg.jitter, cfg.erase).part(batch.places)
                 if cfg.augment else None)
        x = preprocessing.to_input(batch.images, cfg.augment, jitter=cfg.jitter, erase=cfg.erase, drawn=drawn)
        if proj is not None:
            ref, ok = td.reference[batch.idx], td.reference_usable[batch.idx]
    x = x.to(device, memory_format=preprocessing.memory_format())
    with autocast(cfg.precision, device):
        emb, logits, projected = state.forward(x)
        logits = logits.float()
    if cfg.mixup_alpha > 0:  # a mixed face has both identities, each by its weight
        w = mixed.weight.to(device)
        ce = (w * F.cross_entropy(logits, y, reduction="none")
              + (1 - w) * F.cross_entropy(logits, y[mixed.partner.to(device)], reduction="none")).mean()
    else:
        ce = F.cross_entropy(logits, y)
    loss = cfg.identity_weight * ce
    d_loss = 0.0
    if proj is not None:
        ref, ok = ref.to(device), ok.to(device)
        d = (distill.similarity_loss(emb.float(), ref, ok) if cfg.distill_form == "similarity"
             else distill.distillation_loss(projected, ref, ok))
        loss = loss + cfg.distill_weight * d
        d_loss = d.item()
    scale = state.part.loss_scale(len(y), readable)
    state.optimizer.zero_grad(set_to_none=True)
    (loss * scale if len(y) else logits.sum() * 0.0).backward()  # an empty share still joins the averaging
    state.optimizer.step()
    if cfg.schedule == "cosine":
        state.scheduler.step()
    return (loss.item() if len(y) else 0.0), (logits.argmax(1) == y).sum().item(), d_loss


def end_epoch(state: TrainState, cfg: TrainConfig, td: TrainData | FolderData, start: float) -> None:
    """Validate, step the plateau schedule, evaluate on the development pairs (rank 0) and append the
    epoch's row (its time since ``start``) to the history; the next epoch starts at its first mini-batch."""
    val_loss, val_acc = validate(state.model, td.val_batches(), cfg.device)
    sums = state.sums
    if cfg.schedule == "plateau":
        state.scheduler.step(val_loss if val_loss == val_loss else sums[0] / sums[2])
    # the epoch's development EER, a progress figure, in the training precision (bf16: several times
    # faster, within 0.3 points of fp32: bench/bench_evaluate.py); the recorded base is evaluated in fp32
    dev_eer = (verification.evaluate_model(state.model, td.dev_pairs, precision=cfg.precision).eer
               if td.dev_pairs and state.part.writes else float("nan"))
    if state.unreadable and state.part.writes:
        tqdm.write(f"{state.unreadable} training images could not be read so far; they were skipped")
    state.history.append({"epoch": state.epoch + 1, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                          "distill_loss": sums[3] / sums[2] if state.proj is not None else float("nan"),
                          "val_loss": val_loss, "val_acc": val_acc, "lr": state.optimizer.param_groups[0]["lr"],
                          "dev_eer": dev_eer, "seconds": time.perf_counter() - start})
    state.epoch, state.step, state.sums = state.epoch + 1, 0, [0.0, 0, 0, 0.0]
