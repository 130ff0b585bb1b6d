"""Pruning on real faces: removal equals zeroing, Taylor tracks the real loss change, runs resume exactly."""
import copy
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest
import torch
import torch.nn.functional as F

from facelib.data import preprocessing
from facelib.data.datasets import load_images
from facelib.data.split import study_split
from facelib.errors import FacelibError
from facelib.evaluation import metrics
from facelib.io import load_torch
from facelib.networks import models
from facelib.networks.base import FaceNet
from facelib.pruning.config import PruneConfig
from facelib.pruning.criteria import importance, taylor_scores_on_batch, zeroing_loss_change
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.loop import prune
from facelib.pruning.selection import select_to_remove
from facelib.pruning.surgery import mask_channels, remove_channels
from facelib.study import layout, runs
from facelib.training.config import TrainConfig
from facelib.training.loop import train
from facelib.training.trainset import TrainData


@pytest.fixture(scope="module")
def faces(lfw_people):
    return preprocessing.to_input(load_images(lfw_people["AJ_Cook"] + lfw_people["Aaron_Peirsol"][:1]))


def randomised(arch: str) -> FaceNet:
    """A network whose batch norms are not the identity, so a zeroed filter is not trivially zero."""
    torch.manual_seed(0)
    model = models.build(arch, 10).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


EXPECTED_KINDS = {
    "squeezenet": {"conv", "fire squeeze", "fire expand (concat)"},
    "mobilenetv2": {"stem + depthwise", "expansion + depthwise", "residual stream", "projection", "conv"},
    "resnet50": {"stem", "bottleneck inner", "residual stream"},
}


@pytest.mark.parametrize("arch", runs.ARCHS)
def test_removal_equals_zeroing_for_every_group(arch, faces):
    model = randomised(arch)
    groups = channel_groups(model)
    assert {g.kind for g in groups} == EXPECTED_KINDS[arch]
    by_name = {g.name: g for g in groups}
    gen = torch.Generator().manual_seed(1)
    # The first group of each kind and the last group (all groups together: the next test).
    chosen = list({g.kind: g for g in reversed(groups)}.values()) + [groups[-1]]
    for g in chosen:
        n = size(model, g)
        drop = torch.randperm(n, generator=gen)[: max(1, n // 3)]
        keep = torch.tensor(sorted(set(range(n)) - set(drop.tolist())))
        with torch.no_grad(), mask_channels(model, g, drop):
            expected = model(faces)
        pruned = copy.deepcopy(model)
        remove_channels(pruned, g, keep, by_name)
        assert size(pruned, g) == len(keep)
        with torch.no_grad():
            got = pruned(faces)
        assert torch.allclose(got, expected, atol=1e-4 * expected.abs().max().item()), g.name


@pytest.mark.parametrize("arch", runs.ARCHS)
def test_removal_across_all_groups_at_once(arch, faces):
    """Every group pruned in turn (concat offsets move as earlier groups shrink) equals all masks together."""
    model = randomised(arch)
    groups = channel_groups(model)
    by_name = {g.name: g for g in groups}
    gen = torch.Generator().manual_seed(2)
    drops = {g.name: torch.randperm(size(model, g), generator=gen)[: size(model, g) // 2] for g in groups}
    with torch.no_grad(), ExitStack() as stack:
        for g in groups:
            stack.enter_context(mask_channels(model, g, drops[g.name]))
        expected = model(faces)
    pruned = copy.deepcopy(model)
    for g in groups:
        n = size(pruned, g)
        remove_channels(pruned, g, torch.tensor(sorted(set(range(n)) - set(drops[g.name].tolist()))), by_name)
    with torch.no_grad():
        got = pruned(faces)
    assert models.count_parameters(pruned) < models.count_parameters(model)
    assert models.count_macs(pruned) < models.count_macs(model)
    assert torch.allclose(got, expected, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("arch,group", [("squeezenet", "features.4.expand3x3"), ("mobilenetv2", "features.2.conv.0")])
def test_taylor_tracks_real_loss_change(arch, group):
    """Rank correlation between a filter's Taylor score and the real loss change of zeroing it,
    on one real mini-batch of 64 CelebA faces, after the network has fit that batch a little."""
    split = study_split(max_identities=30, lfw=False, seed=0)
    images, labels = load_images(split.train), split.labels(split.train)
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:64]
    x, y = preprocessing.to_input(images[idx]).contiguous(memory_format=preprocessing.memory_format()), labels[idx]
    torch.manual_seed(0)
    model = models.build(arch, len(split.classes)).to(memory_format=preprocessing.memory_format())  # as the study trains
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = next(g for g in channel_groups(model) if g.name == group)
    taylor = taylor_scores_on_batch(model, g, x, y)
    real = zeroing_loss_change(model, g, x, y)
    assert metrics.spearman(taylor.numpy(), real.numpy()) > 0.5


def test_squeezenet_scores_after_relu_equal_scores_at_the_convolutions(faces):
    """The taps sit after SqueezeNet's ReLUs, where no extra feature map is held; z * dL/dz is the
    same there as at the convolution outputs (both factors vanish where z <= 0)."""
    import dataclasses

    model = randomised("squeezenet").train()
    at_relu = channel_groups(model)
    at_conv = [dataclasses.replace(g, taps=g.outputs) for g in at_relu]
    assert all(isinstance(model.get_submodule(t), torch.nn.ReLU) for g in at_relu for t in g.taps)
    got = []
    for groups in (at_relu, at_conv):
        torch.manual_seed(0)  # the same dropout
        collector = importance("taylor", model, groups)
        model.zero_grad()
        F.cross_entropy(model(faces), torch.arange(len(faces)) % 10).backward()
        collector.after_backward()
        collector.remove()
        got.append(collector.scores())
    for g in at_relu:
        assert got[0][g.name].sum() > 0
        torch.testing.assert_close(got[0][g.name], got[1][g.name], rtol=1e-6, atol=0)


def test_scoring_frees_the_feature_maps_after_backward(faces):
    """A scored training step leaves none of its feature maps alive (they once leaked through a
    reference cycle between a tap's tensor and its gradient hook, gigabytes per pruning run)."""
    import gc
    import weakref

    model = randomised("squeezenet").train()
    groups = channel_groups(model)
    collector = importance("taylor", model, groups)
    seen = []
    watch = model.get_submodule(groups[1].taps[0]).register_forward_hook(
        lambda _m, _i, z: seen.append(weakref.ref(z)))
    F.cross_entropy(model(faces), torch.arange(len(faces)) % 10).backward()
    collector.after_backward()
    watch.remove()
    collector.remove()
    gc.collect()
    assert seen and all(ref() is None for ref in seen)
    assert collector.scores()[groups[1].name].sum() > 0


def test_select_to_remove_keeps_min_channels():
    scores = {"a": torch.tensor([0.1, 0.2, 0.3]), "b": torch.tensor([0.05, 5.0])}
    assert select_to_remove(scores, 3) == {"b": [0], "a": [0, 1]}
    assert select_to_remove(scores, 10, min_channels=1) == {"b": [0], "a": [0, 1]}
    assert select_to_remove(scores, 2, min_channels=2) == {"a": [0]}


def test_select_to_remove_in_units_of_round_to():
    scores = {"a": torch.tensor([0.1, 0.2, 0.3, 0.4, 5, 6, 7, 8, 9, 10]), "b": torch.tensor([1, 1, 1, 1, .05, .05, .05, .05])}
    assert select_to_remove(scores, 3) == {"b": [4, 5, 6]}  # free counts: the three lowest
    # units: b's four lowest (mean 0.05), then a's two lowest (10 -> 8); b may not fall below 4
    assert select_to_remove(scores, 3, round_to=4) == {"b": [4, 5, 6, 7]}
    assert select_to_remove(scores, 6, round_to=4) == {"b": [4, 5, 6, 7], "a": [0, 1]}
    assert select_to_remove(scores, 100, round_to=4) == {"b": [4, 5, 6, 7], "a": [0, 1, 2, 3, 4, 5]}
    assert select_to_remove(scores, 100, min_channels=5, round_to=4) == {"a": [0, 1]}  # b: 8 -> 4 < 5


def test_spearman_against_hand_values():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert metrics.ranks([3, 1, 3, 2]).tolist() == [3.5, 1, 3.5, 2]


# ---------------------------------------------------------------- whole runs

SMALL = dict(arch="squeezenet", batch_size=32, max_identities=12, use_lfw=False, val_fraction=0.1,
             eval_pairs=None, seed=1)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    run = tmp_path_factory.mktemp("base")
    train(TrainConfig(**SMALL, epochs=1), run, progress=False)
    return run / "model.pt"


def run_cfg(base, **kw) -> PruneConfig:
    return PruneConfig(**{**dict(base_model=str(base), steps=4, batches_per_step=2, batch_size=16,
                                 filters_per_step=24, finetune_every=2, finetune_batches=2), **kw})


def same_run(a, b) -> None:
    for table in ("layers.csv", "removed.csv"):
        assert (a / table).read_text() == (b / table).read_text()
    strip = lambda t: [line.rsplit(",", 1)[0] for line in t.split()]  # noqa: E731 - drop the seconds column
    assert strip((a / "steps.csv").read_text()) == strip((b / "steps.csv").read_text())
    for f in sorted(p.name for p in (a / "models").iterdir()):
        wa = load_torch(a / "models" / f)["state_dict"]
        wb = load_torch(b / "models" / f)["state_dict"]
        assert all(torch.equal(wa[k], wb[k]) for k in wa), f


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, base):
    cfg = run_cfg(base)
    td = TrainData.load(TrainConfig(**SMALL))
    rows = prune(cfg, tmp_path / "a", td, progress=False)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert all(r["removed"] == 24 for r in rows[1:])
    assert rows[-1]["params"] < rows[0]["params"] and rows[-1]["macs"] < rows[0]["macs"]
    prune(cfg, tmp_path / "b", td, stop_after=1, progress=False)
    prune(cfg, tmp_path / "b", td, stop_after=2, progress=False)
    prune(cfg, tmp_path / "b", td, progress=False)
    same_run(tmp_path / "a", tmp_path / "b")


def test_killed_process_resumes_to_the_same_result(tmp_path, base):
    """SIGKILL a real `python -m facelib prune` mid-run, run it again, compare with a clean run."""
    args = [sys.executable, "-m", "facelib", "prune", "--model", str(base), "--steps", "5", "--batches-per-step", "2",
            "--batch-size", "16", "--filters-per-step", "24", "--finetune-every", "2", "--finetune-batches", "2",
            "--quiet", "--threads", "1"]
    subprocess.run(args + ["--out", str(tmp_path / "clean")], check=True, capture_output=True)
    victim = subprocess.Popen(args + ["--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "models" / "step_002_pruned.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "killed" / "models" / "step_005_pruned.pt").exists()
    # nothing half-written in place: every model file loads (a kill mid-write leaves only a .tmp beside it)
    for path in (tmp_path / "killed" / "models").glob("*.pt"):
        load_torch(path)
    done = subprocess.run(args + ["--out", str(tmp_path / "killed")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not list((tmp_path / "killed").rglob("*.tmp"))  # the resumed run cleared any stray temporary file
    same_run(tmp_path / "clean", tmp_path / "killed")


def test_pruned_model_reloads_in_a_fresh_process(tmp_path, base, faces):
    prune(run_cfg(base, steps=2), tmp_path, progress=False)
    path = tmp_path / "models" / "step_002_pruned.pt"
    model = models.load_model(path)
    assert models.count_parameters(model) < models.count_parameters(models.load_model(base))
    torch.save(faces, tmp_path / "x.pt")
    torch.save(model.embed(faces).detach(), tmp_path / "e.pt")
    code = (f"import torch; from facelib.networks.models import load_model; m = load_model(r'{path}'); "
            f"x = torch.load(r'{tmp_path / 'x.pt'}', weights_only=True); "
            f"assert torch.allclose(m.embed(x), torch.load(r'{tmp_path / 'e.pt'}', weights_only=True), atol=1e-5)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_criteria_rank_filters_differently(faces, base):
    """On one real mini-batch, the four criteria give four different rankings of the same filters."""
    model = models.load_model(base).train()
    groups = channel_groups(model)
    y = torch.zeros(len(faces), dtype=torch.long)
    ranked = {}
    for criterion in ("taylor", "l1", "weight_taylor", "random"):
        collector = importance(criterion, model, groups, generator=torch.Generator().manual_seed(0))
        model.zero_grad()
        F.cross_entropy(model(faces), y).backward()
        collector.after_backward()
        collector.remove()
        ranked[criterion] = torch.cat([v for v in collector.scores().values()]).numpy()
        assert len(ranked[criterion]) == sum(size(model, g) for g in groups)
    names = list(ranked)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert metrics.spearman(ranked[a], ranked[b]) < 0.95, (a, b)


def test_every_criterion_runs_in_the_loop(tmp_path, base):
    td = TrainData.load(TrainConfig(**SMALL))
    for criterion in ("l1", "weight_taylor", "random"):
        rows = prune(run_cfg(base, steps=1, finetune_every=0, criterion=criterion), tmp_path / criterion, td,
                     progress=False)
        assert rows[-1]["removed"] == 24


def test_bf16_pruning_is_mixed_precision_resumes_exactly_and_saves_float32(tmp_path, base):
    cfg = run_cfg(base, steps=2, precision="bf16")
    td = TrainData.load(TrainConfig(**SMALL))
    prune(cfg, tmp_path / "a", td, progress=False)
    prune(cfg, tmp_path / "b", td, stop_after=1, progress=False)
    prune(cfg, tmp_path / "b", td, progress=False)
    same_run(tmp_path / "a", tmp_path / "b")
    prune(run_cfg(base, steps=2), tmp_path / "fp32", td, progress=False)
    bf16 = load_torch(tmp_path / "a" / "models" / "step_002_finetuned.pt")["state_dict"]
    fp32 = load_torch(tmp_path / "fp32" / "models" / "step_002_finetuned.pt")["state_dict"]
    floats = [k for k in bf16 if bf16[k].is_floating_point()]
    assert all(bf16[k].dtype == torch.float32 and bf16[k].is_contiguous() for k in floats)
    assert not all(bf16[k].shape == fp32[k].shape and torch.equal(bf16[k], fp32[k]) for k in floats)
    with pytest.raises(FacelibError, match="unknown precision 'fp16'"):
        run_cfg(base, precision="fp16").check()


def test_shipped_base_prunes_with_a_refitted_head_to_rounded_counts(tmp_path):
    """A shipped base (no classifier, half precision) gets a new identity head fitted on its frozen
    embeddings of real faces, and is pruned with every group kept a multiple of 16 filters until its
    MACs reach the target; the last step is fine-tuned, and an interrupted run resumes to the same
    result."""
    shipped = layout.ROOT / "models" / "squeezenet-distill-base.pt"
    full = models.load_model(shipped)
    target = int(0.9 * models.count_macs(full))
    cfg = run_cfg(shipped, steps=10, refit_head=True, round_to=16, target_macs=target, finetune_every=5)
    td = TrainData.load(TrainConfig(**SMALL))
    rows = prune(cfg, tmp_path / "a", td, progress=False)
    assert rows[-1]["macs"] <= target < rows[-2]["macs"]
    assert all(r["removed"] >= 24 and r["removed"] % 16 == 0 for r in rows[1:])  # whole units of 16
    pruned = models.load_model(tmp_path / "a" / "models" / f"step_{rows[-1]['step']:03d}_finetuned.pt")
    assert all(size(pruned, g) % 16 == 0 for g in channel_groups(pruned))
    fitted = json.loads((tmp_path / "a" / "head.json").read_text())
    assert fitted["classes"] == 12 and fitted["train_accuracy"] > 0.5  # 12 CelebA people, far above chance
    prune(cfg, tmp_path / "b", td, stop_after=1, progress=False)
    prune(cfg, tmp_path / "b", td, progress=False)
    same_run(tmp_path / "a", tmp_path / "b")
    with pytest.raises(FacelibError, match="prune with --refit-head 1"):
        prune(run_cfg(shipped), tmp_path / "c", td, progress=False)


def test_bad_distillation_options_of_a_pruning_run_are_one_sentence():
    from facelib.pruning.config import PruneConfig

    cases = {"unknown --teacher 'live'": dict(teacher="live", distill_weight=1.0),
             "unknown optimizer 'adam'": dict(optimizer="adam"),
             "--teacher unpruned and --score-loss reference need --distill-weight": dict(teacher="unpruned"),
             "unknown --score-loss 'both'": dict(score_loss="both")}
    for message, options in cases.items():
        with pytest.raises(FacelibError, match=message):
            PruneConfig(base_model="base.pt", **options).check()
    PruneConfig(base_model="base.pt", teacher="unpruned", score_loss="reference", distill_weight=1.0,
                identity_weight=0.0, optimizer="adamw").check()
