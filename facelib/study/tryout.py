"""A pruning experiment a student runs in minutes from what ships in the clone (the notebooks' "Try
it" cells and the dashboard's "Prune it yourself" page): one-shot pruning of a network's shipped
base by a share of its trunk parameters, of its filters or of its multiply-accumulates, the filters scored
by a chosen criterion on a few mini-batches of training faces, optionally a short recovery (a few dozen
mini-batches of fine-tuning, as the study's runs fine-tune), both networks evaluated on the development
pairs (the pretrained MobileFaceNet: as many pairs of LFW View 2, evenly spaced) with their 95 % intervals
and the paired interval of the difference.

    >>> found = prune_once("squeezenet", "taylor", share=0.2, normalise=True)
    >>> print(found)   # one line: the two EERs, the paired difference, the time it took

Unlike the study's runs, the scores come from the shipped base as it is (eval mode, its identity
classifier's cross-entropy), and the filters go in one shot (``selection.pruned_to``,
``selection.without_lowest``); only the recovery, where asked, trains. The pretrained MobileFaceNet ships
without a classifier: it gets the one its pruning runs fit (``pruning.head``, fitted once, then read from
their cache). The unpruned network's scores of the pairs are kept on disk (``runs/<profile>/tryout/``) for
the next experiment on the same base.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from facelib import io
from facelib.data import preprocessing
from facelib.data.pairs import Pair, every_nth_pair, lfw_pairs
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import metrics, timing, verification
from facelib.networks.base import FaceNet
from facelib.networks.models import count_macs, load_model
from facelib.pruning import head, reconstruction
from facelib.pruning.criteria import CRITERIA, importance
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.reconstruction_error import Reference
from facelib.pruning.retrain import step_batches, train_batches
from facelib.pruning.selection import pruned_to, select_to_remove, without_lowest
from facelib.study import bases, configs, layout
from facelib.study.runs import ARCHS, PRETRAINED
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
    refit_faces: int = 0  # training faces the layers reading removed channels were refitted on (0: none)
    pairs: str = "development pairs"  # what the two were evaluated on (PAIRS)

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
                f"{_eer(self.base_eer)} -> {_eer(self.eer)} on {self.eer.pairs:,} {self.pairs}, difference "
                f"{100 * (self.eer.eer - self.base_eer.eer):+.1f} points (paired 95 % interval "
                f"{100 * self.difference[0]:+.1f} to {100 * self.difference[1]:+.1f})"
                f"{f', refitted on {self.refit_faces:,} faces' if self.refit_faces else ''}"
                f"{f', after {self.recovery} mini-batches of recovery' if self.recovery else ''}; {self.seconds:.0f} s")


NETWORKS = (*ARCHS, PRETRAINED)  # what prune_once prunes: the shipped bases and the pretrained MobileFaceNet
PAIRS = {"dev": "development pairs", "view2": "LFW View 2 pairs"}  # what each network is evaluated on
SIZES = {"params": "of the trunk's parameters", "filters": "of the filters", "macs": "of the multiply-accumulates"}
Progress = Callable[[float, str], None]  # (share of the work done, what is being done)


def prune_once(arch: str = "squeezenet", criterion: str = "taylor", share: float = 0.2, normalise: bool = False,
               batches: int = 5, batch_size: int = 32, seed: int = 0, by: str = "params", round_to: int = 1,
               recovery: int = 0, refit_faces: int = 0, progress: Progress | None = None) -> TryOut:
    """Prune ``arch``'s shipped base once, removing ``share`` of its trunk parameters (``by="params"``),
    of its filters (``"filters"``) or of its multiply-accumulates (``"macs"``) by ``criterion`` (a key of
    ``pruning.criteria.CRITERIA``; ``normalise``: eq. 9; ``round_to``: every group's filters a multiple
    of it), the scores from ``batches`` mini-batches of ``batch_size`` training faces; refit the layers
    reading removed channels by least squares on ``refit_faces`` evenly spaced training faces
    (``pruning.reconstruction``; the reconstruction criterion scores on them too); fine-tune it for
    ``recovery`` mini-batches; evaluate both networks on the profile's development pairs (module
    docstring). ``progress`` hears of each stage."""
    _check(arch, criterion, share, by, recovery, refit_faces)
    tell = progress or (lambda done, what: None)
    start = time.perf_counter()
    tell(0.0, "loading the base and its training faces")
    file = base_file(arch)
    base = load_model(file)
    td = training_faces(arch, base, file)
    fit_on = fit_inputs(base, td, refit_faces) if refit_faces else None
    tell(0.1, f"scoring the filters on {f'{refit_faces} faces' if criterion == 'reconstruction' else f'{batches} mini-batches'}")
    scores = score(base, td, criterion, normalise, batches, batch_size, seed, fit_on)
    tell(0.3, "removing the lowest-scoring filters")
    model = remove(base, scores, share, by, round_to)
    if refit_faces:
        tell(0.35, f"refitting the layers that read removed channels on {refit_faces:,} faces")
        refit_readers(base, model, scores, round_to, fit_on)
    if recovery:
        tell(0.4, f"recovering: {recovery} mini-batches of fine-tuning")
        recover(arch, model, td, recovery, batch_size, seed)
    name, pairs = evaluation_pairs(arch)
    precision = runnable("bf16")  # as the study evaluates its steps, where the CPU has bf16 units
    tell(0.6, f"evaluating the unpruned network on {len(pairs):,} pairs")
    before = base_verification(base, file, name, pairs, precision)
    tell(0.7, f"evaluating the pruned network on {len(pairs):,} pairs")
    after = verification.evaluate_sets(model, {name: pairs}, precision=precision)[name]
    difference = metrics.eer_difference_interval(before.scores, after.scores, after.labels,
                                                 [p.a.identity for p in pairs], [p.b.identity for p in pairs])
    tell(1.0, "done")
    return TryOut(arch, criterion, normalise, share, by, base, model, before, after, difference,
                  time.perf_counter() - start, recovery=recovery, pairs=PAIRS[name], refit_faces=refit_faces)


def base_file(arch: str) -> Path:
    """The unpruned network ``prune_once`` starts from: the shipped base; the pretrained MobileFaceNet's
    base file, written from its ONNX weights the first time (``configs.pretrained_base``)."""
    if arch == PRETRAINED:
        return configs.pretrained_base()
    file = configs.shipped_base_file(arch)
    if not file.exists():
        raise FacelibError(f"the shipped {arch} base ({file.relative_to(layout.ROOT)}) is missing: "
                           f"notebooks/{layout.notebook_for(arch)}.ipynb trains and ships it")
    return file


def evaluation_pairs(arch: str) -> tuple[str, list[Pair]]:
    """The pairs both networks are judged on (a key of PAIRS, the pairs): the profile's development
    pairs; for the pretrained MobileFaceNet, which was trained on other people, as many of LFW View 2
    (``data.pairs.every_nth_pair``: a sixth of View 2's 6,000 takes it a sixth of the time)."""
    dev = configs.dev_pairs()
    return ("view2", every_nth_pair(lfw_pairs("view2"), len(dev))) if arch == PRETRAINED else ("dev", dev)


def base_verification(base: FaceNet, file: Path, name: str, pairs: list[Pair],
                      precision: str) -> verification.Verification:
    """The unpruned network's verification of ``pairs`` (named ``name``), its scores kept on disk for
    the next experiment on the same base file (its digest in the name: a replaced base is scored anew)."""
    cache = base_scores_file(file, name, len(pairs), precision)
    if cache.exists():
        return verification.verification(np.load(cache), pairs)
    found = verification.evaluate_sets(base, {name: pairs}, precision=precision)[name]
    io.save_array(cache, found.scores)
    return found


def _check(arch: str, criterion: str, share: float, by: str, recovery: int, refit_faces: int = 0) -> None:
    """One sentence for settings ``prune_once`` cannot run."""
    if arch not in NETWORKS or criterion not in CRITERIA:
        raise FacelibError(f"unknown network {arch!r} or criterion {criterion!r}; networks: {', '.join(NETWORKS)}; "
                           f"criteria: {', '.join(CRITERIA)}")
    if by not in SIZES or not 0 < share < 1:
        raise FacelibError(f"asked to remove {share!r} of the {by}: give a share between 0 and 1 (not included) "
                           f"{' or '.join(SIZES.values())} ({', '.join(SIZES)})")
    if recovery < 0:
        raise FacelibError(f"{recovery} mini-batches of recovery: give 0 (none) or more")
    if refit_faces and refit_faces < 5 or refit_faces < 0 or (criterion == "reconstruction" and not refit_faces):
        raise FacelibError(f"refit on {refit_faces} faces: give 0 (no refit) or at least 5 (a fifth of them check "
                           "each fit); the reconstruction criterion scores on them, so it needs them")


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


def base_scores_file(file: Path, name: str, count: int, precision: str) -> Path:
    """Where ``base_verification`` keeps the scores of the base in ``file`` on ``count`` pairs ``name``."""
    return layout.runs_dir() / "tryout" / f"{file.stem}-{io.file_digest(file)[:12]}-{name}{count}-{precision}.npy"


def training_faces(arch: str, base: FaceNet, file: Path) -> TrainData:
    """The training faces of ``arch``'s base (the profile's identities; the pretrained MobileFaceNet:
    the split its base file was written with), with one sentence where the shipped base has no
    classifier for them. The pretrained MobileFaceNet gets its pruning runs' fitted classifier."""
    if arch == PRETRAINED:
        cfg = TrainConfig.from_dict({**json.loads(base.meta.get("config", "{}")), "distill_weight": 0.0})
    else:
        cfg = TrainConfig.from_dict({**bases.base_training_config(arch), "distill_weight": 0.0,
                                     "max_identities": layout.profile().max_identities})
    td = TrainData.load(cfg)
    if arch == PRETRAINED:
        classes, seed = len(td.split.classes), configs.prune_config(arch, "taylor_normalised").seed
        cache = head.cache_file(layout.prune_run_dir(arch, "taylor_normalised").parent / "heads", file, classes,
                                len(td.train_images), seed)
        fitted, _ = head.cached_fit(base, td.train_images, td.train_labels, classes, seed, cache)
        head.install_head(base, fitted)
    if len(td.split.classes) != base.head.out_features:
        raise FacelibError(f"the shipped {arch} base classifies {base.head.out_features} people, its training "
                           f"split {len(td.split.classes)}: it was shipped without its classifier; train it again "
                           "(notebook 02)")
    return td


def fit_inputs(base: FaceNet, td: TrainData, faces: int) -> torch.Tensor:
    """``faces`` evenly spaced training faces as the network reads them (what a refit fits on)."""
    pick = torch.linspace(0, len(td.train_images) - 1, min(faces, len(td.train_images))).long()
    return preprocessing.network_input(base.input_kind, td.train_images[pick])


def refit_readers(base: FaceNet, model: FaceNet, scores: dict[str, torch.Tensor], round_to: int,
                  inputs: torch.Tensor) -> None:
    """Refit, in place, the layers of ``model`` (``base`` without its lowest ``scores``) that read removed
    channels (``pruning.reconstruction.refit``), against ``base`` on ``inputs``."""
    groups = channel_groups(base)
    count = sum(size(base, g) - size(model, g) for g in groups)
    chosen = select_to_remove(scores, count, round_to=round_to)  # what remove() took out: the same choice
    ids = {g.name: [i for i in range(size(base, g)) if i not in set(chosen.get(g.name, ()))] for g in groups}
    if any(len(ids[g.name]) != size(model, g) for g in groups):
        raise FacelibError("the refit could not tell which filters were removed: try --round-to 1")
    reconstruction.refit(model, base, groups, set(chosen), ids, inputs)


def score(base: FaceNet, td: TrainData, criterion: str, normalise: bool, batches: int, batch_size: int,
          seed: int, fit_on: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every group's filter scores from ``batches`` mini-batches of the base's own training faces
    (centre crops, eval mode: the shipped weights as they are), the identity loss backpropagated; the
    reconstruction criterion's from the faces ``fit_on`` (``pruning.reconstruction_error``)."""
    model = copy.deepcopy(base).eval()
    groups = channel_groups(model)
    if criterion == "reconstruction":
        ref = Reference(base, fit_on, {g.name: list(range(size(base, g))) for g in groups}, seed=seed)
        return importance(criterion, model, groups, normalise, reference=ref).scores()
    scorer = importance(criterion, model, groups, normalise, torch.Generator().manual_seed(seed))
    for idx in step_batches(len(td.train_images), batches, batch_size, seed, 0):
        x = preprocessing.network_input(model.input_kind, td.train_images[idx])
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), td.train_labels[idx]).backward()
        scorer.after_backward()
    scorer.remove()
    return scorer.scores()


def _eer(v: verification.Verification) -> str:
    return f"{100 * v.eer:.1f} % [{100 * v.eer_low:.1f}, {100 * v.eer_high:.1f}]"
