"""Run configurations as small dataclasses; each run saves its configuration beside its results.

``check()`` turns a bad option into one sentence (``FacelibError``) before any work starts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from facelib.errors import FacelibError

# LFW pair sets: the official View 1 test and train pairs, View 2, and the larger set drawn from the
# development people (data.dev_people_pairs)
PAIR_SETS = ("dev", "devtrain", "view2", "devpeople")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("plateau", "cosine")
PRECISIONS = ("fp32", "bf16")
# How a run was computed rather than what it is: a result recorded with other values still answers it
# (a bf16 result made on a CPU with bfloat16 units, asked for in fp32 on one without: facelib.precision)
MACHINE_FIELDS = ("threads", "device", "precision", "eval_precision")


class _Config:
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The configuration saved by ``to_dict`` (unknown keys, from other versions, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def _agrees_with(self, other: "_Config", skip: set[str] | tuple[str, ...]) -> bool:
        """Whether ``other`` is of this kind and every field but ``skip`` is equal."""
        a, b = self.to_dict(), other.to_dict()
        return type(self) is type(other) and all(a[k] == b[k] for k in a if k not in skip)

    def same_study_run(self, other: "_Config") -> bool:
        """Whether a result recorded with ``other`` answers this configuration: all but the
        ``MACHINE_FIELDS`` agree."""
        return self._agrees_with(other, MACHINE_FIELDS)

    def _check_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise FacelibError(f"unknown optimizer {self.optimizer!r}; choose sgd or adamw")

    def _check_pairs(self) -> None:
        for name in (getattr(self, "eval_pairs", None), getattr(self, "larger_pairs", None)):
            if name is not None and name not in PAIR_SETS:
                raise FacelibError(f"unknown pairs set {name!r}; choose dev, devtrain, view2, devpeople or none")


@dataclass
class TrainConfig(_Config):
    """Softmax identity training as in the papers: SGD with momentum, mini-batch 128, learning
    rate divided by ``lr_factor`` when the validation loss stops falling for ``lr_patience`` epochs.
    ``optimizer="adamw"`` (momentum unused) is the option the study's base runs use: from scratch on
    13k faces, SGD at 0.01 stays on the majority identity for many epochs (README, "Base models")."""

    arch: str = "squeezenet"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.1
    lr_patience: int = 1
    schedule: str = "plateau"  # or "cosine": linear warm-up, then cosine decay to 0 (train.make_schedule)
    warmup_epochs: float = 0.0
    seed: int = 0
    augment: bool = True
    jitter: float = 0.0  # > 0: contrast and brightness jitter of each training face (preprocessing.jitter_and_erase)
    erase: float = 0.0  # > 0: the probability of erasing a random rectangle of each training face (the same)
    batch_norm: bool = False  # SqueezeNet only: train with batch norms, folded into the convs when saved
    identity_weight: float = 1.0
    distill_weight: float = 0.0
    distill_form: str = "embedding"  # or "similarity": match the batch's pairwise cosines (distill.similarity_loss)
    teacher: str = "cached"  # or "online": the reference run on the student's own view each step (facelib.teacher)
    mixup_alpha: float = 0.0  # > 0 (online teacher only): faces mixed in pairs, weight ~ Beta(alpha, alpha)
    val_fraction: float = 0.02
    min_images: int = 2
    max_identities: int | None = None
    use_lfw: bool = True
    use_celeba: bool = True
    held_out: str = "dev"  # LFW people never trained on: those of the "dev" pairs, or of "view2" (data.study_split)
    eval_pairs: str | None = "dev"
    max_pairs: int | None = None
    checkpoint_every: int = 50
    threads: int | None = None
    device: str = "cpu"
    precision: str = "fp32"

    def check(self) -> None:
        from facelib.models import ARCHS

        if self.arch not in ARCHS:
            raise FacelibError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.arch == "mobilefacenet":
            raise FacelibError("mobilefacenet is pretrained (its weights come from the shared ONNX file): it is pruned "
                               "and fine-tuned, not trained from scratch")
        self._check_optimizer()
        if self.precision not in PRECISIONS:
            raise FacelibError(f"unknown precision {self.precision!r}; choose fp32 or bf16")
        if self.held_out not in ("dev", "view2"):
            raise FacelibError(f"unknown --held-out {self.held_out!r}; choose dev or view2")
        if self.batch_norm and self.arch != "squeezenet":
            raise FacelibError("--batch-norm is for squeezenet only (the other networks always have batch norms)")
        if self.distill_form not in ("embedding", "similarity"):
            raise FacelibError(f"unknown distillation form {self.distill_form!r}; choose embedding or similarity")
        if self.teacher not in ("cached", "online"):
            raise FacelibError(f"unknown teacher {self.teacher!r}; choose cached or online")
        if not (0 <= self.jitter < 1 and 0 <= self.erase <= 1) or ((self.jitter or self.erase) and not self.augment):
            raise FacelibError("--jitter must be in [0, 1) and --erase in [0, 1], both with --augment 1")
        if (self.jitter or self.erase) and self.teacher == "online":
            raise FacelibError("--jitter and --erase are for the cached teacher (the online teacher draws its own views)")
        if self.mixup_alpha < 0 or (self.mixup_alpha > 0 and self.teacher != "online"):
            raise FacelibError("--mixup-alpha must not be negative, and mixup needs --teacher online")
        if self.schedule not in SCHEDULES:
            raise FacelibError(f"unknown schedule {self.schedule!r}; choose plateau or cosine")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise FacelibError("--warmup-epochs must be between 0 and --epochs")
        if self.epochs < 1 or self.batch_size < 1:
            raise FacelibError("--epochs and --batch-size must be at least 1")
        if self.identity_weight < 0 or self.distill_weight < 0:
            raise FacelibError("--identity-weight and --distill-weight must not be negative")
        self._check_pairs()

    def same_run_as(self, other: "TrainConfig") -> bool:
        """Whether ``other`` continues this run: everything but threads, device and (under the plateau
        schedule, which does not depend on it) the epoch count agree."""
        return self._agrees_with(other, {"threads", "device"} | ({"epochs"} if self.schedule == "plateau" else set()))


@dataclass
class PruneConfig(_Config):
    """One pruning run (``facelib.pruning.loop``). Defaults follow MATLAB's Taylor pruning
    example the papers used (8 filters per iteration), scaled to a 2-core CPU."""

    base_model: str = ""
    criterion: str = "taylor"
    filters_per_step: int = 8
    steps: int = 20
    target_params: int | None = None
    target_macs: int | None = None  # stop once the network's MACs are at most this
    batches_per_step: int = 10
    batch_size: int = 64
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"  # or "adamw" (momentum unused): a fresh optimizer every step either way
    normalise: bool = False
    min_channels: int = 1
    finetune_every: int = 5
    finetune_batches: int = 50
    distill_weight: float = 0.0
    score_loss: str = "identity"
    # Each step is evaluated on the pairs its base was evaluated on in training (the base's own
    # eval_pairs and max_pairs: the development pairs for the study's networks, View 2 for
    # MobileFaceNet) and, where named, on a second, larger set (``data.lfw_pairs``: "devpeople"),
    # of which the most pairs kept, evenly spaced, is max_pairs (None: all).
    larger_pairs: str | None = None
    max_pairs: int | None = None
    seed: int = 0
    threads: int | None = None
    precision: str = "fp32"  # bf16: training and scoring between steps under bfloat16 autocast
    # bf16: each step's verification too (evaluate.embed_images); bench/bench_evaluate.py measures it
    eval_precision: str = "fp32"
    round_to: int = 1  # keep every group's filter count a multiple of this (scores.select_to_remove)
    refit_head: bool = False  # first fit a new identity classifier on the frozen base (pruning.head)
    identity_weight: float = 1.0  # 0 with distill_weight > 0: distillation alone trains and scores
    # what distillation pulls towards: "reference" (the ONNX reference's cached embedding of the
    # unaugmented face) or "unpruned" (the base network, frozen, run on the student's own view)
    teacher: str = "reference"

    def check(self) -> None:
        from facelib.pruning.scores import CRITERIA

        if self.round_to < 1:
            raise FacelibError("--round-to must be at least 1")
        if self.precision not in PRECISIONS or self.eval_precision not in PRECISIONS:
            raise FacelibError(f"unknown precision {self.precision!r} or eval precision {self.eval_precision!r}; "
                               "choose fp32 or bf16")
        if self.score_loss not in ("identity", "combined", "reference"):
            raise FacelibError(f"unknown --score-loss {self.score_loss!r}; choose identity, combined or reference")
        self._check_optimizer()
        if self.teacher not in ("reference", "unpruned"):
            raise FacelibError(f"unknown --teacher {self.teacher!r}; choose reference or unpruned")
        if self.distill_weight < 0 or self.identity_weight < 0:
            raise FacelibError("--distill-weight and --identity-weight must not be negative")
        if self.distill_weight == 0 and (self.teacher != "reference" or self.score_loss == "reference"):
            raise FacelibError("--teacher unpruned and --score-loss reference need --distill-weight above 0")
        if self.identity_weight == 0 and (self.distill_weight == 0 or self.score_loss == "identity"):
            raise FacelibError("--identity-weight 0 needs --distill-weight above 0 and --score-loss combined or reference")
        if self.criterion not in CRITERIA:
            raise FacelibError(f"unknown criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}")
        if self.filters_per_step < 1 or self.steps < 1 or self.batches_per_step < 1 or self.min_channels < 1:
            raise FacelibError("--filters-per-step, --steps, --batches-per-step and --min-channels must be at least 1")
        self._check_pairs()
