"""What runs the study has, and how each is set: data only, read at a glance.

Nothing here trains, prunes or writes; ``facelib.study`` turns these definitions into a
``TrainConfig`` or ``PruneConfig`` and runs them, ``facelib.layout`` says where their files go.

A run of the study is named by its network and either a *way* of base training
(``squeezenet/distill``) or a *pruning run* (``squeezenet/taylor``). Every network has the same
ways and pruning runs; what differs per network is its schedule, one line per network and
profile below. Two profiles, chosen by ``FACELIB_PROFILE``:

- ``full`` (default): the runs whose tables are committed in ``results/``;
- ``fast``: the same code path on 10 identities, one epoch and a few pruning steps, for CI
  (nbval) and a first look; it writes under ``runs/fast/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ARCHS = ("squeezenet", "mobilenetv2", "resnet50")

# --- Base training: each network's recipe is BASE_RECIPE changed as BASE_RECIPES says; the two ways
# differ only in distillation.
WAYS = ("plain", "distill")  # identity loss only / identity loss + distillation (facelib.distill)
# AdamW at 3e-4, mini-batches of 64: the papers' SGD at 0.01 stayed on the majority identity for
# the first epochs on our 13k faces (validation accuracy 4 %, dev EER about 40 % after 3 epochs).
BASE_RECIPE = dict(batch_size=64, optimizer="adamw", lr=3e-4, lr_patience=2, checkpoint_every=50)
# Distillation weight 10: the identity loss starts near 7 and 1 - cos near 0.9, so the two terms
# start at a similar size.
DISTILL_WEIGHT = 10.0
# Per network, what the recipe search (results/recipes.csv) changed. SqueezeNet: batch norms while
# training (folded away when saved), warm-up + cosine at 3e-3, bf16: recipe bn-cosine-3e-3, whose
# 48-epoch run levelled off at 8.4 % (bn-cosine-3e-3-x4), with distillation at weight 30, the best
# 12-epoch row (bn-cosine-3e-3-distill30: 9.0 % against 11.0 %). MobileNetV2: warm-up + cosine at 3e-3
# (mobilenetv2-cosine-3e-3 beat 1e-3 at the same budget) with SqueezeNet's distillation weight 30
# (mobilenetv2-cosine-3e-3-distill30: larger set 15.1 % against 16.7 %, intervals overlapping, and a
# lower distillation loss), for 28 epochs (about 82 min at its measured 175 s an epoch). Its 28-epoch
# run at weight 10 had levelled off at 10.0 % (larger set 8.3 %); at weight 30, 7.2 % (7.1 %): on the
# larger set, paired, weight 30 minus weight 10 is -1.3 points [-2.4, -0.3]. ResNet50: warm-up + cosine at 1e-3 (resnet50-cosine-1e-3: 22.8 % after 3
# epochs against 24.4 % at 3e-3; intervals overlapping, 1e-3 the lower), first with SqueezeNet's weight 30
# for 20 epochs, which levelled off at 7.8 % (larger set 6.6 %), short of the 7.0 % floor; then with
# distillation at weight 100 for 21 epochs (resnet50-cosine-1e-3-distill100-x7, trained on a borrowed GPU:
# 6.4 % [4.2, 8.5], larger set 5.7 % [4.6, 6.7], history level over its last 5 epochs), the recipe below.
BASE_RECIPES = {
    "squeezenet": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True, distill_weight=30.0),
    "mobilenetv2": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, distill_weight=30.0),
    "resnet50": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, distill_weight=100.0),
}
# bf16 mixed precision: 0.33x / 0.73x / 0.50x the fp32 step time (bench/bench_precision.py).
PRECISION = {"squeezenet": "bf16", "mobilenetv2": "bf16", "resnet50": "bf16"}

# --- Recipe search (issue 14): short runs, one budget per network (``Profile.recipe_epochs``), bf16,
# distilled as the base runs are, each a change to BASE_RECIPE; one row each in results/recipes.csv.
# A recipe is SqueezeNet's unless it names another network (``arch``).
RECIPE_ARCH = "squeezenet"
RECIPES = {
    "constant-3e-4": dict(),  # today's base recipe: its plateau rule never lowered the rate in 12 epochs
    "cosine-1e-3": dict(lr=1e-3, schedule="cosine", warmup_epochs=1),  # warm-up, then cosine decay to 0
    # the same, distilling the batch's pairwise similarities instead of the projected embedding
    "similarity-cosine-1e-3": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, distill_form="similarity"),
    # distillation alone: does the identity loss compete with the fit to the reference?
    "distill-only-cosine-1e-3": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, identity_weight=0.0),
    # the reference run each step on the student's own augmented view, faces mixed in pairs, so that
    # every step shows new images (facelib.teacher; Beyer et al. 2022)
    "online-mixup-cosine-1e-3": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, teacher="online", mixup_alpha=1.0),
    # SqueezeNet has no batch norm and barely fits even 2,000 faces without augmentation (1 - cos 0.70
    # after 24 epochs; 0.32 with batch norms): trained with them, folded away when saved
    "bn-cosine-1e-3": dict(lr=1e-3, schedule="cosine", warmup_epochs=1, batch_norm=True),
    "bn-cosine-3e-3": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True),  # the rate batch norm allows
    # bn-cosine-3e-3 run 4x as long fits its training faces (91 % identity accuracy) while its EER
    # stands still from epoch 32: changes against that, each to bn-cosine-3e-3 alone. Stronger
    # augmentation (contrast and brightness +-30 %, half the faces with an erased rectangle);
    "bn-cosine-3e-3-jitter-erase": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True, jitter=0.3,
                                        erase=0.5),
    # distillation at 3x the weight, the identity loss a smaller share of the whole;
    "bn-cosine-3e-3-distill30": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True,
                                     distill_weight=30.0),
    # the papers' optimizer, SGD with momentum 0.9, at a rate batch norm allows;
    "bn-sgd-cosine-3e-2": dict(lr=3e-2, schedule="cosine", warmup_epochs=1, batch_norm=True, optimizer="sgd"),
    # AdamW's decoupled weight decay at its usual 5e-2 instead of 5e-4 (MobileNetV2's 28-epoch base
    # also ends at 95 % training accuracy, its EER level from epoch 22).
    "bn-cosine-3e-3-wd5e-2": dict(lr=3e-3, schedule="cosine", warmup_epochs=1, batch_norm=True, weight_decay=5e-2),
    # MobileNetV2 has batch norms already: SqueezeNet's schedule at its two rates, half SqueezeNet's
    # budget in epochs (each of its epochs costs about four of SqueezeNet's)
    "mobilenetv2-cosine-1e-3": dict(arch="mobilenetv2", lr=1e-3, schedule="cosine", warmup_epochs=1),
    "mobilenetv2-cosine-3e-3": dict(arch="mobilenetv2", lr=3e-3, schedule="cosine", warmup_epochs=1),
    # its 28-epoch base levelled at 10.0 % with 95 % training accuracy: SqueezeNet's distillation weight 30
    "mobilenetv2-cosine-3e-3-distill30": dict(arch="mobilenetv2", lr=3e-3, schedule="cosine", warmup_epochs=1,
                                              distill_weight=30.0),
    # ResNet50 (batch norms too): the same two rates, at a quarter of SqueezeNet's budget in epochs (each of
    # its epochs costs several of SqueezeNet's)
    "resnet50-cosine-1e-3": dict(arch="resnet50", lr=1e-3, schedule="cosine", warmup_epochs=1),
    "resnet50-cosine-3e-3": dict(arch="resnet50", lr=3e-3, schedule="cosine", warmup_epochs=1),
    # ResNet50's 20-epoch distilled base levelled off at 7.8 % (larger set 6.6 %) at 96 % training accuracy,
    # short of its 7.0 % floor: three changes to its base recipe against that (trained on a borrowed GPU:
    # tools/gpu_training.py): distillation at weight 100 (30 beat 10 for the other two networks); AdamW's
    # usual weight decay 5e-2 with contrast jitter and random erasing (at the base's weight 30); both together.
    "resnet50-cosine-1e-3-distill100": dict(arch="resnet50", lr=1e-3, schedule="cosine", warmup_epochs=1,
                                            distill_weight=100.0),
    "resnet50-cosine-1e-3-wd5e-2-jitter-erase": dict(arch="resnet50", lr=1e-3, schedule="cosine", warmup_epochs=1,
                                                     distill_weight=30.0, weight_decay=5e-2, jitter=0.3, erase=0.5),
    "resnet50-cosine-1e-3-distill100-wd5e-2-jitter-erase": dict(arch="resnet50", lr=1e-3, schedule="cosine",
                                                                warmup_epochs=1, distill_weight=100.0,
                                                                weight_decay=5e-2, jitter=0.3, erase=0.5),
}
# Convergence runs: a recipe run for a multiple of the budget, to see where its EER levels off and so
# how long a base run of that recipe needs (name: (recipe, multiple of recipe_epochs)).
# ResNet50: the long run of its best row only. The long runs of the other two were started beside it on the
# borrowed GPU and stopped by the loan's end at epoch 19 of 21 (development EER then 8.0 % and 6.8 %), unrecorded.
LONG_RECIPES = {"bn-cosine-3e-3-x4": ("bn-cosine-3e-3", 4), "bn-cosine-3e-3-distill30-x4": ("bn-cosine-3e-3-distill30", 4),
                "resnet50-cosine-1e-3-distill100-x7": ("resnet50-cosine-1e-3-distill100", 7)}

# --- Pruning runs of each network's chosen base (PruneConfig fields beyond the schedule).
CRITERIA = ("taylor", "l1", "weight_taylor", "random")
PRUNING_RUNS = {
    **{c: dict(criterion=c) for c in CRITERIA},  # scored by the papers' identity loss
    # the other score form: Taylor scores over their group's L2 norm (Molchanov et al. 2017, eq. 9), so a
    # high-resolution layer, whose mean over positions (eq. 8) scores low, is not emptied first
    "taylor_normalised": dict(criterion="taylor", normalise=True),
    # Taylor pruning whose training between and after steps also distils from the reference,
    # scored by the identity loss (as the papers) or by the combined loss.
    "taylor_distill": dict(criterion="taylor", distill_weight=DISTILL_WEIGHT),
    "taylor_distill_combined": dict(criterion="taylor", distill_weight=DISTILL_WEIGHT, score_loss="combined"),
}

# The two forms of Taylor scores, each a run of every network (the pretrained one included), as the
# dashboard and notebooks offer them: the papers' mean over positions, and each group's scores over
# their L2 norm.
SCORE_FORMS = {"raw (eq. 8)": "taylor", "layer-normalised (eq. 9)": "taylor_normalised"}
FORM_OF = {name: form for form, name in SCORE_FORMS.items()}  # run name -> score form

# --- Runtime-friendly shapes (issue 17): Taylor pruning of each network's *shipped* base (models/),
# with a new identity classifier fitted on its frozen embeddings first (refit_head: the shipped file
# has none, so a fresh clone can re-run these), until the MACs fall to DEPLOY_MACS of the base's; once with free
# filter counts and once with every count a multiple of 16, the block of 16 fp32 values that
# ONNX Runtime's AVX-512 convolution kernels work in (rounding the free counts of the Taylor runs up
# to 16 took MobileNetV2 from 1.54x to 0.72x the unpruned latency in ONNX Runtime; 8 did less for
# SqueezeNet: bench/bench_deploy.py). Notebook 07 runs them; bench/bench_deploy.py times them.
DEPLOY_RUNS = {
    "taylor_shipped": dict(criterion="taylor", refit_head=True),
    "taylor_shipped_r16": dict(criterion="taylor", refit_head=True, round_to=16),
}
DEPLOY_MACS = 0.6
# The deploy runs of each network. ResNet50 has only the rounded one (12 min on 2 AVX512-BF16 cores, most of it the
# per-step evaluation); for free counts bench_deploy times its study Taylor run's shape instead.
DEPLOY_ARCHS = {"squeezenet": tuple(DEPLOY_RUNS), "mobilenetv2": tuple(DEPLOY_RUNS),
                "resnet50": ("taylor_shipped_r16",)}
PRUNING_RUNS.update(DEPLOY_RUNS)

# --- The pretrained MobileFaceNet (issue 16): its weights come from the shared ONNX file, so it has no
# base training; it is pruned and fine-tuned on 5-point aligned faces of people outside LFW View 2
# (CelebA-299 and the LFW people pairs.txt never uses) and evaluated on all of View 2 (its 6,000
# pairs: EER with its interval, 10-fold accuracy). It has no classifier for our people, so a head is
# fitted on the frozen network first (the loop needs one), but no identity loss trains: distillation
# alone does, towards the unpruned network itself, frozen and run on the student's own augmented
# batch (teacher="unpruned"), by AdamW at 1e-4; the Taylor scores come from the distillation loss towards the
# reference's cached embedding of the unaugmented face (score_loss="reference"), which does not train:
# the unpruned target's loss is zero at the unpruned network, and so is its gradient.
# Measured in throwaway runs, EER on every third View 2 pair (1.0 % unpruned) unless said otherwise:
# - identity (the refitted head) + 10x distillation at 1e-4, the first choice: the unpruned network
#   kept its EER, but pruning runs could not recover: the layer-normalised run reached 2.4 % pruned and
#   2.4 % after fine-tuning at 23 % of the MACs removed, 5.9 / 5.3 % at 30 %, its training loss
#   rising every step (0.35 -> 2.6); at 1e-3 that loss took the unpruned network to 3.3 % (all of
#   View 2) and step 12's pruned network from 6.4 to 40 % in 50 mini-batches;
# - distillation alone towards the cached reference, on step 12's pruned network (6.4 %), 100
#   mini-batches: 3.0 % at 3e-4, 4.5 % at 1e-3; matching the batch's pairwise cosines instead (no
#   projection): 12.1 % at 1e-3; on the unpruned network, 50 mini-batches: 0.9 % at 1e-4, 1.2 % at
#   3e-4, 2.2 % at 1e-3;
# - the layer-normalised run of that recipe (all of View 2, 0.80 % unpruned): 1.5 % after step 1,
#   which only removed filters that never fired (the first recipe's step 1, the same filters, kept
#   0.83 %): the training itself moved the network, as the student sees one augmented view and the
#   reference is the mirror-fused embedding of the unaugmented face; 1.07 % fine-tuned at step 4 (17 %
#   of the MACs removed), 2.4 % at step 6 (20 %);
# - towards the unpruned network on the same view (all of View 2): its loss starts at zero, but at 3e-4
#   SGD is unstable on it (1 - cos grew from 7e-5 to 4e-3 in five mini-batches of the unpruned network,
#   with or without momentum; step 1's network: 2.7 %), at 1e-4 it stays at 1e-4 (bf16 rounding).
#   The layer-normalised run with SGD at 1e-4, 10 mini-batches a step: 0.80 % to step 3 (every
#   removed filter had never fired), 1.03 % at step 4 (0.90 % fine-tuned, 18 % of the MACs removed),
#   then its loss rose every step (0.001 -> 2.4 at step 13) and its EER with it: 2.0 % at step 8
#   (1.77 % fine-tuned), 4.4 % at step 12 (4.23 %, 29 % removed);
# - recovery of that step-12 network (4.8 % on every third pair), 50 mini-batches: SGD 1e-4 4.8 %,
#   AdamW 3e-5 4.1 %, AdamW 1e-4 3.9 %; 200 of AdamW 1e-4 3.3 %, 100 of AdamW 3e-4 3.2 %. Hence AdamW
#   at 1e-4 and 30 mini-batches a step (100 per fine-tuning; Schedule): recovery is what this
#   compact network is short of, and the per-step View 2 evaluation (about 100 s) costs more than 30.
PRETRAINED = "mobilefacenet"
PRETRAINED_RUN = dict(criterion="taylor", refit_head=True, distill_weight=DISTILL_WEIGHT, identity_weight=0.0,
                      score_loss="reference", teacher="unpruned", optimizer="adamw", lr=1e-4, precision="bf16")
PRETRAINED_RUNS = {
    "taylor": PRETRAINED_RUN,  # the papers' raw scores (equation 8: mean over positions and the batch)
    "taylor_normalised": dict(PRETRAINED_RUN, normalise=True),  # each group's scores over their L2 norm
}
PRETRAINED_MACS = 0.25  # pruning stops once the MACs are at most this share of the unpruned network's
# The run whose fine-tuned models each network ships (models/): the papers' Taylor run, and for
# MobileFaceNet the layer-normalised one: with raw scores (first recipe) its fourth step cut the 56x56 stem from
# 56 to 14 filters (eq. 8's mean over positions scores high-resolution layers low), taking its View 2
# EER from 0.9 to 17.8 % (2.97 % fine-tuned), so its copies would show that collapse, not pruning.
SHIPPED_RUNS = {**{arch: "taylor" for arch in ARCHS}, PRETRAINED: "taylor_normalised"}
NETWORKS = ARCHS + (PRETRAINED,)  # every network with results, in table order

# The notebook that makes each network's Taylor run (the other runs: 07_comparison; bases: 02;
# every MobileFaceNet run: 08).
NOTEBOOKS = {"squeezenet": "04_squeezerfacenet", "mobilenetv2": "05_mobilenetv2", "resnet50": "06_resnet50",
             PRETRAINED: "08_mobilefacenet"}


@dataclass(frozen=True)
class Schedule:
    """One network's share of a profile: base epochs (0: pretrained), pruning steps x filters per
    step, every how many steps the Taylor run's fine-tuned model is shipped in ``models/`` (None:
    never), and
    where a network needs other than the profile's: mini-batches of training per step and of each
    fine-tuning."""

    epochs: int
    prune_steps: int
    filters_per_step: int
    ship_every: int | None
    batches_per_step: int | None = None
    finetune_batches: int | None = None


@dataclass(frozen=True)
class Profile:
    """What a profile changes; everything else is the same code path."""

    name: str
    max_identities: int | None  # training identities (None: all 1,561)
    max_pairs: int | None  # development pairs evaluated, evenly spaced (None: all 1,000)
    networks: dict[str, Schedule]
    batches_per_step: int = 10  # mini-batches of training (and scoring) per pruning step
    prune_batch_size: int = 64
    finetune_every: int = 4
    finetune_batches: int = 50
    latency_seconds: float = 2.0  # least time timing each step's network against the unpruned one
    latency_repeats: int = 30  # and least calls of each
    # the budget of every recipe run of a network, in epochs
    recipe_epochs: dict[str, int] = field(default_factory=lambda: {"squeezenet": 12, "mobilenetv2": 6, "resnet50": 3})
    deploy_networks: tuple[str, ...] = ARCHS  # the networks whose DEPLOY_ARCHS runs notebook 07 makes
    recipe_networks: tuple[str, ...] = ARCHS  # the networks whose recipe rows notebook 02 makes


PROFILES = {
    # Sized so that each network's base training and pruning fit about 3 hours on 2 CPU cores;
    # the measured time of every epoch is in results/base/<arch>-<way>-history.csv.
    # models/ holds at most 80 MB, hence fewer shipped steps for the larger networks: in half precision
    # ResNet50's base with its classifier (what a pruning run from a fresh clone needs) takes 53 MB, and
    # its 60 %-pruned copy would take about 10 more (its 54 %-pruned step of the first study: 12.9 MB);
    # beside MobileFaceNet's 4 copies (4.2 MB), SqueezeNet's base and 3 copies (6 MB) and MobileNetV2's
    # base (8.6 MB) that leaves room for 2 MobileNetV2 copies (about 4.4 MB) and none of ResNet50's,
    # which its run keeps in runs/ (the dashboard compares faces by its base).
    # Pruning steps of at most 1 % of a network's prunable filters (2,944 / 9,128 / 11,456 once coupled
    # channels count once: 29 / 91 / 114), 61 of them, so the last step has removed 60 % (issue 15; the
    # papers remove 8 filters an iteration).
    "full": Profile("full", max_identities=None, max_pairs=None, networks={
        "squeezenet": Schedule(epochs=48, prune_steps=61, filters_per_step=29, ship_every=20),
        "mobilenetv2": Schedule(epochs=28, prune_steps=61, filters_per_step=91, ship_every=30),
        "resnet50": Schedule(epochs=21, prune_steps=61, filters_per_step=114, ship_every=None),
        # 4,544 prunable filters, 96 (2 %) a step: each step's evaluation on all 6,000 View 2 pairs
        # takes up to 100 s here, so steps of 1 % would double the run; the runs stop at PRETRAINED_MACS
        PRETRAINED: Schedule(epochs=0, prune_steps=100, filters_per_step=96, ship_every=8, batches_per_step=30,
                             finetune_batches=100),
    }),
    "fast": Profile("fast", max_identities=10, max_pairs=30, networks={
        "squeezenet": Schedule(epochs=1, prune_steps=3, filters_per_step=64, ship_every=1),
        "mobilenetv2": Schedule(epochs=1, prune_steps=2, filters_per_step=256, ship_every=1),
        "resnet50": Schedule(epochs=1, prune_steps=1, filters_per_step=1024, ship_every=1),
        PRETRAINED: Schedule(epochs=0, prune_steps=2, filters_per_step=256, ship_every=2),
    }, batches_per_step=2, prune_batch_size=16, finetune_every=1, finetune_batches=2, latency_seconds=0.2,
       latency_repeats=5,
       recipe_epochs={arch: 1 for arch in ARCHS},
       # ResNet50's deploy runs take over 3 min even here, its recipe rows over a minute; its base and
       # pruning runs still go through the fast path in notebooks 02 and 06
       deploy_networks=("squeezenet", "mobilenetv2"), recipe_networks=("squeezenet", "mobilenetv2")),
}
