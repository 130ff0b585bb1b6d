"""The training inside a pruning run: the mini-batches of each step, over which the filters' scores
accumulate, and the fine-tuning of a pruned copy. SGD or AdamW made afresh every call
(``training.optimizer.make_optimizer``), so a resumed run trains exactly as an uninterrupted one.

``cfg.precision="bf16"`` runs the forward passes under bfloat16 autocast, as base training
does (``training.precision.autocast``); weights, optimizer and losses stay fp32. The batches run in
channels-last layout (``data.preprocessing.memory_format``), and the model leaves in the contiguous
layout that surgery and saving expect.

With ``cfg.distill_weight > 0`` the loss is ``identity_weight`` * identity + W * distillation
(``training.distill.distillation_loss``), through a projection refitted to the current embeddings
(``training.distill.fit_projection``) towards ``cfg.teacher``: the reference's cached embedding of
the unaugmented face, or (``"unpruned"``) the frozen base network run on the student's own augmented
batch, a target that leaves the unpruned network where it is (zero loss). The scores come from the
identity loss (``score_loss="identity"``, a separate scored backward pass), from the loss that
trains (``"combined"``), or (``"reference"``) from the distillation loss towards the cached
reference, scored and not trained on: a loss whose gradient is not zero at the unpruned network,
unlike the ``"unpruned"`` target's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facelib.data import preprocessing
from facelib.errors import FacelibError
from facelib.networks.base import FaceNet
from facelib.pruning import head
from facelib.pruning.config import PruneConfig
from facelib.pruning.criteria import Importance
from facelib.training import distill
from facelib.training.config import TrainConfig
from facelib.training.optimizer import make_optimizer
from facelib.training.parallel import Part
from facelib.training.precision import autocast
from facelib.training.trainset import Batch, FolderData, TrainData, batch_order, load_train_data


def step_batches(n: int, count: int, batch_size: int, seed: int, step: int) -> list[torch.Tensor]:
    """``count`` mini-batches of the ``n`` training images for pruning step ``step`` (the epoch order
    of ``training.trainset.batch_order``, repeated where the step needs more than one pass)."""
    order = batch_order(n, seed, step)
    order = order.repeat((count * batch_size) // n + 1)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]


@dataclass
class Distillation:
    """The projections a call of ``train_batches`` distils through: towards the cached reference
    (``to_reference``, where that loss trains or is scored) and towards the frozen unpruned network
    (``to_teacher``, with ``teacher``); None where not used."""

    to_reference: nn.Linear | None = None
    to_teacher: nn.Linear | None = None
    teacher: FaceNet | None = None

    @property
    def trained(self) -> nn.Linear | None:
        """The projection the training loss goes through (and so is trained with the network)."""
        return self.to_teacher if self.teacher is not None else self.to_reference


def distillation(model: FaceNet, td: TrainData, cfg: PruneConfig, scoring: bool, teacher: FaceNet | None,
                 teacher_targets: torch.Tensor | None) -> Distillation:
    """The projections refitted to ``model`` as it is now, on the fixed faces of ``projection_faces``."""
    online = cfg.distill_weight > 0 and cfg.teacher == "unpruned"
    to_cached = cfg.distill_weight > 0 and (not online or (scoring and cfg.score_loss == "reference"))
    if not (to_cached or online):
        return Distillation()
    pick = projection_faces(td, cfg)
    own = head.embeddings(model, td.train_images[pick])
    to_reference = distill.fit_projection(own, td.reference[pick]) if to_cached else None
    if online and teacher_targets is None:
        teacher_targets = projection_targets(teacher, td, cfg)
    to_teacher = distill.fit_projection(own, teacher_targets) if online else None
    return Distillation(to_reference, to_teacher, teacher if online else None)


def train_batches(model: FaceNet, td: TrainData | FolderData, batches: list[torch.Tensor], cfg: PruneConfig,
                  step: int, collector: Importance | None = None, teacher: FaceNet | None = None,
                  teacher_targets: torch.Tensor | None = None, part: Part = Part()) -> float:
    """Train ``model`` on ``batches`` (module docstring), the scores of ``collector`` accumulating where
    one is given; returns the mean training loss. ``teacher``: the frozen base network, for
    ``cfg.teacher="unpruned"``; ``teacher_targets``: its embeddings of the projection's faces
    (``projection_targets``), made once per run where the caller keeps them. Under ``torchrun``
    (``part``) each process takes its share of every batch, augmented by that batch's draws, its loss
    and scores weighted by its share, and the gradients are averaged (``training.parallel``)."""
    dist = distillation(model, td, cfg, collector is not None, teacher, teacher_targets)
    params = list(model.parameters()) + (list(dist.trained.parameters()) if dist.trained is not None else [])
    optimizer = make_optimizer(params, cfg)
    augment = torch.Generator().manual_seed(cfg.seed * 7919 + step)
    fmt = preprocessing.memory_format()
    model.train(cfg.train).to(memory_format=fmt)  # without cfg.train: scored, batch norms and weights as they are
    total = 0.0
    for idx, batch in zip(batches, td.batches(batches, part)):
        drawn = preprocessing.Augmentation.draw_for(td.input_kind, len(idx), augment).part(batch.places)
        mine = len(batch.idx)
        everyone = int(part.total([mine])[0])
        if collector is not None:
            collector.weight = part.score_weight(mine, everyone)
        optimizer.zero_grad(set_to_none=True)
        loss = train_share(model, td, batch, drawn, cfg, dist, collector, optimizer, part.loss_scale(mine, everyone),
                           params, part) if mine else 0.0
        if not mine and collector is not None:  # this process had no readable face: it joins the averaging
            part.average_gradients(params)
            collector.after_backward()
        part.average_gradients(params)
        if cfg.train:
            optimizer.step()
        total += part.mean(loss, mine, everyone)
    model.eval().to(memory_format=torch.contiguous_format)
    return total / max(len(batches), 1)


def train_share(model: FaceNet, td: TrainData | FolderData, batch: Batch, drawn: preprocessing.Augmentation,
                cfg: PruneConfig, dist: Distillation, collector: Importance | None, optimizer: torch.optim.Optimizer,
                scale: float, params: list[torch.Tensor], part: Part) -> float:
    """The forward and backward passes of this process's share ``batch`` of a mini-batch, its loss
    weighted by ``scale`` (``Part.loss_scale``); returns its unweighted loss."""
    fmt = preprocessing.memory_format()
    x = preprocessing.network_input(td.input_kind, batch.images, train=True, drawn=drawn).contiguous(memory_format=fmt)
    with autocast(cfg.precision):
        emb = model.embed(x)
        logits = model.classify(emb)
        if dist.teacher is not None:
            with torch.no_grad():
                target = dist.teacher.embed(x).float()
    emb, loss = emb.float(), cfg.identity_weight * F.cross_entropy(logits.float(), batch.labels)
    if dist.trained is None:
        (loss * scale if scale != 1.0 else loss).backward()
        if collector is not None:
            part.average_gradients(params)  # gradient-read scores see the whole batch's
            collector.after_backward()
        return loss.item()
    loss = distilled_backward(loss, emb, target if dist.teacher is not None else None, batch.idx, td, cfg, dist,
                              collector, optimizer, scale, lambda: part.average_gradients(params))
    return loss.item()


def distilled_backward(identity: torch.Tensor, emb: torch.Tensor, target: torch.Tensor | None, idx: torch.Tensor,
                       td: TrainData, cfg: PruneConfig, dist: Distillation, collector: Importance | None,
                       optimizer: torch.optim.Optimizer, scale: float = 1.0, synchronise=lambda: None) -> torch.Tensor:
    """The gradients of identity + distillation, the scored part of them (``cfg.score_loss``) passed
    through ``collector``; returns the whole training loss. ``scale``: this process's weight on its
    losses, ``synchronise``: averages the gradients over the processes before the scores read them
    (``training.parallel``; nothing in one process)."""
    usable = td.reference_usable[idx]
    to_reference = (cfg.distill_weight * distill.distillation_loss(dist.to_reference(emb), td.reference[idx], usable)
                    if dist.to_reference is not None else None)
    d = (cfg.distill_weight * distill.distillation_loss(dist.to_teacher(emb), target, torch.ones_like(usable))
         if dist.teacher is not None else to_reference)

    def backward(loss: torch.Tensor, **kwargs) -> None:
        (loss * scale if scale != 1.0 else loss).backward(**kwargs)

    if collector is None:
        backward(identity + d)
    elif cfg.score_loss == "combined":
        backward(identity + d)
        synchronise()
        collector.after_backward()
    else:  # a scored backward pass, then the unscored rest of the training loss
        backward(identity if cfg.score_loss == "identity" else to_reference, retain_graph=True)
        synchronise()
        collector.after_backward()
        collector.active = False
        if cfg.score_loss == "reference":
            optimizer.zero_grad(set_to_none=True)
        backward(d if cfg.score_loss == "identity" else identity + d)
        collector.active = True
    return identity + d


def projection_faces(td: TrainData, cfg: PruneConfig, faces: int = 1024) -> torch.Tensor:
    """The fixed faces the distillation projection is fitted on, refitted to the network as it is
    at every call of ``train_batches``: ``faces`` of those with a reference, drawn with the seed."""
    usable = torch.nonzero(td.reference_usable).flatten()
    return usable[torch.randperm(len(usable), generator=torch.Generator().manual_seed(cfg.seed))[:faces]]


def projection_targets(teacher: FaceNet, td: TrainData, cfg: PruneConfig) -> torch.Tensor:
    """The frozen ``teacher``'s embeddings of the projection's faces: the same all run long."""
    return head.embeddings(teacher, td.train_images[projection_faces(td, cfg)])


def training_data(cfg: PruneConfig, base: FaceNet, progress: bool) -> TrainData | FolderData:
    """What the run trains and scores on: the base's own training faces (its saved configuration; a
    shipped base carries none, and the study's default split is its own), or the folder ``cfg.data``."""
    saved = json.loads(base.meta.get("config", "{}"))
    if cfg.data:
        if cfg.distill_weight > 0 or cfg.refit_head:
            raise FacelibError("--data prunes with the identity loss and the base's own classifier: set "
                               "--distill-weight 0 and --refit-head 0")
        saved = {**saved, "data": cfg.data, "boxes": cfg.boxes, "workers": cfg.workers}
    return load_train_data(TrainConfig.from_dict({**saved, "distill_weight": 0.0}), progress=progress)
