"""Softmax identity training, in one plain loop, resumable at any checkpoint.

The run folder holds ``config.json``, ``checkpoint.pt`` (written atomically every
``checkpoint_every`` steps and at the end of each epoch), ``history.csv`` (one row per epoch)
and, at the end, ``model.pt``. Calling :func:`train` again on the same folder continues
where the last checkpoint left off; the result is the same as an uninterrupted run, because
the epoch's batch order is a function of (seed, epoch) and every random state is checkpointed.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from facelib import alignment, data, distill, evaluate, paths, preprocessing, teacher
from facelib.allocator import hold_freed_memory
from facelib.config import PruneConfig, TrainConfig
from facelib.errors import FacelibError
from facelib.io import load_torch, remove_partial_writes, save_csv, save_json, save_torch
from facelib.models import ARCHS, build, save_model

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "distill_loss", "val_loss", "val_acc", "lr", "dev_eer",
                   "seconds"]


@dataclass
class TrainData:
    """Training and validation images (uint8, 129x129) with their identity labels."""

    split: data.Split
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    dev_pairs: list[data.Pair] | None
    reference: torch.Tensor | None = None  # reference-model embeddings of train_images (distillation)
    reference_usable: torch.Tensor | None = None
    points: torch.Tensor | None = None  # 5 points of each training face in its crop (online teacher)
    input_kind: str = "crop113"  # the images' form: papers' crops 129x129, or "aligned112" (5-point aligned)

    @classmethod
    def load(cls, cfg: TrainConfig, progress: bool = False) -> "TrainData":
        split = data.study_split(cfg.min_images, cfg.val_fraction, cfg.seed, cfg.max_identities,
                                 cfg.use_lfw, cfg.use_celeba, cfg.held_out)
        pairs = data.every_nth_pair(data.lfw_pairs(cfg.eval_pairs), cfg.max_pairs) if cfg.eval_pairs else None
        cached, online = cfg.distill_weight > 0 and cfg.teacher == "cached", cfg.distill_weight > 0 and cfg.teacher == "online"
        reference = distill.reference_embeddings(split.train, progress=progress) if cached else (None, None)
        kind = ARCHS[cfg.arch].input_kind
        return cls(split, alignment.load_faces(split.train, kind, progress), split.labels(split.train),
                   alignment.load_faces(split.val, kind, progress), split.labels(split.val), pairs, *reference,
                   points=teacher.points_in_crop(split.train) if online else None, input_kind=kind)


def autocast(precision: str, device: str = "cpu"):
    """Mixed precision for ``precision="bf16"``: the forward pass runs convolutions and matrix
    products in bfloat16; weights, gradients, optimizer state and the losses stay float32.
    ``bench/bench_precision.py`` measures the speed-up per network (large on CPUs with AMX)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


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


def make_optimizer(params, cfg: TrainConfig | PruneConfig) -> torch.optim.Optimizer:
    """SGD with momentum (the papers) or AdamW, with the configuration's learning rate and weight decay
    (base training, and the training between pruning steps)."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """``plateau``: the rate is multiplied by ``lr_factor`` after ``lr_patience`` epochs without a
    lower validation loss (stepped once per epoch). ``cosine``: stepped once per mini-batch, the
    rate at step ``t`` of ``T`` is ``lr * (t + 1) / W`` during the ``W`` warm-up steps, then
    ``lr * (1 + cos(pi * (t - W) / (T - W))) / 2`` (Loshchilov & Hutter 2017, without restarts)."""
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=cfg.lr_factor, patience=cfg.lr_patience)
    total = cfg.epochs * steps_per_epoch
    warm = min(round(cfg.warmup_epochs * steps_per_epoch), total - 1)  # the last step always decays

    def factor(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, total - warm)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_order(n: int, seed: int, index: int) -> torch.Tensor:
    """The order of ``n`` training images for epoch (or pruning step) ``index``: a function of
    (seed, index) alone, so a resumed run draws the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + index))


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
    state = load_torch(ckpt_path) if ckpt_path.exists() else None
    if state is not None and not TrainConfig.from_dict(json.loads(state["config"])).same_run_as(cfg):
        raise FacelibError(f"{out} holds a run with another configuration; choose a new --out folder")
    hold_freed_memory()  # steady step times: see facelib.allocator
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    td = td or TrainData.load(cfg, progress=progress)
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
    augment = torch.Generator().manual_seed(cfg.seed)
    epoch, step, history, sums = 0, 0, [], [0.0, 0, 0, 0.0]  # sums: loss, correct, seen, distill loss
    if state is None:
        save_json(cfg.to_dict(), out / "config.json")
    else:
        model.load_state_dict(state["model"])
        if proj is not None:
            proj.load_state_dict(state["projection"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        augment.set_state(state["augment_rng"])
        torch.set_rng_state(state["torch_rng"])
        epoch, step, history, sums = state["epoch"], state["step"], json.loads(state["history"]), list(state["sums"])

    def checkpoint() -> None:
        save_torch({"model": model.state_dict(), "projection": proj.state_dict() if proj is not None else None,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "augment_rng": augment.get_state(),
                    "torch_rng": torch.get_rng_state(), "epoch": epoch, "step": step,
                    "history": json.dumps(history), "sums": sums, "config": json.dumps(cfg.to_dict())}, ckpt_path)

    n = len(td.train_images)
    done_this_call = 0
    while epoch < cfg.epochs:
        start = time.perf_counter()
        order = batch_order(n, cfg.seed, epoch)
        model.train()
        bar = tqdm(range(step, steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                   initial=step, total=steps_per_epoch, unit="batch")
        for step in bar:
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            y = td.train_labels[idx].to(cfg.device)
            if online is not None:  # the teacher sees the student's own (mixed) view
                b = teacher.make_batch(td.train_images[idx], td.points[idx], online, augment, cfg.augment, cfg.mixup_alpha)
                x, ref, ok = b.x, b.reference, b.usable
            else:
                x = preprocessing.to_input(td.train_images[idx], cfg.augment, augment, cfg.jitter, cfg.erase)
                if proj is not None:
                    ref, ok = td.reference[idx], td.reference_usable[idx]
            x = x.to(cfg.device, memory_format=preprocessing.memory_format())
            with autocast(cfg.precision, cfg.device):
                emb = model.embed(x)
                logits = model.classify(emb).float()
            if cfg.mixup_alpha > 0:  # a mixed face has both identities, each by its weight
                w = b.weight.to(cfg.device)
                ce = (w * F.cross_entropy(logits, y, reduction="none")
                      + (1 - w) * F.cross_entropy(logits, y[b.partner.to(cfg.device)], reduction="none")).mean()
            else:
                ce = F.cross_entropy(logits, y)
            loss = cfg.identity_weight * ce
            d_loss = 0.0
            if proj is not None:
                ref, ok = ref.to(cfg.device), ok.to(cfg.device)
                d = (distill.similarity_loss(emb.float(), ref, ok) if cfg.distill_form == "similarity"
                     else distill.distillation_loss(proj(emb.float()), ref, ok))
                loss = loss + cfg.distill_weight * d
                d_loss = d.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if cfg.schedule == "cosine":
                scheduler.step()
            sums = [sums[0] + loss.item() * len(idx), sums[1] + (logits.argmax(1) == y).sum().item(), sums[2] + len(idx),
                    sums[3] + d_loss * len(idx)]
            bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}")
            done_this_call += 1
            last_of_epoch = step + 1 == steps_per_epoch
            if stop_after is not None and done_this_call >= stop_after and not last_of_epoch:
                step += 1
                checkpoint()
                return history
            if (step + 1) % cfg.checkpoint_every == 0 and not last_of_epoch:
                step += 1
                checkpoint()
                step -= 1
        val_loss, val_acc = validate(model, td.val_images, td.val_labels, cfg.device)
        if cfg.schedule == "plateau":
            scheduler.step(val_loss if val_loss == val_loss else sums[0] / sums[2])
        # the epoch's development EER, a progress figure, in the training precision (bf16: several times
        # faster, within 0.3 points of fp32: bench/bench_evaluate.py); the recorded base is evaluated in fp32
        dev_eer = (evaluate.evaluate_model(model, td.dev_pairs, precision=cfg.precision).eer
                   if td.dev_pairs else float("nan"))
        history.append({"epoch": epoch + 1, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                        "distill_loss": sums[3] / sums[2] if proj is not None else float("nan"),
                        "val_loss": val_loss, "val_acc": val_acc, "lr": optimizer.param_groups[0]["lr"],
                        "dev_eer": dev_eer, "seconds": time.perf_counter() - start})
        epoch, step, sums = epoch + 1, 0, [0.0, 0, 0, 0.0]
        checkpoint()
        save_csv(history, HISTORY_COLUMNS, out / "history.csv")
        if stop_after is not None and done_this_call >= stop_after and epoch < cfg.epochs:
            return history
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    if cfg.batch_norm:
        model.fold_batch_norm()  # the saved network is the plain architecture
    save_model(model, out / "model.pt", config=json.dumps(cfg.to_dict()), classes=json.dumps(td.split.classes))
    return history
