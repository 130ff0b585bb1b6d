"""Least-squares reconstruction of the consumers of removed channels (``pruning.reconstruction``) on the
shipped SqueezeNet and MobileNetV2 bases and the pretrained MobileFaceNet, with real training faces."""
from __future__ import annotations

import copy

import pytest
import torch

from facelib.data import preprocessing
from facelib.data.alignment import load_faces
from facelib.data.split import study_split
from facelib.errors import FacelibError
from facelib.networks.models import load_model
from facelib.pruning import reconstruction
from facelib.pruning.criteria import l1_scores
from facelib.pruning.groups import channel_groups
from facelib.pruning.selection import select_to_remove
from facelib.pruning.surgery import remove_chosen
from facelib.study import configs


def base_of(arch: str):
    return load_model(configs.pretrained_base() if arch == "mobilefacenet" else configs.shipped_base_file(arch))


def faces_for(base, count: int) -> torch.Tensor:
    """``count`` training faces of people the network was not evaluated on, as the network reads them."""
    split = study_split(max_identities=200, held_out="view2" if base.input_kind == "aligned112" else "dev")
    return preprocessing.network_input(base.input_kind, load_faces(split.train[::5][:count], base.input_kind))


def pruned(base, share: float = 0.2):
    """A copy of ``base`` without the ``share`` of its filters with the lowest group L1, and the
    current -> original channel numbers of every group."""
    groups = channel_groups(base)
    by_name = {g.name: g for g in groups}
    model = copy.deepcopy(base)
    scores = {g.name: l1_scores(model, g, by_name) for g in groups}
    chosen = select_to_remove(scores, int(share * sum(len(v) for v in scores.values())), 1, 1)
    kept = remove_chosen(model, chosen, by_name)
    ids = {g.name: kept.get(g.name, list(range(len(scores[g.name])))) for g in groups}
    return model, groups, set(chosen), ids


def held_out_error(model, base, groups, name: str, ids, images: torch.Tensor) -> float:
    """Consumer ``name``'s reconstruction error (1) in ``model`` on ``images`` (not fitted on)."""
    norms, outs = reconstruction.norm_after(groups, model), reconstruction.kept_outputs(groups, ids)
    sums = reconstruction.consumer_sums(model, base, name, images, outs.get(name), 24, seed=1)
    return sums.error(*reconstruction.current(model, base, name, norms, outs.get(name)))


@pytest.mark.parametrize("arch, which", [("squeezenet", slice(None)), ("mobilefacenet", slice(-4, None)),
                                         ("mobilenetv2", slice(4))])
def test_refitting_lowers_every_consumers_error(arch, which, full_profile):
    """20 % of the filters gone by L1, then refitted: no consumer's reconstruction error on the fitting
    faces rises and most fall; on other faces most consumers, the deepest among them, reproduce the
    unpruned layer better than after plain removal. SqueezeNet and MobileFaceNet refit biases (the
    latter's embedding layer, at one position per face, overfits these few faces and must be left as it
    is); MobileNetV2's convolutions have none and take their intercept through the batch norm after
    them. For time, only ``which`` of the shrunk groups are refitted (MobileFaceNet's last four, the
    embedding layer's among them; MobileNetV2's first four)."""
    base = base_of(arch)
    images = faces_for(base, 120)
    plain, groups, shrunk, ids = pruned(base)
    shrunk = set([g.name for g in groups if g.name in shrunk][which])
    model = copy.deepcopy(plain)
    errors = reconstruction.refit(model, base, groups, shrunk, ids, images[:80], positions=16)
    assert errors and all(after <= before for before, after in errors.values())
    assert sum(after < 0.9 * before for before, after in errors.values()) > len(errors) / 2
    if arch == "mobilefacenet":  # 512 inputs, 64 faces at one position each: the check keeps it as it was
        before, after = errors["conv3.0"]
        assert after == before
    names = list(errors)
    refitted = [held_out_error(model, base, groups, n, ids, images[80:]) for n in names]
    removed = [held_out_error(plain, base, groups, n, ids, images[80:]) for n in names]
    assert sum(a < b for a, b in zip(refitted, removed)) > len(names) / 2 and refitted[-1] < removed[-1]


def test_nothing_removed_leaves_the_network_as_it_is(full_profile):
    """No shrunk group: nothing to refit. Groups called shrunk with none of their filters gone: each
    consumer already reproduces the unpruned layer, so (1) cannot do better and its weights stay."""
    base = base_of("squeezenet")
    images = faces_for(base, 32)
    groups = channel_groups(base)
    model = copy.deepcopy(base)
    assert reconstruction.refit(model, base, groups, set(), {}, images) == {}
    some = {g.name for g in groups[:4]}
    full_ids = {g.name: list(range(base.get_submodule(g.outputs[0]).out_channels)) for g in groups}
    errors = reconstruction.refit(model, base, groups, some, full_ids, images[:20], positions=8)
    assert errors and all(after == before for before, after in errors.values())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), base.state_dict().values()))
    with pytest.raises(FacelibError, match="at least 5 faces"):
        reconstruction.refit(model, base, groups, some, full_ids, images[:4])


def test_a_pruning_run_that_reconstructs(tmp_path, full_profile):
    """The loop with ``reconstruct_faces``: the same filters go at its first step as without (scored
    before any refit), the layers reading them change and nothing else does, and the step's row says
    how long the refit took."""
    from facelib.io import read_csv
    from facelib.pruning.config import PruneConfig
    from facelib.pruning.loop import prune

    common = dict(base_model=str(configs.shipped_base_file("squeezenet").relative_to(configs.layout.ROOT)),
                  criterion="random", steps=1, filters_per_step=32, batches_per_step=1, batch_size=16, finetune_every=0,
                  max_pairs=60)  # random: filters that carry something (Taylor's lowest here are near-dead ones)
    prune(PruneConfig(**common), tmp_path / "plain", progress=False)
    prune(PruneConfig(**common, reconstruct_faces=100, reconstruct_positions=16), tmp_path / "refit", progress=False)
    removed = [read_csv(tmp_path / run / "removed.csv") for run in ("plain", "refit")]
    assert removed[0] == removed[1] and removed[0]
    steps = read_csv(tmp_path / "refit" / "steps.csv", numeric=True)
    assert steps[1]["refit_seconds"] > 0 and "refit_seconds" not in read_csv(tmp_path / "plain" / "steps.csv")[0]
    plain, refit = (load_model(tmp_path / run / "models" / "step_001_pruned.pt").state_dict()
                    for run in ("plain", "refit"))
    groups = channel_groups(base_of("squeezenet"))
    readers = {c for g in groups if g.name in {r["group"] for r in removed[0]} for c, _ in g.consumers}
    changed = {k.rsplit(".", 1)[0] for k in plain if not torch.equal(plain[k], refit[k])}
    assert changed and changed <= readers
