"""The reference MobileFaceNet as a PyTorch module, its weights read from the shared ONNX file,
and its coupled channel groups (removal equals zeroing, pruned files reload)."""
import copy
import subprocess
import sys
from contextlib import ExitStack

import numpy as np
import pytest
import torch

from facelib.data import paths
from facelib.errors import FacelibError
from facelib.evaluation.verification import OnnxFaceModel
from facelib.networks import models
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.pruning.groups import channel_groups, size
from facelib.pruning.surgery import mask_channels, remove_channels
from facelib.training import precision


@pytest.fixture(scope="module")
def aligned(lfw_people) -> tuple[OnnxFaceModel, np.ndarray]:
    """16 real LFW faces aligned by their 5 points, as the network takes them ((v - 127.5) / 128)."""
    onnx = OnnxFaceModel(paths.reference_model(), align="landmarks", threads=2)
    faces = [f for p in list(lfw_people.values())[:30] for f in p if f.landmarks][:16]
    x = ((np.stack([onnx.aligned(f) for f in faces]).astype(np.float32) - 127.5) / 128).transpose(0, 3, 1, 2)
    return onnx, x.copy()


@pytest.fixture(scope="module")
def pretrained() -> MobileFaceNet:
    return MobileFaceNet.from_onnx(paths.reference_model())


def test_pytorch_port_equals_onnx_runtime_on_real_faces(aligned, pretrained):
    onnx, x = aligned
    model = pretrained
    assert model.trunk_parameters() == 989_952  # the README's 0.99M
    with torch.no_grad():
        ours = model.embed(torch.from_numpy(x)).numpy()
    theirs = onnx.session.run(None, {onnx.input_name: x})[0]
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(theirs).max() > 0.5  # real embeddings, not zeros


def test_a_file_that_is_not_mobilefacenet_is_one_sentence(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(FacelibError, match="not a readable ONNX model"):
        MobileFaceNet.from_onnx(bad)


def test_every_group_removed_equals_zeroed_on_real_faces(aligned, pretrained):
    """Each of the 22 coupled groups (stem + depthwise, the expansions with their depthwise convs, the
    three residual streams, conv2 with the global depthwise conv, the embedding), a third of its
    channels removed, gives the embedding that zeroing them at the group's taps gives; then all
    groups at once, half of each."""
    x = torch.from_numpy(aligned[1])
    groups = channel_groups(pretrained)
    assert len(groups) == 22 and {g.kind for g in groups} == {
        "stem + depthwise", "conv", "expansion + depthwise", "residual stream", "conv + global depthwise", "embedding"}
    assert [size(pretrained, g) for g in groups if g.kind == "residual stream"] == [64, 128, 128]
    by_name, gen = {g.name: g for g in groups}, torch.Generator().manual_seed(0)
    drops = {}
    for g in groups:
        n = size(pretrained, g)
        drop = torch.randperm(n, generator=gen)[: n // 3]
        with torch.no_grad(), mask_channels(pretrained, g, drop):
            expected = pretrained.embed(x)
        pruned = copy.deepcopy(pretrained)
        remove_channels(pruned, g, torch.tensor(sorted(set(range(n)) - set(drop.tolist()))), by_name)
        with torch.no_grad():
            got = pruned.embed(x)
        if g.kind == "embedding":  # the removed embedding values are gone rather than zero
            expected = expected[:, sorted(set(range(n)) - set(drop.tolist()))]
        assert torch.allclose(got, expected, atol=1e-4 * expected.abs().max().item()), g.name
        drops[g.name] = torch.randperm(n, generator=gen)[: n // 2]
    with torch.no_grad(), ExitStack() as stack:
        for g in groups:
            stack.enter_context(mask_channels(pretrained, g, drops[g.name]))
        expected = pretrained(x)
    pruned = copy.deepcopy(pretrained)
    for g in groups:
        n = size(pruned, g)
        remove_channels(pruned, g, torch.tensor(sorted(set(range(n)) - set(drops[g.name].tolist()))), by_name)
    with torch.no_grad():
        got = pruned(x)
    assert torch.allclose(got, expected, atol=1e-4 * expected.abs().max().item())
    assert models.count_macs(pruned) < 0.4 * models.count_macs(pretrained)


def test_pruned_network_reloads_in_a_fresh_process(tmp_path, aligned, pretrained):
    pruned = copy.deepcopy(pretrained)
    groups = channel_groups(pruned)
    by_name = {g.name: g for g in groups}
    for g in groups[2:8]:
        remove_channels(pruned, g, torch.arange(size(pruned, g) - 16), by_name)
    x = torch.from_numpy(aligned[1][:4])
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        torch.save(pruned.embed(x), tmp_path / "expected.pt")
    models.save_model(pruned, tmp_path / "pruned.pt")
    code = (f"import torch; from facelib.networks.models import load_model; m = load_model(r'{tmp_path / 'pruned.pt'}'); "
            f"x = torch.load(r'{tmp_path / 'x.pt'}', weights_only=True); "
            f"e = torch.load(r'{tmp_path / 'expected.pt'}', weights_only=True); "
            "assert m.input_size == 112; assert torch.allclose(m.embed(x), e, atol=1e-5); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_mobilefacenet_is_not_trained_from_scratch():
    from facelib.training.config import TrainConfig

    with pytest.raises(FacelibError, match="pretrained"):
        TrainConfig(arch="mobilefacenet").check()


def test_evaluation_through_pytorch_scores_pairs_as_onnx_runtime_does(pretrained):
    """evaluate_model aligns the faces of networks that take aligned input (5 points, cached), so the
    PyTorch port scores View 2 pairs as the ONNX reference does."""
    from facelib.data.pairs import every_nth_pair, lfw_pairs
    from facelib.evaluation import verification

    pairs = every_nth_pair(lfw_pairs("view2"), 40)
    ours = verification.evaluate_model(pretrained, pairs)
    theirs = OnnxFaceModel(paths.reference_model(), align="landmarks").evaluate(pairs)
    assert np.abs(ours.scores - theirs.scores).max() < 1e-4
    assert ours.scores[ours.labels].mean() > ours.scores[~ours.labels].mean() + 0.3  # same people score higher


def test_pruning_loop_runs_on_the_pretrained_network_from_its_onnx_weights(tmp_path, pretrained):
    """The papers' loop on MobileFaceNet: aligned faces of people outside View 2, a refitted identity
    head (the network has none for our people), distillation towards its own embedding, View 2 pairs
    for the EER; filters really go and each step's file reloads as a smaller network."""
    import json

    from facelib.data.pairs import lfw_pairs
    from facelib.pruning.config import PruneConfig
    from facelib.pruning.loop import prune
    from facelib.training.config import TrainConfig
    from facelib.training.trainset import TrainData

    cfg = TrainConfig(arch="mobilefacenet", held_out="view2", eval_pairs="view2", max_pairs=40, max_identities=12)
    td = TrainData.load(cfg)
    assert td.input_kind == "aligned112" and tuple(td.train_images.shape[1:]) == (3, 112, 112)
    view2 = {f.identity for p in lfw_pairs("view2") for f in (p.a, p.b)}
    assert not {f.identity for f in td.split.train} & view2
    models.save_model(pretrained, tmp_path / "base.pt", config=json.dumps(cfg.to_dict()))
    rows = prune(PruneConfig(base_model=str(tmp_path / "base.pt"), steps=2, filters_per_step=64, batches_per_step=2,
                             batch_size=16, finetune_every=2, finetune_batches=2, refit_head=True, distill_weight=10.0),
                 tmp_path / "run", td, progress=False)
    assert [r["filters"] for r in rows] == [4544, 4480, 4416]
    assert rows[-1]["macs"] < rows[0]["macs"] and rows[0]["eer_pruned"] < 0.1  # the unpruned network is strong
    small = models.load_model(tmp_path / "run" / "models" / "step_002_finetuned.pt")
    assert isinstance(small, MobileFaceNet) and models.count_macs(small) == rows[-1]["macs"]


def test_taylor_tracks_real_loss_change_on_the_pretrained_network(lfw_people, pretrained):
    """The Taylor score of each channel of an expansion group and of a residual stream against the real
    change of the identity loss when the channel is zeroed (one forward pass per channel), on real
    aligned faces of 8 LFW people, 4 each (a new head fitted on the frozen network, as the pruning
    runs fit one)."""
    from facelib.data import alignment, preprocessing
    from facelib.evaluation.metrics import spearman
    from facelib.pruning import head
    from facelib.pruning.criteria import taylor_scores_on_batch, zeroing_loss_change

    people = [p for p in lfw_people.values() if sum(f.landmarks is not None for f in p) >= 6][:8]
    faces = [f for p in people for f in [f for f in p if f.landmarks][:4]]
    images = alignment.load_faces(faces, "aligned112")
    x, y = preprocessing.network_input("aligned112", images), torch.tensor([k for k in range(8) for _ in range(4)])
    x = x.contiguous(memory_format=preprocessing.memory_format())  # the layout the study runs in
    model = copy.deepcopy(pretrained)
    fitted, _ = head.fit_head(model, images, y, len(people))
    head.install_head(model, fitted)
    groups = {g.name: g for g in channel_groups(model)}
    for name in ("features.1.expand", "stream1"):
        taylor = taylor_scores_on_batch(model, groups[name], x, y)
        real = zeroing_loss_change(model, groups[name], x, y)
        assert spearman(taylor.numpy(), real.numpy()) > 0.5, name


def test_pruning_the_pretrained_network_resumes_to_the_same_result(tmp_path, pretrained):
    """The study's MobileFaceNet run (refitted head, distillation towards the frozen unpruned network
    on the student's own view, scores from the loss towards the cached reference, bf16 where the CPU
    has bfloat16 units) stopped after one step and taken up again, then stopped after
    its second, saved as a committed checkpoint (``facelib.study.checkpoint``), its run folder deleted, and
    taken up from the checkpoint alone, ends where an uninterrupted run ends: same removals, same
    tables, same weights."""
    import json
    import shutil

    from facelib.io import load_torch
    from facelib.pruning.config import PruneConfig
    from facelib.pruning.loop import prune
    from facelib.study import checkpoint
    from facelib.study.runs import PRETRAINED_RUN
    from facelib.training.config import TrainConfig
    from facelib.training.trainset import TrainData

    cfg = TrainConfig(arch="mobilefacenet", held_out="view2", eval_pairs=None, max_identities=12)
    td = TrainData.load(cfg, progress=False)
    models.save_model(pretrained, tmp_path / "base.pt", config=json.dumps(cfg.to_dict()))
    study_run = {**PRETRAINED_RUN, "precision": precision.runnable(PRETRAINED_RUN["precision"])}  # as the study runs here
    run = PruneConfig(base_model=str(tmp_path / "base.pt"), **study_run, steps=3, filters_per_step=96,
                      batches_per_step=2, batch_size=16, finetune_every=2, finetune_batches=2)
    prune(run, tmp_path / "a", td, progress=False)
    prune(run, tmp_path / "b", td, stop_after=1, progress=False)
    prune(run, tmp_path / "b", td, stop_after=1, progress=False)
    saved = checkpoint.save(tmp_path / "b", tmp_path / "checkpoint", keep=[2])
    assert sorted(p.name for p in saved if p.suffix == ".pt") == ["state.pt", "step_002_finetuned.pt",
                                                                    "step_002_pruned.pt"]
    shutil.rmtree(tmp_path / "b")
    assert checkpoint.restore(tmp_path / "checkpoint", tmp_path / "b")
    assert not checkpoint.restore(tmp_path / "checkpoint", tmp_path / "b")  # the folder has come as far
    prune(run, tmp_path / "b", td, progress=False)
    for table in ("layers.csv", "removed.csv"):
        assert (tmp_path / "a" / table).read_text() == (tmp_path / "b" / table).read_text()
    strip = lambda t: [line.rsplit(",", 1)[0] for line in t.split()]  # noqa: E731 - drop the seconds column
    assert strip((tmp_path / "a" / "steps.csv").read_text()) == strip((tmp_path / "b" / "steps.csv").read_text())
    removed = (tmp_path / "a" / "removed.csv").read_text().splitlines()
    assert len(removed) == 1 + 3 * 96
    for f in ("step_002_finetuned.pt", "step_003_pruned.pt", "step_003_finetuned.pt"):
        wa, wb = (load_torch(tmp_path / r / "models" / f)["state_dict"] for r in "ab")
        assert all(torch.equal(wa[k], wb[k]) for k in wa), f


def test_the_unpruned_teacher_leaves_the_unpruned_network_where_it_is(pretrained):
    """Training towards the frozen unpruned network on the student's own augmented view
    (``teacher="unpruned"``) barely moves the unpruned network, while training towards the
    reference's cached embedding of the unaugmented face moves it: the offset the first recipe
    paid before pruning anything. Real aligned faces of people outside View 2, SGD at 1e-4 (at 3e-4
    SGD is unstable on this target: ``runs.py``)."""

    from facelib.pruning import head
    from facelib.pruning.config import PruneConfig
    from facelib.pruning.criteria import importance
    from facelib.pruning.retrain import step_batches as _batches
    from facelib.pruning.retrain import train_batches
    from facelib.training.config import TrainConfig
    from facelib.training.trainset import TrainData

    cfg = TrainConfig(arch="mobilefacenet", held_out="view2", eval_pairs=None, max_identities=12,
                      distill_weight=10.0)
    td = TrainData.load(cfg, progress=False)
    probe = td.train_images[:64]
    before = torch.nn.functional.normalize(head.embeddings(pretrained, probe), dim=1)
    moved = {}
    for teacher in ("reference", "unpruned"):
        model = copy.deepcopy(pretrained)
        fitted, _ = head.fit_head(model, td.train_images, td.train_labels, len(td.split.classes))
        head.install_head(model, fitted)
        run = PruneConfig(base_model="unused", distill_weight=10.0, identity_weight=0.0, score_loss="reference",
                          lr=1e-4, batch_size=16, teacher=teacher, precision=precision.runnable("bf16"))
        collector = importance("taylor", model, channel_groups(model))
        train_batches(model, td, _batches(len(td.train_images), 6, 16, 0, 1), run, 1, collector,
                      teacher=copy.deepcopy(pretrained).eval())
        collector.remove()
        after = torch.nn.functional.normalize(head.embeddings(model, probe), dim=1)
        moved[teacher] = float((1 - (before * after).sum(1)).mean())
        assert all(s.abs().sum() > 0 for s in collector.scores().values() if len(s) > 1), teacher
    assert moved["unpruned"] < 0.2 * moved["reference"], moved
