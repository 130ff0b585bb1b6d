"""Softmax identity training, in one plain loop, resumable at any checkpoint.

The run folder holds ``config.json``, ``checkpoint.pt`` (written atomically every
``checkpoint_every`` steps and at the end of each epoch), ``history.csv`` (one row per epoch)
and, at the end, ``model.pt``. Calling :func:`train` again on the same folder continues
where the last checkpoint left off; the result is the same as an uninterrupted run, because
the epoch's batch order is a function of (seed, epoch) and every random state is checkpointed.

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
from facelib.networks.models import build, save_model
from facelib.training import distill, teacher
from facelib.training.allocator import hold_freed_memory
from facelib.training.config import TrainConfig
from facelib.training.optimizer import make_optimizer, make_schedule
from facelib.training.precision import autocast
from facelib.training.trainset import TrainData, batch_order

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "distill_loss", "val_loss", "val_acc", "lr", "dev_eer",
                   "seconds"]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def validate(model, images: torch.Tensor, labels: torch.Tensor, device: str, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the held-out images (centre crop, or aligned)."""
    if len(images) == 0:
        return float("nan"), float("nan")
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(images), batch_size):
        x = preprocessing.network_input(model.input_kind, images[i:i + batch_size]).to(device)
        y = labels[i:i + batch_size].to(device)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    return loss / len(images), correct / len(images)


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
    sums: list = field(default_factory=lambda: [0.0, 0, 0, 0.0])  # loss, correct, seen, distillation loss

    @classmethod
    def start(cls, cfg: TrainConfig, td: TrainData) -> "TrainState":
        model = build(cfg.arch, len(td.split.classes), cfg.batch_norm)
        model = model.to(cfg.device, memory_format=preprocessing.memory_format())
        # Distillation is on whenever the data carries reference embeddings or points (its weight may be 0).
        distilling = td.reference is not None or td.points is not None
        proj = distill.projection(model.embedding_dim, cfg.seed).to(cfg.device) if distilling else None
        online = teacher.Teacher(paths.reference_model(), cfg.threads) if td.points is not None else None
        params = list(model.parameters()) + (list(proj.parameters()) if proj is not None else [])
        optimizer = make_optimizer(params, cfg)
        steps_per_epoch = (len(td.train_images) + cfg.batch_size - 1) // cfg.batch_size
        scheduler = make_schedule(optimizer, cfg, steps_per_epoch)
        return cls(model, proj, online, optimizer, scheduler, torch.Generator().manual_seed(cfg.seed), steps_per_epoch)

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

    def save(self, path: Path, cfg: TrainConfig) -> None:
        save_torch({"model": self.model.state_dict(),
                    "projection": self.proj.state_dict() if self.proj is not None else None,
                    "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "augment_rng": self.augment.get_state(), "torch_rng": torch.get_rng_state(), "epoch": self.epoch,
                    "step": self.step, "history": json.dumps(self.history), "sums": self.sums,
                    "config": json.dumps(cfg.to_dict())}, path)


def train(cfg: TrainConfig, out: Path, td: TrainData | None = None, stop_after: int | None = None,
          progress: bool = True) -> list[dict]:
    """Train (or resume training) a face network into the run folder ``out``; return the history.

    ``stop_after`` ends the call after that many optimisation steps (a checkpoint is written
    first), as an interruption would; calling again resumes.
    """
    cfg.check()
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    remove_partial_writes(out)
    saved = load_torch(ckpt_path) if ckpt_path.exists() else None
    if saved is not None and not TrainConfig.from_dict(json.loads(saved["config"])).same_run_as(cfg):
        raise FacelibError(f"{out} holds a run with another configuration; choose a new --out folder")
    hold_freed_memory()  # steady step times: see facelib.training.allocator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    td = td or TrainData.load(cfg, progress=progress)
    state = TrainState.start(cfg, td)
    if saved is None:
        save_json(cfg.to_dict(), out / "config.json")
    else:
        state.restore(saved)
    done = 0  # optimisation steps taken in this call
    while state.epoch < cfg.epochs:
        start = time.perf_counter()
        done, stopped = train_epoch(state, cfg, td, ckpt_path, done, stop_after, progress)
        if stopped:
            return state.history
        end_epoch(state, cfg, td, start)
        state.save(ckpt_path, cfg)
        save_csv(state.history, HISTORY_COLUMNS, out / "history.csv")
        if stop_after is not None and done >= stop_after and state.epoch < cfg.epochs:
            return state.history
    model = state.model.cpu().to(memory_format=torch.contiguous_format).eval()
    if cfg.batch_norm:
        model.fold_batch_norm()  # the saved network is the plain architecture
    save_model(model, out / "model.pt", config=json.dumps(cfg.to_dict()), classes=json.dumps(td.split.classes))
    return state.history


def train_epoch(state: TrainState, cfg: TrainConfig, td: TrainData, ckpt_path: Path, done: int,
                stop_after: int | None, progress: bool) -> tuple[int, bool]:
    """The rest of the current epoch's mini-batches from ``state.step``, with a checkpoint every
    ``checkpoint_every`` steps; returns the steps done in this call and whether ``stop_after`` ended it."""
    order = batch_order(len(td.train_images), cfg.seed, state.epoch)
    state.model.train()
    n = state.steps_per_epoch
    bar = tqdm(range(state.step, n), desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress,
               initial=state.step, total=n, unit="batch")
    for step in bar:
        idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        loss, correct, d_loss = train_batch(state, cfg, td, idx)
        s = state.sums
        state.sums = [s[0] + loss * len(idx), s[1] + correct, s[2] + len(idx), s[3] + d_loss * len(idx)]
        bar.set_postfix(loss=f"{state.sums[0] / state.sums[2]:.3f}")
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


def train_batch(state: TrainState, cfg: TrainConfig, td: TrainData, idx: torch.Tensor) -> tuple[float, int, float]:
    """One optimizer step on the images ``idx``: identity loss (each identity of a mixed face by its
    weight) plus, where distilling, ``distill_weight`` times the distillation loss towards the
    reference. Returns the step's loss, correct predictions and distillation loss."""
    model, proj, device = state.model, state.proj, cfg.device
    y = td.train_labels[idx].to(device)
    batch = None
    if state.online is not None:  # the teacher sees the student's own (mixed) view
        batch = teacher.make_batch(td.train_images[idx], td.points[idx], state.online, state.augment, cfg.augment,
                                   cfg.mixup_alpha)
        x, ref, ok = batch.x, batch.reference, batch.usable
    else:
        x = preprocessing.to_input(td.train_images[idx], cfg.augment, state.augment, cfg.jitter, cfg.erase)
        if proj is not None:
            ref, ok = td.reference[idx], td.reference_usable[idx]
    x = x.to(device, memory_format=preprocessing.memory_format())
    with autocast(cfg.precision, device):
        emb = model.embed(x)
        logits = model.classify(emb).float()
    if cfg.mixup_alpha > 0:  # a mixed face has both identities, each by its weight
        w = batch.weight.to(device)
        ce = (w * F.cross_entropy(logits, y, reduction="none")
              + (1 - w) * F.cross_entropy(logits, y[batch.partner.to(device)], reduction="none")).mean()
    else:
        ce = F.cross_entropy(logits, y)
    loss = cfg.identity_weight * ce
    d_loss = 0.0
    if proj is not None:
        ref, ok = ref.to(device), ok.to(device)
        d = (distill.similarity_loss(emb.float(), ref, ok) if cfg.distill_form == "similarity"
             else distill.distillation_loss(proj(emb.float()), ref, ok))
        loss = loss + cfg.distill_weight * d
        d_loss = d.item()
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    if cfg.schedule == "cosine":
        state.scheduler.step()
    return loss.item(), (logits.argmax(1) == y).sum().item(), d_loss


def end_epoch(state: TrainState, cfg: TrainConfig, td: TrainData, start: float) -> None:
    """Validate, step the plateau schedule, evaluate on the development pairs and append the
    epoch's row (its time since ``start``) to the history; the next epoch starts at its first mini-batch."""
    val_loss, val_acc = validate(state.model, td.val_images, td.val_labels, cfg.device)
    sums = state.sums
    if cfg.schedule == "plateau":
        state.scheduler.step(val_loss if val_loss == val_loss else sums[0] / sums[2])
    # the epoch's development EER, a progress figure, in the training precision (bf16: several times
    # faster, within 0.3 points of fp32: bench/bench_evaluate.py); the recorded base is evaluated in fp32
    dev_eer = (verification.evaluate_model(state.model, td.dev_pairs, precision=cfg.precision).eer
               if td.dev_pairs else float("nan"))
    state.history.append({"epoch": state.epoch + 1, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                          "distill_loss": sums[3] / sums[2] if state.proj is not None else float("nan"),
                          "val_loss": val_loss, "val_acc": val_acc, "lr": state.optimizer.param_groups[0]["lr"],
                          "dev_eer": dev_eer, "seconds": time.perf_counter() - start})
    state.epoch, state.step, state.sums = state.epoch + 1, 0, [0.0, 0, 0, 0.0]
