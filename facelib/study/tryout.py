"""A pruning experiment a student runs in minutes from what ships in the clone (the notebooks' "Try
it" cells and the dashboard's "Prune it yourself" page): one-shot pruning of a network's shipped
base by a share of its trunk parameters, of its filters or of its multiply-accumulates, the filters scored
by a chosen criterion on a few mini-batches of training faces, optionally a short recovery (a few dozen
mini-batches of fine-tuning, as the study's runs fine-tune), both networks evaluated on the development
pairs with their 95 % intervals and the paired interval of the difference.

    >>> found = prune_once("squeezenet", "taylor", share=0.2, normalise=True)
    >>> print(found)   # one line: the two EERs, the paired difference, the time it took

Unlike the study's runs, the scores come from the shipped base as it is (eval mode, its identity
classifier's cross-entropy), and the filters go in one shot (``selection.pruned_to``,
``selection.without_lowest``); only the recovery, where asked, trains.
"""
from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from facelib.data import preprocessing
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import metrics, timing, verification
from facelib.networks.base import FaceNet
from facelib.networks.models import count_macs, load_model
from facelib.pruning.criteria import CRITERIA, importance
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.retrain import step_batches, train_batches
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
    share: float  # asked to go: of the trunk's parameters, of the filters or of the MACs (``by``)
    by: str  # a key of SIZES
    base: FaceNet
    model: FaceNet
    base_eer: verification.Verification
    eer: verification.Verification
    difference: tuple[float, float]  # paired 95 % interval of the pruned EER minus the base's
    seconds: float
    recovery: int = 0  # mini-batches of fine-tuning after the removal

    def layers(self) -> list[dict]:
        """Each group of coupled channels: its filters before and after, and the share it lost."""
        out = []
        for g in channel_groups(self.base):
            before, after = size(self.base, g), size(self.model, g)
            out.append({"group": g.name, "filters": before, "left": after, "lost": 1 - after / before})
        return out

    def latency_ratio(self, runtime: str = "torch") -> float:
        """Batch-1 CPU latency of the pruned network over the unpruned one's, the two timed in turn
        (``timing.paired_latency_ms``), in PyTorch (``torch``) or exported to ONNX Runtime fp32 (``onnx``)."""
        if runtime == "torch":
            full, pruned = timing.paired_latency_ms(self.base, self.model)
            return pruned / full
        with tempfile.TemporaryDirectory() as folder:
            runners = [verification.OnnxFaceModel(export.export_onnx(m, Path(folder) / f"{name}.onnx"),
                                                  threads=torch.get_num_threads())
                       for name, m in (("full", self.base), ("pruned", self.model))]
            full, pruned = timing.paired_latency_ms(*runners)
        return pruned / full

    def __str__(self) -> str:
        form = " (layer-normalised)" if self.normalise else ""
        removed = 1 - self.model.trunk_parameters() / self.base.trunk_parameters()
        layers = self.layers()
        filters = 1 - sum(r["left"] for r in layers) / sum(r["filters"] for r in layers)
        return (f"{self.arch}, {self.criterion}{form}, {filters:.0%} of the filters and {removed:.0%} of the trunk's "
                f"parameters removed: EER "
                f"{_eer(self.base_eer)} -> {_eer(self.eer)} on {self.eer.pairs:,} development pairs, difference "
                f"{100 * (self.eer.eer - self.base_eer.eer):+.1f} points (paired 95 % interval "
                f"{100 * self.difference[0]:+.1f} to {100 * self.difference[1]:+.1f})"
                f"{f', after {self.recovery} mini-batches of recovery' if self.recovery else ''}; {self.seconds:.0f} s")


SIZES = {"params": "of the trunk's parameters", "filters": "of the filters", "macs": "of the multiply-accumulates"}
Progress = Callable[[float, str], None]  # (share of the work done, what is being done)


def prune_once(arch: str = "squeezenet", criterion: str = "taylor", share: float = 0.2, normalise: bool = False,
               batches: int = 5, batch_size: int = 32, seed: int = 0, by: str = "params", round_to: int = 1,
               recovery: int = 0, progress: Progress | None = None) -> TryOut:
    """Prune ``arch``'s shipped base once, removing ``share`` of its trunk parameters (``by="params"``),
    of its filters (``"filters"``) or of its multiply-accumulates (``"macs"``) by ``criterion`` (a key of
    ``pruning.criteria.CRITERIA``; ``normalise``: eq. 9; ``round_to``: every group's filters a multiple
    of it), the scores from ``batches`` mini-batches of ``batch_size`` training faces; fine-tune it for
    ``recovery`` mini-batches; evaluate both networks on the profile's development pairs (module
    docstring). ``progress`` hears of each stage."""
    _check(arch, criterion, share, by, recovery)
    tell = progress or (lambda done, what: None)
    start = time.perf_counter()
    tell(0.0, "loading the base and its training faces")
    base = load_model(configs.shipped_base_file(arch))
    td = training_faces(arch, base)
    tell(0.1, f"scoring the filters on {batches} mini-batches")
    scores = score(base, td, criterion, normalise, batches, batch_size, seed)
    tell(0.3, "removing the lowest-scoring filters")
    model = remove(base, scores, share, by, round_to)
    if recovery:
        tell(0.4, f"recovering: {recovery} mini-batches of fine-tuning")
        recover(arch, model, td, recovery, batch_size, seed)
    pairs = configs.dev_pairs()
    precision = runnable("bf16")  # as the study evaluates its steps, where the CPU has bf16 units
    tell(0.6, f"evaluating the unpruned network on {len(pairs):,} pairs")
    before = verification.evaluate_sets(base, {"dev": pairs}, precision=precision)["dev"]
    tell(0.8, f"evaluating the pruned network on {len(pairs):,} pairs")
    after = verification.evaluate_sets(model, {"dev": pairs}, precision=precision)["dev"]
    difference = metrics.eer_difference_interval(before.scores, after.scores, after.labels,
                                                 [p.a.identity for p in pairs], [p.b.identity for p in pairs])
    tell(1.0, "done")
    return TryOut(arch, criterion, normalise, share, by, base, model, before, after, difference,
                  time.perf_counter() - start, recovery)


def _check(arch: str, criterion: str, share: float, by: str, recovery: int) -> None:
    """One sentence for settings ``prune_once`` cannot run."""
    if arch not in ARCHS or criterion not in CRITERIA:
        raise FacelibError(f"unknown network {arch!r} or criterion {criterion!r}; networks: {', '.join(ARCHS)}; "
                           f"criteria: {', '.join(CRITERIA)}")
    if by not in SIZES or not 0 < share < 1:
        raise FacelibError(f"asked to remove {share!r} of the {by}: give a share between 0 and 1 (not included) "
                           f"{' or '.join(SIZES.values())} ({', '.join(SIZES)})")
    if recovery < 0:
        raise FacelibError(f"{recovery} mini-batches of recovery: give 0 (none) or more")


def remove(base: FaceNet, scores: dict[str, torch.Tensor], share: float, by: str, round_to: int) -> FaceNet:
    """A copy of ``base`` without its lowest-scoring filters: ``share`` of them (``by="filters"``), or the
    fewest that take ``share`` of the trunk's parameters (``"params"``) or of the MACs (``"macs"``)."""
    if by == "filters":
        return without_lowest(base, scores, round(share * sum(len(v) for v in scores.values())), round_to)
    if by == "macs":
        return pruned_to(base, scores, round((1 - share) * count_macs(base)), round_to, size=count_macs)
    return pruned_to(base, scores, round((1 - share) * base.trunk_parameters()), round_to)


def recover(arch: str, model: FaceNet, td: TrainData, batches: int, batch_size: int, seed: int) -> None:
    """Fine-tune ``model`` in place for ``batches`` mini-batches as the study's layer-normalised run
    fine-tunes its copies (``pruning.retrain.train_batches``: its optimiser, rate and precision)."""
    cfg = dataclasses.replace(configs.prune_config(arch, "taylor_normalised"), batch_size=batch_size,
                              distill_weight=0.0, identity_weight=1.0, precision=runnable("bf16"))
    torch.manual_seed(seed)
    train_batches(model, td, step_batches(len(td.train_images), batches, batch_size, seed + 1, 0), cfg, 0)


def training_faces(arch: str, base: FaceNet) -> TrainData:
    """The training faces of ``arch``'s base (the profile's identities), with one sentence where the
    shipped base has no classifier for them."""
    cfg = TrainConfig.from_dict({**bases.base_training_config(arch), "distill_weight": 0.0,
                                 "max_identities": layout.profile().max_identities})
    td = TrainData.load(cfg)
    if len(td.split.classes) != base.head.out_features:
        raise FacelibError(f"the shipped {arch} base classifies {base.head.out_features} people, its training "
                           f"split {len(td.split.classes)}: it was shipped without its classifier; train it again "
                           "(notebook 02)")
    return td


def score(base: FaceNet, td: TrainData, criterion: str, normalise: bool, batches: int, batch_size: int,
          seed: int) -> dict[str, torch.Tensor]:
    """Every group's filter scores from ``batches`` mini-batches of the base's own training faces
    (centre crops, eval mode: the shipped weights as they are), the identity loss backpropagated."""
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
