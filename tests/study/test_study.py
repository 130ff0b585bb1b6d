"""Profiles and the study's choices."""
from __future__ import annotations

import json

import pytest

from facelib import io
from facelib.errors import FacelibError
from facelib.study import bases, configs, layout, recorded, runs
from facelib.training import precision
from facelib.training.config import TrainConfig


def test_profiles_switch_folders_and_settings(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "fast")
    assert layout.results_dir() == layout.ROOT / "runs" / "fast" / "results"
    fast = configs.base_config("squeezenet", "distill")
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    assert layout.results_dir() == layout.ROOT / "results"
    full = configs.base_config("squeezenet", "distill")
    assert fast.max_identities == 10 and full.max_identities is None
    assert fast.distill_weight == full.distill_weight > 0
    assert configs.base_config("squeezenet", "plain").distill_weight == 0
    monkeypatch.setenv("FACELIB_PROFILE", "slow")
    with pytest.raises(FacelibError, match="not a profile"):
        layout.profile()


def test_bad_names_give_one_sentence(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    with pytest.raises(FacelibError, match="unknown base run"):
        configs.base_config("vgg16", "plain")
    with pytest.raises(FacelibError, match="unknown criterion"):
        configs.prune_config("squeezenet", "magic")


def test_pruning_starts_from_the_base_model_with_the_lower_eer(monkeypatch, tmp_path):
    monkeypatch.setattr(layout, "ROOT", tmp_path)
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    rows = [{"arch": "squeezenet", "way": "plain", "dev_eer": 0.30}, {"arch": "squeezenet", "way": "distill", "dev_eer": 0.20}]
    io.save_csv(rows, ["arch", "way", "dev_eer"], tmp_path / "results" / "base_models.csv")
    assert bases.chosen_way("squeezenet") == "distill"
    assert configs.prune_config("squeezenet", "taylor").base_model.endswith("squeezenet-distill/model.pt")
    with pytest.raises(FacelibError, match="02_base_models"):
        bases.chosen_way("resnet50")


def test_every_run_names_the_notebook_that_makes_it():
    assert layout.notebook_for("resnet50") == "02_base_models"
    for arch in runs.ARCHS:
        for criterion in runs.PRUNING_RUNS:
            assert (layout.ROOT / "notebooks" / f"{layout.notebook_for(arch, criterion)}.ipynb").exists()
    assert layout.notebook_for("mobilenetv2", "taylor") == "05_mobilenetv2"
    assert layout.notebook_for("resnet50", "taylor_normalised") == "06_resnet50"  # both score forms
    assert layout.notebook_for("squeezenet", "random") == "07_comparison"


def test_recipe_runs_share_one_budget_and_differ_only_as_declared(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    made = {name: configs.recipe_config(name).to_dict() for name in runs.RECIPES}
    for name, cfg in made.items():
        arch = runs.RECIPES[name].get("arch", runs.RECIPE_ARCH)
        assert cfg["arch"] == arch and cfg["epochs"] == layout.profile().recipe_epochs[arch]
        assert cfg["precision"] == precision.runnable("bf16")  # distilled as the bases are, unless the recipe changes the weight
        assert cfg["distill_weight"] == runs.RECIPES[name].get("distill_weight", runs.DISTILL_WEIGHT)
        base = configs.recipe_config(next(iter(runs.RECIPES))).to_dict()
        changed = {k for k in cfg if cfg[k] != base[k]}
        assert changed <= set(runs.RECIPES[name]) | {"epochs"}, (name, changed)
        assert "epochs" not in changed or "arch" in changed  # one budget per network
    for name, (recipe, times) in runs.LONG_RECIPES.items():  # a long run is its recipe, only longer
        long, short = configs.recipe_config(name).to_dict(), made[recipe]
        assert long["epochs"] == times * short["epochs"] and {k: v for k, v in long.items() if k != "epochs"} == {
            k: v for k, v in short.items() if k != "epochs"}
    assert configs.recipe_names() == list(runs.RECIPES) + list(runs.LONG_RECIPES)
    monkeypatch.setenv("FACELIB_PROFILE", "fast")  # ResNet50's recipe rows are left out of CI
    arch_of = lambda n: runs.RECIPES[runs.LONG_RECIPES[n][0] if n in runs.LONG_RECIPES else n].get("arch")  # noqa: E731
    assert configs.recipe_names() == [n for n in [*runs.RECIPES, *runs.LONG_RECIPES] if arch_of(n) != "resnet50"]
    assert "bn-cosine-3e-3-x4" in configs.recipe_names()
    assert configs.recipe_config("cosine-1e-3").epochs == 1
    with pytest.raises(FacelibError, match="unknown recipe"):
        configs.recipe_config("magic")


def test_each_network_has_its_base_recipe_and_both_ways_share_it(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    for arch in runs.ARCHS:
        plain, distill = configs.base_config(arch, "plain").to_dict(), configs.base_config(arch, "distill").to_dict()
        assert {k for k in plain if plain[k] != distill[k]} == {"distill_weight"}
        for key, value in {**runs.BASE_RECIPE, **runs.BASE_RECIPES[arch]}.items():
            assert distill[key] == value, (arch, key)
    # SqueezeNet's distilled base is the long run of the recipe it takes, so that run can serve as it
    assert configs.base_config("squeezenet", "distill") == configs.recipe_config("bn-cosine-3e-3-distill30-x4")


def test_a_pruning_run_from_a_replaced_base_is_stale(monkeypatch, tmp_path):
    monkeypatch.setattr(layout, "ROOT", tmp_path)
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    now = configs.base_config("squeezenet", "distill")
    earlier = TrainConfig(**{**now.to_dict(), "batch_norm": False, "lr": 3e-4, "schedule": "plateau"})
    io.save_csv([{"arch": "squeezenet", "way": "distill", "dev_eer": 0.1, "config": json.dumps(now.to_dict())}],
                ["arch", "way", "dev_eer", "config"], tmp_path / "results" / "base_models.csv")
    run = lambda base: recorded.PruningRun("squeezenet", "taylor", [{"eer_pruned": 0.152}], [],  # noqa: E731
                                           {"base_training": base})
    assert not recorded.started_from_earlier_base(run(now.to_dict()))
    assert recorded.started_from_earlier_base(run(earlier.to_dict()))
    old = {k: v for k, v in now.to_dict().items() if k != "held_out"}  # saved before a field existed, at its default
    assert not recorded.started_from_earlier_base(run(old))
    assert recorded.earlier_base_note([run(now.to_dict())]) is None
    assert "squeezenet/taylor (base EER 15.2%)" in recorded.earlier_base_note([run(now.to_dict()), run(earlier.to_dict())])


def test_pretrained_runs_start_from_the_onnx_weights_and_test_on_view2(monkeypatch, tmp_path):
    """MobileFaceNet's runs need no training first: their base file is the ONNX weights, its saved
    split keeps View 2's people out of training and names View 2 as the pairs; both score forms stop
    at the same MACs budget; an unknown run name is one sentence."""
    import torch

    from facelib.data import paths
    from facelib.data.pairs import lfw_pairs
    from facelib.networks import models
    from facelib.networks.mobilefacenet import MobileFaceNet
    from facelib.training.config import TrainConfig

    monkeypatch.setattr(layout, "ROOT", tmp_path)
    monkeypatch.setenv("FACELIB_PROFILE", "fast")
    raw, normalised = (configs.prune_config(runs.PRETRAINED, n) for n in ("taylor", "taylor_normalised"))
    assert (raw.normalise, normalised.normalise) == (False, True) and raw.refit_head and raw.distill_weight > 0
    assert raw.target_macs == normalised.target_macs == round(
        runs.PRETRAINED_MACS * models.count_macs(models.build("mobilefacenet", 1)))
    base = configs.pretrained_base()
    assert base == tmp_path / raw.base_model
    saved = TrainConfig.from_dict(json.loads(models.load_model(base).meta["config"]))
    assert (saved.held_out, saved.eval_pairs, saved.max_pairs) == ("view2", "view2", layout.profile().max_pairs)
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        assert torch.equal(models.load_model(base).embed(x), MobileFaceNet.from_onnx(paths.reference_model()).embed(x))
    assert len(configs.pretrained_pairs()) == layout.profile().max_pairs and {p.fold for p in configs.pretrained_pairs()} == set(range(10))
    assert {p.a for p in configs.pretrained_pairs()} <= {f for p in lfw_pairs("view2") for f in (p.a, p.b)}
    with pytest.raises(FacelibError, match="unknown criterion"):
        configs.prune_config(runs.PRETRAINED, "l1")


def test_a_pruning_run_starts_from_a_shipped_base_alone(monkeypatch, tmp_path):
    """What a fresh clone has: models/ and results/, no runs/. A network whose shipped base
    carries its identity classifier prunes from that file: the study's run of it names the file,
    the file's saved configuration gives the training split its classifier was trained on, and
    the papers' loop takes a step from it with no head refitted (the classifier is the trained
    one: its loss on the training faces is far below chance's ln(classes))."""
    import dataclasses
    import math

    from facelib.networks import models
    from facelib.pruning import loop
    from facelib.training.config import TrainConfig
    from facelib.training.trainset import TrainData

    monkeypatch.setenv("FACELIB_PROFILE", "full")
    with_head = [a for a in runs.ARCHS if models.has_classifier(configs.shipped_base_file(a))]
    assert with_head, "no shipped base carries its identity classifier"
    arch = with_head[0]
    cfg = configs.prune_config(arch, "taylor")
    assert layout.ROOT / cfg.base_model == configs.shipped_base_file(arch)
    base = models.load_model(configs.shipped_base_file(arch))
    saved = TrainConfig.from_dict({**json.loads(base.meta["config"]), "distill_weight": 0.0, "max_pairs": 60})
    td = TrainData.load(saved)
    assert len(td.split.classes) == base.head.out_features
    small = dataclasses.replace(cfg, base_model=str(configs.shipped_base_file(arch)), steps=1, filters_per_step=16,
                                batches_per_step=2, batch_size=16, finetune_every=1, finetune_batches=2, max_pairs=60)
    rows = loop.prune(small, tmp_path / "run", td, progress=False)
    assert [int(r["step"]) for r in rows] == [0, 1] and not (tmp_path / "run" / "head.json").exists()
    assert rows[1]["trunk_params"] < rows[0]["trunk_params"]
    assert rows[1]["loss"] < 0.5 * math.log(base.head.out_features)
    assert rows[0]["eer_pruned"] < 0.25  # a base that recognises faces, on 60 development pairs
    # every step is also evaluated on the larger set of the development people, with its interval
    assert cfg.larger_pairs == "devpeople" and cfg.precision == precision.runnable(runs.PRECISION[arch])
    for r in rows:
        assert r["devpeople_eer_low_pruned"] <= r["devpeople_eer_pruned"] <= r["devpeople_eer_high_pruned"] < 0.3
    assert rows[1]["devpeople_eer_low_finetuned"] <= rows[1]["devpeople_eer_finetuned"]
