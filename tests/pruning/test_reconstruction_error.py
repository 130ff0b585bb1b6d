"""The reconstruction criterion (``pruning.reconstruction_error``, ThiNet's greedy search with the
least-squares refit counted in) on the shipped SqueezeNet and real training faces, and a pruning run
by reconstruction alone (``--criterion reconstruction --train 0``)."""
from __future__ import annotations

import copy

import pytest
import torch
from test_reconstruction import base_of, faces_for

from facelib.errors import FacelibError
from facelib.io import read_csv
from facelib.networks.models import load_model
from facelib.pruning import reconstruction, reconstruction_error
from facelib.pruning.config import PruneConfig
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.loop import prune
from facelib.pruning.surgery import remove_chosen
from facelib.study import configs


def refitted_error(sums: reconstruction.Sums, ridge: float, kept: torch.Tensor) -> float:
    """The smallest value of (1)'s objective over weights on the columns ``kept`` only (ridge as over all
    columns), by solving it afresh: what (2) says without solving."""
    a, c = sums.normal_equations(ridge)
    a, c = a[kept][:, kept], c[kept]
    return sums.spread() - float((c * torch.linalg.solve(a, c)).sum())


def test_scores_are_the_error_each_removal_leaves_after_refitting(full_profile):
    """Fire features.3's squeeze (16 channels, read by expand1x1 as one column each and by expand3x3 as
    nine): the first channel the greedy path takes is the one whose removal, every reader refitted from
    scratch, raises the error least, and its score is that rise (each reader's over its spread, the
    readers' mean); the second's score adds the rise of taking both out."""
    base = base_of("squeezenet")
    groups = channel_groups(base)
    group = next(g for g in groups if g.name == "features.3.squeeze")
    ref = reconstruction_error.Reference(base, faces_for(base, 40), {g.name: list(range(size(base, g))) for g in groups},
                                         positions=16)
    readers = [name for name, _ in group.consumers]
    sums, _ = reconstruction_error.gather(base, groups, ref, readers, [])
    areas = [base.get_submodule(n).kernel_size[0] ** 2 for n in readers]

    def rise(gone: list[int]) -> float:
        out = []
        for name, area in zip(readers, areas):
            d = len(sums[name].sx)
            kept = torch.tensor([i for i in range(d) if i // area not in gone])
            out.append((refitted_error(sums[name], ref.ridge, kept) - refitted_error(sums[name], ref.ridge,
                                                                                       torch.arange(d)))
                       / sums[name].spread())
        return sum(out) / len(out)

    scores = reconstruction_error.scores(base, groups, ref)[group.name]
    order = scores.argsort().tolist()
    singles = [rise([k]) for k in range(16)]
    assert order[0] == min(range(16), key=singles.__getitem__)
    assert scores[order[0]] == pytest.approx(singles[order[0]], rel=1e-6, abs=1e-9)
    assert scores[order[1]] == pytest.approx(rise(order[:2]), rel=1e-6, abs=1e-9)
    assert all(b >= a for a, b in zip(scores[order].tolist(), scores[order][1:].tolist()))


def test_a_run_by_reconstruction_alone(tmp_path, full_profile):
    """``--criterion reconstruction --train 0``: a step removes the filters with the lowest scores, nothing
    is trained (no loss), and the network is the base with those filters taken out and only the layers
    reading them refitted: every other weight and batch-norm statistic is the base's."""
    common = dict(base_model=str(configs.shipped_base_file("squeezenet").relative_to(configs.layout.ROOT)),
                  steps=1, filters_per_step=32, batches_per_step=1, batch_size=16, finetune_every=0, max_pairs=60,
                  reconstruct_faces=60, reconstruct_positions=16)
    prune(PruneConfig(**common, criterion="reconstruction", train=False), tmp_path / "run", progress=False)
    steps = read_csv(tmp_path / "run" / "steps.csv", numeric=True)
    removed = read_csv(tmp_path / "run" / "removed.csv", numeric=True)
    assert len(removed) == 32 and steps[1]["refit_seconds"] > 0 and steps[1]["loss"] != steps[1]["loss"]  # NaN
    base = base_of("squeezenet")
    groups = channel_groups(base)
    plain = copy.deepcopy(base)
    remove_chosen(plain, {g: [int(r["index"]) for r in removed if r["group"] == g] for g in {r["group"] for r in removed}},
                  {g.name: g for g in groups})
    pruned = load_model(tmp_path / "run" / "models" / "step_001_pruned.pt").state_dict()
    readers = {c for g in groups if g.name in {r["group"] for r in removed} for c, _ in g.consumers}
    changed = {k.rsplit(".", 1)[0] for k, v in plain.state_dict().items() if not torch.equal(v, pruned[k])}
    assert changed and changed <= readers


def test_settings_that_cannot_run_are_one_sentence():
    with pytest.raises(FacelibError, match="needs faces to reconstruct on"):
        PruneConfig(base_model="m.pt", criterion="reconstruction").check()
    with pytest.raises(FacelibError, match="fine-tunes no copy"):
        PruneConfig(base_model="m.pt", train=False).check()
