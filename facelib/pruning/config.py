"""One pruning run's configuration (``facelib.pruning.loop.prune``); each field's help text is the
command line's (``python -m facelib prune --help``). Defaults follow MATLAB's Taylor pruning example
the papers used (8 filters per iteration), scaled to a 2-core CPU."""
from __future__ import annotations

from dataclasses import dataclass

from facelib.config import PRECISIONS, Config, option
from facelib.data.pairs import check_pair_set
from facelib.errors import FacelibError
from facelib.pruning.criteria import CRITERIA


@dataclass
class PruneConfig(Config):
    base_model: str = option("", "the trained model.pt to prune")
    criterion: str = option("taylor", "filter importance: taylor (the papers), l1, weight_taylor, random or "
                                           "reconstruction (ThiNet's, with --reconstruct-faces)")
    filters_per_step: int = option(8, "filters removed per pruning step, lowest scores across the whole network")
    steps: int = option(20, "maximum number of pruning steps")
    target_params: int | None = option(None, "stop once the whole network has at most this many parameters")
    target_macs: int | None = option(None, "stop once the network's multiply-accumulates (at its input size) are "
                                           "at most this")
    batches_per_step: int = option(10, "training mini-batches per step over which scores are accumulated")
    batch_size: int = option(64, "mini-batch size during pruning and fine-tuning")
    lr: float = option(0.001, "learning rate during pruning and fine-tuning")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "L2 weight decay")
    optimizer: str = option("sgd", "sgd (with --momentum) or adamw, made afresh every step")
    normalise: bool = option(False, "divide each group's scores by their L2 norm (Molchanov 2017, eq. 9) (1/0)")
    min_channels: int = option(1, "never leave a layer with fewer filters than this")
    finetune_every: int = option(5, "fine-tune a copy every N steps and log its EER too (0: never)")
    finetune_batches: int = option(50, "mini-batches of each such fine-tuning")
    distill_weight: float = option(0.0, "weight of the distillation term towards the reference model in all "
                                        "training between and after pruning steps (0: identity loss only, the papers)")
    score_loss: str = option("identity", "loss the Taylor and weight-Taylor scores come from: identity (the "
                                         "papers), combined (identity + distillation) or reference (distillation "
                                         "towards the cached reference embeddings, which does not train)")
    # Each step is evaluated on the pairs its base was evaluated on in training (the base's own
    # eval_pairs and max_pairs) and, where named, on a second, larger set.
    larger_pairs: str | None = option(None, "a second, larger set of LFW pairs evaluated at every step "
                                            "(devpeople), or none")
    max_pairs: int | None = option(None, "the most pairs of the larger set kept, evenly spaced (none: all)")
    reconstruct_faces: int = option(0, "after each removal, refit the layers reading the removed channels by least "
                                       "squares to the unpruned network's outputs on this many training faces (He et "
                                       "al. 2017; pruning.reconstruction; 0: off)")
    reconstruct_positions: int = option(24, "with --reconstruct-faces: positions sampled per face and layer")
    ridge: float = option(1e-3, "with --reconstruct-faces: the least squares' ridge, relative to the inputs' variance")
    train: bool = option(True, "train the network on each step's mini-batches (0: the scores read them, nothing "
                               "is updated and no copy is fine-tuned: pruning by reconstruction alone) (1/0)")
    data: str | None = option(None, "score and fine-tune on your own folder of identities (DIR/<person>/<image>, "
                                    "read from the files as each batch needs them) instead of the base's training "
                                    "faces; the base's classifier must be for these people (trained with --data)")
    boxes: str | None = option(None, "with --data: a CSV of face boxes (VGGFace2's loose_bb)")
    workers: int = option(2, "with --data: DataLoader processes decoding faces (each torchrun rank has its own)")
    seed: int = option(0, "random seed for batch order, augmentation and the random criterion")
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)")
    precision: str = option("fp32", "fp32, or bf16: training and scoring between steps in mixed precision "
                                    "(bfloat16 autocast, channels-last); Taylor scores keep their ranking for "
                                    "SqueezeNet and ResNet50 (tests/pruning/test_bf16_scores.py), not quite for "
                                    "MobileNetV2's thin residual streams")
    eval_precision: str = option("fp32", "fp32, or bf16: each step's verification (embeddings of the development "
                                         "faces) in bfloat16 autocast, about the same EERs in a fraction of the "
                                         "time (bench/bench_evaluate.py)")
    round_to: int = option(1, "keep every layer's filter count a multiple of this (8 or 16: the blocks optimised "
                              "CPU kernels such as ONNX Runtime's work in; 1: free counts)")
    refit_head: bool = option(False, "first fit a new identity classifier on the frozen base's embeddings of the "
                                     "training faces (a shipped base from models/ has none) (1/0)")
    identity_weight: float = option(1.0, "weight of the identity loss (0, with --distill-weight above 0 and "
                                         "--score-loss combined or reference: distillation alone trains)")
    teacher: str = option("reference", "what distillation pulls towards: reference (the reference model's cached "
                                       "embedding of the unaugmented face) or unpruned (the base network, frozen, "
                                       "on the student's own augmented view)")

    def check(self) -> None:
        if self.round_to < 1:
            raise FacelibError("--round-to must be at least 1")
        if self.reconstruct_faces < 0 or self.reconstruct_positions < 1 or self.ridge < 0:
            raise FacelibError("--reconstruct-faces must not be negative, --reconstruct-positions at least 1 and "
                               "--ridge not negative")
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
        if self.criterion == "reconstruction" and not self.reconstruct_faces:
            raise FacelibError("--criterion reconstruction needs faces to reconstruct on: give --reconstruct-faces")
        if not self.train and self.finetune_every:
            raise FacelibError("--train 0 fine-tunes no copy: give --finetune-every 0 too")
        if self.filters_per_step < 1 or self.steps < 1 or self.batches_per_step < 1 or self.min_channels < 1:
            raise FacelibError("--filters-per-step, --steps, --batches-per-step and --min-channels must be at least 1")
        check_pair_set(self.larger_pairs)
