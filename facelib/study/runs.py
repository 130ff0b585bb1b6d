"""The study's runs, as declarations: which exist and how each is set, one line of reason each.

Nothing here trains or writes: ``study.configs`` turns these into a ``TrainConfig`` or ``PruneConfig``,
``study.running`` makes them, ``study.profiles`` sizes them. Why each value is what it is, with the
measurements behind it: docs/decisions.md.
"""
from __future__ import annotations

from facelib.networks import NAMES
from facelib.pruning import CRITERION_NAMES

PRETRAINED = "mobilefacenet"  # pretrained: its weights come from the shared ONNX file, never trained here
NETWORKS = NAMES  # every network with results, in table order
ARCHS = tuple(a for a in NETWORKS if a != PRETRAINED)  # the networks the study trains from scratch

# --- Base training: each network's recipe is BASE_RECIPE changed by BASE_RECIPES; the ways differ only in distillation.
WAYS = ("plain", "distill")
BASE_RECIPE = dict(batch_size=64, optimizer="adamw", lr=3e-4, lr_patience=2, checkpoint_every=50)
DISTILL_WEIGHT = 10.0  # the two loss terms start at a similar size
BASE_RECIPES = {  # each network's best rows of results/recipes.csv
    "squeezenet": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True, distill_weight=30.0),
    "mobilenetv2": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, distill_weight=30.0),
    "resnet50": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, distill_weight=100.0),
}
PRECISION = {"squeezenet": "bf16", "mobilenetv2": "bf16", "resnet50": "bf16"}  # where the CPU has bf16 units

# --- Recipe search: short runs, each a change to the distilled BASE_RECIPE; SqueezeNet's unless it names an arch.
RECIPE_ARCH = "squeezenet"
COSINE_1E3 = dict(lr=1e-3, schedule="cosine", warmup_epochs=1)
BN_3E3 = dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True)
RESNET50_1E3 = dict(COSINE_1E3, arch="resnet50")
RECIPES = {
    "constant-3e-4": dict(),  # the first base recipe
    "cosine-1e-3": COSINE_1E3,  # warm-up, then cosine decay to 0
    "similarity-cosine-1e-3": dict(COSINE_1E3, distill_form="similarity"),  # distil the pairwise cosines
    "distill-only-cosine-1e-3": dict(COSINE_1E3, identity_weight=0.0),  # does the identity loss compete?
    "online-mixup-cosine-1e-3": dict(COSINE_1E3, teacher="online", mixup_alpha=1.0),  # new views every step
    "bn-cosine-1e-3": dict(COSINE_1E3, batch_norm=True),  # batch norms, folded away when saved
    "bn-cosine-3e-3": BN_3E3,  # the rate batch norms allow
    "bn-cosine-3e-3-jitter-erase": dict(BN_3E3, jitter=0.3, erase=0.5),  # stronger augmentation
    "bn-cosine-3e-3-distill30": dict(BN_3E3, distill_weight=30.0),  # distillation a larger share
    "bn-sgd-cosine-3e-2": dict(BN_3E3, lr=3e-2, optimizer="sgd"),  # the papers' optimizer
    "bn-cosine-3e-3-wd5e-2": dict(BN_3E3, weight_decay=5e-2),  # AdamW's usual weight decay
    "mobilenetv2-cosine-1e-3": dict(COSINE_1E3, arch="mobilenetv2"),
    "mobilenetv2-cosine-3e-3": dict(COSINE_1E3, arch="mobilenetv2", lr=3e-3),
    "mobilenetv2-cosine-3e-3-distill30": dict(COSINE_1E3, arch="mobilenetv2", lr=3e-3, distill_weight=30.0),
    "resnet50-cosine-1e-3": RESNET50_1E3,
    "resnet50-cosine-3e-3": dict(RESNET50_1E3, lr=3e-3),
    "resnet50-cosine-1e-3-distill100": dict(RESNET50_1E3, distill_weight=100.0),
    "resnet50-cosine-1e-3-wd5e-2-jitter-erase": dict(RESNET50_1E3, distill_weight=30.0, weight_decay=5e-2,
                                                     jitter=0.3, erase=0.5),
    "resnet50-cosine-1e-3-distill100-wd5e-2-jitter-erase": dict(RESNET50_1E3, distill_weight=100.0,
                                                                weight_decay=5e-2, jitter=0.3, erase=0.5),
}
LONG_RECIPES = {  # where a recipe's EER levels off: name -> (recipe, multiple of its budget)
    "bn-cosine-3e-3-x4": ("bn-cosine-3e-3", 4), "bn-cosine-3e-3-distill30-x4": ("bn-cosine-3e-3-distill30", 4),
    "resnet50-cosine-1e-3-distill100-x7": ("resnet50-cosine-1e-3-distill100", 7)}

# --- Pruning runs of each network's chosen base (PruneConfig fields beyond the profile's schedule).
CRITERION_RUNS = tuple(c for c in CRITERION_NAMES if c != "reconstruction")  # compared on SqueezeNet (notebook 07);
# the reconstruction criterion needs the refit runs' faces: REFIT_RUNS
PRUNING_RUNS = {
    **{c: dict(criterion=c) for c in CRITERION_RUNS},  # scored by the papers' identity loss
    "taylor_normalised": dict(criterion="taylor", normalise=True),  # eq. 9: each group's scores over their L2 norm
    "taylor_distill": dict(criterion="taylor", distill_weight=DISTILL_WEIGHT),  # training also distils
    "taylor_distill_combined": dict(criterion="taylor", distill_weight=DISTILL_WEIGHT, score_loss="combined"),
}
SCORE_FORMS = {"raw (eq. 8)": "taylor", "layer-normalised (eq. 9)": "taylor_normalised"}  # as the pages offer them
FORM_OF = {name: form for form, name in SCORE_FORMS.items()}  # run name -> score form

# --- Runtime-friendly shapes: Taylor pruning of the shipped base, free counts or multiples of 16, to DEPLOY_MACS.
DEPLOY_RUNS = {"taylor_shipped": dict(criterion="taylor", refit_head=True),
               "taylor_shipped_r16": dict(criterion="taylor", refit_head=True, round_to=16)}
DEPLOY_MACS = 0.6
DEPLOY_ARCHS = {"squeezenet": tuple(DEPLOY_RUNS), "mobilenetv2": tuple(DEPLOY_RUNS),
                "resnet50": ("taylor_shipped_r16",)}  # its free counts: the study Taylor run's shape
PRUNING_RUNS.update(DEPLOY_RUNS)

# --- The pretrained MobileFaceNet: distillation alone towards the unpruned network, scored towards the reference.
PRETRAINED_RUN = dict(criterion="taylor", refit_head=True, distill_weight=DISTILL_WEIGHT, identity_weight=0.0,
                      score_loss="reference", teacher="unpruned", optimizer="adamw", lr=1e-4, precision="bf16")
PRETRAINED_RUNS = {"taylor": PRETRAINED_RUN, "taylor_normalised": dict(PRETRAINED_RUN, normalise=True)}
PRETRAINED_MACS = 0.25  # its runs stop at this share of the unpruned network's MACs
# --- Pruning with little data: after each removal the layers reading the removed channels are refitted by least
# squares to the unpruned network's outputs on REFIT["reconstruct_faces"] training faces (pruning.reconstruction),
# with the loop's training and fine-tuned copies, or by reconstruction alone (UNTRAINED); filters chosen by the
# layer-normalised Taylor score or by the error they leave (criterion "reconstruction", ThiNet's).
REFIT = dict(reconstruct_faces=1500, reconstruct_positions=24)  # as the one-shot measurement
UNTRAINED = dict(train=False, finetune_every=0)
REFIT_MACS = 0.5  # MobileFaceNet's refit runs stop here: past the 40 % goal, at half its baseline runs' length


def _refit_runs(taylor_normalised: dict) -> dict[str, dict]:
    by_error = dict(taylor_normalised, criterion="reconstruction", normalise=False)
    return {"taylor_normalised_refit": dict(taylor_normalised, **REFIT),
            "taylor_normalised_refit_untrained": dict(taylor_normalised, **REFIT, **UNTRAINED),
            "reconstruction_refit": dict(by_error, **REFIT),
            "reconstruction_refit_untrained": dict(by_error, **REFIT, **UNTRAINED)}


REFIT_RUNS = {PRETRAINED: _refit_runs(PRETRAINED_RUNS["taylor_normalised"]),
              "squeezenet": _refit_runs(PRUNING_RUNS["taylor_normalised"])}


def runs_of(arch: str) -> dict[str, dict]:
    """Every pruning run declared for network ``arch``: run name -> its settings."""
    return {**(PRETRAINED_RUNS if arch == PRETRAINED else PRUNING_RUNS), **REFIT_RUNS.get(arch, {})}


# The run whose fine-tuned models a network ships in models/ (``PruningRun.deployable_steps``): the layer-
# normalised one, the form that removes filters at little loss; none of ResNet50's fits the 80 MB budget.
SHIPPED_RUNS = {"squeezenet": "taylor_normalised", "mobilenetv2": "taylor_normalised", PRETRAINED: "taylor_normalised"}
NOTEBOOKS = {"squeezenet": "04_squeezerfacenet", "mobilenetv2": "05_mobilenetv2", "resnet50": "06_resnet50",
             PRETRAINED: "08_mobilefacenet"}  # each network's Taylor runs; other criteria: 07; bases: 02
