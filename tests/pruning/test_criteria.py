"""Filter scores (facelib.pruning.criteria): the L1 baseline by hand, and on the shipped base."""
import torch
from torch import nn

from facelib.data.pairs import every_nth_pair, lfw_pairs
from facelib.evaluation import verification
from facelib.networks import models
from facelib.pruning.criteria import l1_scores
from facelib.pruning.groups import Group, channel_groups
from facelib.pruning.selection import pruned_to
from facelib.study import layout


def test_group_l1_by_hand():
    """The worked example of ``l1_scores``' docstring: one 1x1 conv of 3 filters over 2 inputs and
    the conv that reads them."""
    model = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.Conv2d(3, 1, 1, bias=False))
    model[0].weight.data = torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0]]).view(3, 2, 1, 1)
    model[1].weight.data = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    group = Group("0", "conv", (), ("0",), (("1", ()),))
    got = l1_scores(model, group, {"0": group})
    assert torch.allclose(got, torch.tensor([1.5, 2.0, 2.0], dtype=torch.float64) / (11 / 6))


def test_global_l1_on_the_shipped_base_stays_near_random_removal():
    """One-shot global L1 to 5 % fewer trunk parameters, no training, on the shipped SqueezeNet:
    the first study's L1 (raw sums of |w|, ranked across layers) took its development EER from
    8.4 to 34.8 % (bench/bench_l1.py); group L1 over the group's mean took it to 9.6 %, random
    removal to 8.8 %, the Torch-Pruning library's group L1 to the same 9.6 %."""
    base = models.load_model(layout.ROOT / "models" / "squeezenet-distill-base.pt")
    groups = channel_groups(base)
    by_name = {g.name: g for g in groups}
    pairs = every_nth_pair(lfw_pairs("dev"), 500)
    model = pruned_to(base, {g.name: l1_scores(base, g, by_name) for g in groups},
                      int(0.95 * base.trunk_parameters()))
    assert 0.94 < model.trunk_parameters() / base.trunk_parameters() <= 0.95
    before, after = verification.evaluate_model(base, pairs).eer, verification.evaluate_model(model, pairs).eer
    assert after < before + 0.05, (before, after)
