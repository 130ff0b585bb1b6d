"""The study's run declarations (``study.runs``) as configurations: what each base training, recipe
and pruning run is, at the active profile's size (``study.profiles``), and the pairs it is read on."""
from __future__ import annotations

import json
from pathlib import Path

from facelib.data import paths
from facelib.data.pairs import Pair, every_nth_pair, lfw_pairs
from facelib.errors import FacelibError
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.networks.models import build, count_macs, has_classifier, load_model, save_model
from facelib.pruning.config import PruneConfig
from facelib.study import layout
from facelib.study.bases import chosen_way
from facelib.study.runs import (
    ARCHS,
    BASE_RECIPE,
    BASE_RECIPES,
    DEPLOY_ARCHS,
    DEPLOY_MACS,
    DISTILL_WEIGHT,
    LONG_RECIPES,
    PRECISION,
    PRETRAINED,
    PRETRAINED_MACS,
    RECIPE_ARCH,
    RECIPES,
    REFIT_MACS,
    WAYS,
    runs_of,
)
from facelib.training.config import TrainConfig
from facelib.training.precision import runnable


def base_config(arch: str, way: str) -> TrainConfig:
    """The base-training run of ``arch`` trained ``way`` (plain or distill): the network's recipe
    (``runs.BASE_RECIPE`` changed by ``runs.BASE_RECIPES``), split and budget, the same for both
    ways, which differ only in the distillation term."""
    if arch not in ARCHS or way not in WAYS:
        raise FacelibError(f"unknown base run {arch}/{way}; networks: {', '.join(ARCHS)}; ways: plain, distill")
    p, recipe = layout.profile(), {**BASE_RECIPE, **BASE_RECIPES[arch]}
    weight = recipe.pop("distill_weight", DISTILL_WEIGHT)
    return TrainConfig(arch=arch, epochs=p.networks[arch].epochs, **recipe,
                       distill_weight=weight if way == "distill" else 0.0,
                       max_identities=p.max_identities, max_pairs=p.max_pairs, precision=runnable(PRECISION[arch]))


def recipe_names() -> list[str]:
    """The recipe runs of the profile's ``recipe_networks``, in table order: the short ones
    (``runs.RECIPES``), then the long ones (``runs.LONG_RECIPES``)."""
    wanted = layout.profile().recipe_networks
    names = list(RECIPES) + list(LONG_RECIPES)
    return [n for n in names if RECIPES[LONG_RECIPES[n][0] if n in LONG_RECIPES else n].get("arch", RECIPE_ARCH)
            in wanted]


def recipe_config(name: str) -> TrainConfig:
    """The recipe run ``name`` (``runs.RECIPES``): the distilled base recipe of its network
    (SqueezeNet unless it names another) in bf16 (fp32 without bf16 units), changed as the recipe
    says, for the profile's ``recipe_epochs`` of that network; a long run (``runs.LONG_RECIPES``) is
    its recipe for a multiple of them."""
    if name in LONG_RECIPES:
        recipe, times = LONG_RECIPES[name]
        short = recipe_config(recipe)
        return TrainConfig(**{**short.to_dict(), "epochs": times * short.epochs})
    if name not in RECIPES:
        raise FacelibError(f"unknown recipe {name!r}; choose one of {', '.join(recipe_names())}")
    p, arch = layout.profile(), RECIPES[name].get("arch", RECIPE_ARCH)
    return TrainConfig(**{**BASE_RECIPE, "arch": arch, "epochs": p.recipe_epochs[arch], "precision": runnable("bf16"),
                          "distill_weight": DISTILL_WEIGHT, "max_identities": p.max_identities,
                          "max_pairs": p.max_pairs, **RECIPES[name]})


def pretrained_base_file() -> Path:
    """Where the pretrained MobileFaceNet's base file lies (``pretrained_base`` writes it); named after
    the network, since the pruning loop keys the identity heads it fits by the base file's name."""
    return layout.base_run_dir(PRETRAINED, "pretrained") / f"{PRETRAINED}-pretrained.pt"


def pretrained_base() -> Path:
    """The pretrained MobileFaceNet as the base file its pruning runs start from, written once from
    the shared ONNX weights (nothing trained). Its saved configuration is the split its fine-tuning
    uses, people outside LFW View 2, and View 2 as its evaluation pairs (all 6,000; the fast
    profile's ``max_pairs`` of them, evenly spaced)."""
    path = pretrained_base_file()
    if not path.exists():
        p = layout.profile()
        cfg = TrainConfig(arch=PRETRAINED, held_out="view2", eval_pairs="view2", max_identities=p.max_identities,
                          max_pairs=p.max_pairs)
        save_model(MobileFaceNet.from_onnx(paths.reference_model()), path, config=json.dumps(cfg.to_dict()))
    return path


def shipped_base_file(arch: str) -> Path:
    """The chosen base of ``arch`` as shipped (``models/``; the fast profile's under ``runs/fast``)."""
    return layout.models_dir() / f"{arch}-{chosen_way(arch)}-base.pt"


def prune_config(arch: str, criterion: str) -> PruneConfig:
    """The pruning run ``criterion`` (a name of ``runs.runs_of(arch)``) of ``arch``'s chosen base model;
    every run of a network has the same steps, filters per step and fine-tuning unless it sets its own.
    They start from the shipped base (``models/``) where it carries its identity classifier, and
    otherwise from the base's run folder; runs that refit the identity head start from the shipped base
    and stop at ``DEPLOY_MACS`` of its MACs; MobileFaceNet's start from its ONNX weights
    (``pretrained_base``) and stop at ``PRETRAINED_MACS`` (its refit runs at ``REFIT_MACS``)."""
    runs = runs_of(arch)
    if criterion not in runs:
        raise FacelibError(f"unknown criterion {criterion!r}; choose one of {', '.join(runs)}")
    p, schedule = layout.profile(), layout.profile().networks[arch]
    run = runs[criterion]
    if arch == PRETRAINED:
        base = pretrained_base_file()
        share = REFIT_MACS if run.get("reconstruct_faces") else PRETRAINED_MACS
        run = {**run, "target_macs": round(share * count_macs(build(PRETRAINED, 1)))}
    elif run.get("refit_head"):
        base = shipped_base_file(arch)
        if not base.exists():
            raise FacelibError(f"the shipped base {base.relative_to(layout.ROOT)} is missing; "
                               f"notebooks/{layout.notebook_for(arch)}.ipynb writes it")
        run = {**run, "target_macs": round(DEPLOY_MACS * count_macs(load_model(base)))}
    elif has_classifier(shipped_base_file(arch)):  # shipped with its classifier: a fresh clone can prune it
        base = shipped_base_file(arch)
    else:  # a base shipped embedding-only, before bases kept their classifier: its run folder
        base = layout.base_run_dir(arch, chosen_way(arch)) / "model.pt"
    if arch != PRETRAINED:  # its training precision, in evaluation too; every step on the larger set too
        run = {"precision": PRECISION[arch], "eval_precision": PRECISION[arch], "larger_pairs": "devpeople",
               "max_pairs": p.max_pairs, **run}
    run = {**run, **{k: runnable(run[k]) for k in ("precision", "eval_precision") if k in run}}  # as this CPU can
    steps = dict(filters_per_step=schedule.filters_per_step, steps=schedule.prune_steps,
                 batches_per_step=schedule.batches_per_step or p.batches_per_step, batch_size=p.prune_batch_size,
                 finetune_every=p.finetune_every, finetune_batches=schedule.finetune_batches or p.finetune_batches)
    return PruneConfig(base_model=str(base.relative_to(layout.ROOT)), **{**steps, **run})  # a run's own settings win


def deploy_runs() -> dict[str, tuple[str, ...]]:
    """The runtime-friendly-shape runs this profile makes (notebook 07), by network."""
    return {arch: DEPLOY_ARCHS[arch] for arch in layout.profile().deploy_networks}


def dev_pairs() -> list[Pair]:
    """The development pairs the profile evaluates on (all 1,000; 60 evenly spaced when fast)."""
    return every_nth_pair(lfw_pairs("dev"), layout.profile().max_pairs)


def pretrained_pairs() -> list[Pair]:
    """The pairs the pretrained MobileFaceNet is evaluated on: all of LFW View 2 (as many, evenly
    spaced, as the profile evaluates of the development pairs when fast)."""
    return every_nth_pair(lfw_pairs("view2"), layout.profile().max_pairs)


def larger_pairs() -> list[Pair]:
    """The larger verification set of the development people (``data.pairs.lfw_pairs("devpeople")``; as
    many, evenly spaced, as the profile evaluates of the development pairs when fast)."""
    return every_nth_pair(lfw_pairs("devpeople"), layout.profile().max_pairs)
