"""Data parallelism under ``torchrun``: each process (rank) takes its share of every global mini-batch,
``torch.nn.parallel.DistributedDataParallel`` averages the gradients, and rank 0 alone writes.

    torchrun --nproc_per_node=2 -m facelib train --data vggface2/train --out runs/vgg

Launched without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is the identity:
one process, the whole batch, nothing wrapped. Worked example: a global batch of 5 faces on 2 ranks
gives rank 0 places 0-2 and rank 1 places 3-4 (``Part.places``); each rank's loss, a mean over its
own faces, is scaled by (its faces / all faces) x ranks (``Part.loss_scale``), so that the average
DistributedDataParallel takes of the ranks' gradients is the gradient of the mean over all 5 faces,
as one process computes it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Part:
    """This process's place among ``world`` data-parallel processes."""

    rank: int = 0
    world: int = 1

    @property
    def writes(self) -> bool:
        """Whether this process writes checkpoints, histories and results (rank 0 alone)."""
        return self.rank == 0

    def places(self, n: int) -> torch.Tensor:
        """This rank's places in a global batch of ``n``: consecutive, as even as ``torch.tensor_split`` makes them."""
        return torch.tensor_split(torch.arange(n), self.world)[self.rank]

    def loss_scale(self, mine: int, everyone: int) -> float:
        """The factor on a rank's mean loss over its ``mine`` faces of ``everyone`` (module docstring)."""
        return mine * self.world / everyone if everyone else 0.0

    def score_weight(self, mine: int, everyone: int) -> float:
        """The weight on a rank's Taylor scores of a batch (eq. 8 over its ``mine`` faces of ``everyone``,
        its loss weighted by ``loss_scale``) that makes the ranks' sum the one-process score: eq. 8 is a
        mean over faces of terms each proportional to 1 / ``everyone`` (the loss's mean), so a rank's
        terms, ``world`` times larger and averaged over ``mine``, weigh ``mine / (world * everyone)``."""
        return mine / (self.world * everyone) if everyone else 0.0

    def mean(self, value: float, mine: int, everyone: int) -> float:
        """The mean over all ranks' faces of a quantity whose mean over this rank's ``mine`` is ``value``."""
        return value if self.world == 1 else self.total([value * mine])[0] / max(everyone, 1)

    def total_tensor(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks (itself in one process)."""
        if self.world == 1:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        """Each parameter's gradient averaged over the ranks, in place (a missing one counts as zero).
        The pruning loop's steps take two backward passes where its scores come from one part of the
        loss (``pruning.retrain``), which DistributedDataParallel's reducer (one backward per forward)
        does not allow; averaging is linear, so averaging after each pass gives the same gradients."""
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= self.world

    def total(self, values: list[float]) -> list[float]:
        """``values`` summed over the ranks (unchanged in one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def wait(self) -> None:
        """Until every rank is here (after rank 0 wrote what the others will read)."""
        if self.world > 1:
            dist.barrier()


def join(device: str = "cpu") -> Part:
    """This process's ``Part``: under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is joined,
    gloo on CPU, NCCL on CUDA (each rank on GPU ``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Part()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Part(dist.get_rank(), dist.get_world_size())


def leave(part: Part) -> None:
    """Leave the process group (the end of a run under ``torchrun``)."""
    if part.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


class EmbedAndClassify(nn.Module):
    """One training forward pass as a module, so that DistributedDataParallel sees every parameter
    it must average: the network's embedding and identity logits, and the distillation projection
    of the embedding (fp32, outside any autocast) where there is one."""

    def __init__(self, model: nn.Module, projection: nn.Module | None) -> None:
        super().__init__()
        self.model, self.projection = model, projection

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        emb = self.model.embed(x)
        logits = self.model.classify(emb)
        if self.projection is None:
            return emb, logits, None
        with torch.autocast(x.device.type, enabled=False):
            return emb, logits, self.projection(emb.float())


def wrap(model: nn.Module, projection: nn.Module | None, part: Part) -> nn.Module:
    """The training forward pass of ``model`` (``EmbedAndClassify``), under DistributedDataParallel
    when there are several ranks (which starts them all from rank 0's weights)."""
    step = EmbedAndClassify(model, projection)
    if part.world == 1:
        return step
    on_gpu = next(model.parameters()).device.type == "cuda"
    return nn.parallel.DistributedDataParallel(step, device_ids=[torch.cuda.current_device()] if on_gpu else None)
