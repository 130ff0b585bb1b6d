"""The optimizer and learning-rate schedule of base training and of the training between pruning steps."""
from __future__ import annotations

import math

import torch

from facelib.config import Config
from facelib.training.config import TrainConfig


def make_optimizer(params, cfg: Config) -> torch.optim.Optimizer:
    """SGD with momentum (the papers) or AdamW, with the configuration's learning rate and weight decay
    (a ``TrainConfig`` for base training, a ``PruneConfig`` for the training between pruning steps)."""
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
