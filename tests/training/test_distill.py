"""Distillation from the reference MobileFaceNet, on real CelebA-299 faces."""
import torch

from facelib.io import load_torch
from facelib.training import distill
from facelib.training.config import TrainConfig
from facelib.training.loop import train
from facelib.training.trainset import TrainData

SMALL = dict(arch="squeezenet", batch_size=32, max_identities=12, use_lfw=False, val_fraction=0.1,
             eval_pairs=None, seed=1)


def test_reference_embeddings_are_cached_and_reused(tmp_path, monkeypatch, celeba):
    monkeypatch.setenv("FACELIB_CACHE", str(tmp_path))
    first, second = celeba[0].identity, next(f.identity for f in celeba if f.identity != celeba[0].identity)
    faces = ([f for f in celeba if f.identity == first][:10] + [f for f in celeba if f.identity == second][:10]
             + [f for f in celeba if f.landmarks is None][:1])
    before = distill.computed_faces
    emb, usable = distill.reference_embeddings(faces)
    has_points = torch.tensor([f.landmarks is not None for f in faces])
    assert not has_points[-1] and has_points.sum() >= len(faces) - 2
    assert distill.computed_faces - before == has_points.sum()  # faces without landmarks are not embedded
    assert emb.shape == (len(faces), 128) and torch.equal(usable, has_points)
    assert torch.allclose(emb[usable].norm(dim=1), torch.ones(int(usable.sum())), atol=1e-4)
    assert emb[~usable].abs().sum() == 0
    # Same person closer than another person: the reference model really recognises them.
    is_first = torch.tensor([f.identity == first for f in faces])
    scores = emb @ emb[0]
    assert scores[is_first & usable][1:].mean() > scores[~is_first & usable].mean() + 0.2
    again, _ = distill.reference_embeddings(faces)
    assert distill.computed_faces - before == has_points.sum() and torch.equal(again, emb)


def test_distillation_loss_falls_and_references_are_computed_once(tmp_path):
    cfg = TrainConfig(**SMALL, distill_weight=1.0, epochs=3)
    td = TrainData.load(cfg)
    assert td.reference is not None and td.reference_usable.sum() >= len(td.train_images) - 5
    before = distill.computed_faces
    history = train(cfg, tmp_path, td, progress=False)
    assert distill.computed_faces == before  # three epochs, no recomputation
    assert history[-1]["distill_loss"] < history[0]["distill_loss"] - 0.05
    assert load_torch(tmp_path / "checkpoint.pt")["projection"]["weight"].shape == (128, 512)


def test_distillation_weight_zero_equals_plain_training(tmp_path):
    plain_cfg = TrainConfig(**SMALL, epochs=1)
    train(plain_cfg, tmp_path / "plain", TrainData.load(plain_cfg), progress=False)
    with_refs = TrainData.load(TrainConfig(**SMALL, distill_weight=1.0))  # the distillation path is active...
    train(TrainConfig(**SMALL, epochs=1, distill_weight=0.0), tmp_path / "zero", with_refs, progress=False)  # ...at 0
    a = load_torch(tmp_path / "plain" / "checkpoint.pt")["model"]
    b = load_torch(tmp_path / "zero" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_projection_fit_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    e = torch.rand(500, 40, generator=g)
    true = torch.randn(40, 128, generator=g)
    proj = distill.fit_projection(e, e @ true + 0.5)
    assert torch.allclose(proj(e), e @ true + 0.5, atol=1e-2)


def test_pruning_with_distillation_scores_from_the_identity_loss_alone(tmp_path):
    """On one real mini-batch: with score_loss="identity" the Taylor scores equal those of a run
    without distillation; with "combined" they differ. A whole run with distillation completes."""
    import copy

    from facelib.networks.models import load_model
    from facelib.pruning.config import PruneConfig
    from facelib.pruning.criteria import importance
    from facelib.pruning.groups import channel_groups
    from facelib.pruning.loop import prune
    from facelib.pruning.retrain import train_batches

    base_dir = tmp_path / "base"
    train(TrainConfig(**SMALL, epochs=1), base_dir, progress=False)
    td = TrainData.load(TrainConfig(**SMALL, distill_weight=1.0))
    model = load_model(base_dir / "model.pt")
    batch = [torch.arange(16)]

    def scores(**kw):
        m = copy.deepcopy(model)
        cfg = PruneConfig(base_model=str(base_dir / "model.pt"), batch_size=16, **kw)
        torch.manual_seed(0)
        collector = importance("taylor", m, channel_groups(m))
        train_batches(m, td, batch, cfg, 1, collector)
        collector.remove()
        return collector.scores()

    plain, identity = scores(), scores(distill_weight=5.0, score_loss="identity")
    combined = scores(distill_weight=5.0, score_loss="combined")
    assert all(torch.allclose(plain[k], identity[k], rtol=1e-5, atol=1e-12) for k in plain)
    assert not all(torch.allclose(plain[k], combined[k], rtol=1e-3) for k in plain)
    rows = prune(PruneConfig(base_model=str(base_dir / "model.pt"), steps=2, batches_per_step=2, batch_size=16,
                             filters_per_step=24, finetune_every=1, finetune_batches=2,
                             distill_weight=1.0), tmp_path / "pruned", td, progress=False)
    assert [r["removed"] for r in rows] == [0, 24, 24] and rows[-1]["eer_finetuned"] != ""


def test_similarity_form_matches_pairwise_cosines_and_trains(tmp_path, celeba):
    faces = [f for f in celeba if f.landmarks is not None][:40]
    ref, usable = distill.reference_embeddings(faces)
    usable[3] = False  # a face without a reference takes no part
    rotation, _ = torch.linalg.qr(torch.randn(128, 128, generator=torch.Generator().manual_seed(0)))
    # the same similarities in other coordinates (and scale) cost nothing; other ones do
    assert distill.similarity_loss(3 * ref @ rotation, ref, usable) < 1e-10
    assert distill.similarity_loss(torch.randn(40, 512, generator=torch.Generator().manual_seed(1)), ref, usable) > 0.05
    assert distill.similarity_loss(ref, ref, torch.zeros(40, dtype=torch.bool)) == 0
    # AdamW, as the study trains: plain SGD at 0.01 moved this loss by about 0.001 in two epochs, up on
    # one CPU and down on another
    cfg = TrainConfig(**{**SMALL, "optimizer": "adamw", "lr": 1e-3}, distill_weight=10.0, distill_form="similarity",
                      epochs=2)
    history = train(cfg, tmp_path, progress=False)
    assert history[-1]["distill_loss"] < history[0]["distill_loss"]
