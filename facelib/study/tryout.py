"""A pruning experiment a student runs in minutes from what ships in the clone (the notebooks' "Try
it" cells and the dashboard's "Prune it yourself" page): one-shot pruning of a network's shipped
base by a share of its trunk parameters or of its filters, the filters scored by a chosen criterion on a few mini-batches of
training faces, both networks evaluated on the development pairs with their 95 % intervals and the
paired interval of the difference.

    >>> found = prune_once("squeezenet", "taylor", share=0.2, normalise=True)
    >>> print(found)   # one line: the two EERs, the paired difference, the time it took

Unlike the study's runs, nothing trains: the scores come from the shipped base as it is (eval mode,
its identity classifier's cross-entropy), and the filters go in one shot (``selection.pruned_to``,
``selection.without_lowest``).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from facelib.data import preprocessing
from facelib.errors import FacelibError
from facelib.evaluation import metrics, verification
from facelib.networks.base import FaceNet
from facelib.networks.models import load_model
from facelib.pruning.criteria import CRITERIA, importance
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.retrain import step_batches
from facelib.pruning.selection import pruned_to, without_lowest
from facelib.study import bases, configs, layout
from facelib.study.runs import ARCHS
from facelib.training.config import TrainConfig
from facelib.training.precision import runnable
from facelib.training.trainset import TrainData


@dataclass
class TryOut:
    """One ``prune_once`` experiment and what it found."""

    arch: str
    criterion: str
    normalise: bool
    share: float  # asked to go: of the trunk's parameters, or of the filters (``by``)
    by: str  # "params" or "filters"
    base: FaceNet
    model: FaceNet
    base_eer: verification.Verification
    eer: verification.Verification
    difference: tuple[float, float]  # paired 95 % interval of the pruned EER minus the base's
    seconds: float

    def layers(self) -> list[dict]:
        """Each group of coupled channels: its filters before and after, and the share it lost."""
        out = []
        for g in channel_groups(self.base):
            before, after = size(self.base, g), size(self.model, g)
            out.append({"group": g.name, "filters": before, "left": after, "lost": 1 - after / before})
        return out

    def __str__(self) -> str:
        form = " (layer-normalised)" if self.normalise else ""
        removed = 1 - self.model.trunk_parameters() / self.base.trunk_parameters()
        layers = self.layers()
        filters = 1 - sum(r["left"] for r in layers) / sum(r["filters"] for r in layers)
        return (f"{self.arch}, {self.criterion}{form}, {filters:.0%} of the filters and {removed:.0%} of the trunk's "
                f"parameters removed: EER "
                f"{_eer(self.base_eer)} -> {_eer(self.eer)} on {self.eer.pairs:,} development pairs, difference "
                f"{100 * (self.eer.eer - self.base_eer.eer):+.1f} points (paired 95 % interval "
                f"{100 * self.difference[0]:+.1f} to {100 * self.difference[1]:+.1f}); {self.seconds:.0f} s")


def prune_once(arch: str = "squeezenet", criterion: str = "taylor", share: float = 0.2, normalise: bool = False,
               batches: int = 5, batch_size: int = 32, seed: int = 0, by: str = "params", round_to: int = 1) -> TryOut:
    """Prune ``arch``'s shipped base once, removing ``share`` of its trunk parameters (``by="params"``)
    or of its filters (``by="filters"``) by ``criterion`` (a key of ``pruning.criteria.CRITERIA``;
    ``normalise``: eq. 9; ``round_to``: every group's filters a multiple of it), the scores from
    ``batches`` mini-batches of ``batch_size`` training faces; evaluate both networks on the profile's
    development pairs (module docstring)."""
    if arch not in ARCHS or criterion not in CRITERIA:
        raise FacelibError(f"unknown network {arch!r} or criterion {criterion!r}; networks: {', '.join(ARCHS)}; "
                           f"criteria: {', '.join(CRITERIA)}")
    if by not in ("params", "filters") or not 0 < share < 1:
        raise FacelibError(f"asked to remove {share!r} of the {by}: give a share between 0 and 1 (not included) of "
                           "the trunk's parameters (params) or of the filters (filters)")
    start = time.perf_counter()
    base = load_model(configs.shipped_base_file(arch))
    scores = score(arch, base, criterion, normalise, batches, batch_size, seed)
    if by == "params":
        model = pruned_to(base, scores, round((1 - share) * base.trunk_parameters()), round_to)
    else:
        model = without_lowest(base, scores, round(share * sum(len(v) for v in scores.values())), round_to)
    pairs = configs.dev_pairs()
    precision = runnable("bf16")  # as the study evaluates its steps, where the CPU has bf16 units
    before = verification.evaluate_sets(base, {"dev": pairs}, precision=precision)["dev"]
    after = verification.evaluate_sets(model, {"dev": pairs}, precision=precision)["dev"]
    difference = metrics.eer_difference_interval(before.scores, after.scores, after.labels,
                                                 [p.a.identity for p in pairs], [p.b.identity for p in pairs])
    return TryOut(arch, criterion, normalise, share, by, base, model, before, after, difference,
                  time.perf_counter() - start)


def score(arch: str, base: FaceNet, criterion: str, normalise: bool, batches: int, batch_size: int,
          seed: int) -> dict[str, torch.Tensor]:
    """Every group's filter scores from ``batches`` mini-batches of ``arch``'s base's own training faces
    (centre crops, eval mode: the shipped weights as they are), the identity loss backpropagated."""
    cfg = TrainConfig.from_dict({**bases.base_training_config(arch), "distill_weight": 0.0,
                                 "max_identities": layout.profile().max_identities})
    td = TrainData.load(cfg)
    if len(td.split.classes) != base.head.out_features:
        raise FacelibError(f"the shipped {arch} base classifies {base.head.out_features} people, its training split "
                           f"{len(td.split.classes)}: it was shipped without its classifier; train it again (notebook 02)")
    model = copy.deepcopy(base).eval()
    scorer = importance(criterion, model, channel_groups(model), normalise, torch.Generator().manual_seed(seed))
    for idx in step_batches(len(td.train_images), batches, batch_size, seed, 0):
        x = preprocessing.network_input(model.input_kind, td.train_images[idx])
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), td.train_labels[idx]).backward()
        scorer.after_backward()
    scorer.remove()
    return scorer.scores()


def _eer(v: verification.Verification) -> str:
    return f"{100 * v.eer:.1f} % [{100 * v.eer_low:.1f}, {100 * v.eer_high:.1f}]"
