"""How large the study's runs are: two profiles of the same code path, chosen by ``FACELIB_PROFILE``.

- ``full`` (default): the runs whose tables are committed in ``results/``;
- ``fast``: 10 identities, one epoch and a few pruning steps, for CI (nbval) and a first look; it
  writes under ``runs/fast/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from facelib.study.runs import ARCHS, PRETRAINED


@dataclass(frozen=True)
class Schedule:
    """One network's share of a profile: base epochs (0: pretrained), pruning steps x filters per
    step, and where a network needs other than the profile's: mini-batches per step and per fine-tuning."""

    epochs: int
    prune_steps: int
    filters_per_step: int
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
    recipe_epochs: dict[str, int] = field(default_factory=lambda: {"squeezenet": 12, "mobilenetv2": 6, "resnet50": 3})
    deploy_networks: tuple[str, ...] = ARCHS  # the networks whose DEPLOY_ARCHS runs notebook 07 makes
    recipe_networks: tuple[str, ...] = ARCHS  # the networks whose recipe rows notebook 02 makes


PROFILES = {
    # about 3 hours of base training and pruning per network on 2 CPU cores; steps of 1 % of the filters
    "full": Profile("full", max_identities=None, max_pairs=None, networks={
        "squeezenet": Schedule(epochs=48, prune_steps=61, filters_per_step=29),
        "mobilenetv2": Schedule(epochs=28, prune_steps=61, filters_per_step=91),
        "resnet50": Schedule(epochs=21, prune_steps=61, filters_per_step=114),
        PRETRAINED: Schedule(epochs=0, prune_steps=100, filters_per_step=96, batches_per_step=30,
                             finetune_batches=100),
    }),
    "fast": Profile("fast", max_identities=10, max_pairs=30, networks={
        "squeezenet": Schedule(epochs=1, prune_steps=3, filters_per_step=64),
        "mobilenetv2": Schedule(epochs=1, prune_steps=2, filters_per_step=256),
        "resnet50": Schedule(epochs=1, prune_steps=1, filters_per_step=1024),
        PRETRAINED: Schedule(epochs=0, prune_steps=2, filters_per_step=256),
    }, batches_per_step=2, prune_batch_size=16, finetune_every=1, finetune_batches=2, latency_seconds=0.2,
       latency_repeats=5, recipe_epochs={arch: 1 for arch in ARCHS},
       deploy_networks=("squeezenet", "mobilenetv2"), recipe_networks=("squeezenet", "mobilenetv2")),  # no ResNet50
}
