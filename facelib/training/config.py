"""One training run's configuration (``facelib.training.loop.train``); each field's help text is the
command line's (``python -m facelib train --help``)."""
from __future__ import annotations

from dataclasses import dataclass

from facelib.config import PRECISIONS, Config, option
from facelib.data.pairs import check_pair_set
from facelib.errors import FacelibError
from facelib.networks.models import ARCHITECTURES

SCHEDULES = ("plateau", "cosine")


@dataclass
class TrainConfig(Config):
    """Softmax identity training as in the papers: SGD with momentum, mini-batch 128, learning
    rate divided by ``lr_factor`` when the validation loss stops falling for ``lr_patience`` epochs.
    ``optimizer="adamw"`` (momentum unused) is the option the study's base runs use: from scratch on
    13k faces, SGD at 0.01 stays on the majority identity for many epochs (docs/decisions.md)."""

    arch: str = option("squeezenet", "network: squeezenet, mobilenetv2 or resnet50")
    epochs: int = option(10, "number of passes over the training images")
    batch_size: int = option(128, "mini-batch size (the papers use 128)")
    optimizer: str = option("sgd", "sgd (the papers) or adamw")
    lr: float = option(0.01, "initial learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "L2 weight decay")
    lr_factor: float = option(0.1, "learning rate is multiplied by this when the validation loss plateaus")
    lr_patience: int = option(1, "epochs without validation-loss improvement before lowering the learning rate")
    schedule: str = option("plateau", "plateau (lower the rate when the validation loss stalls, the papers) or "
                                      "cosine (linear warm-up, then cosine decay to 0 at the last step)")
    warmup_epochs: float = option(0.0, "cosine schedule: epochs of linear warm-up from 0 to --lr")
    seed: int = option(0, "random seed for the split, initialisation, batch order and augmentation")
    augment: bool = option(True, "random 113x113 crop and horizontal flip of each training image (1/0)")
    jitter: float = option(0.0, "contrast and brightness of each training face scaled by U(1 - j, 1 + j) (0: off)")
    erase: float = option(0.0, "probability of erasing a random rectangle of each training face, an occlusion "
                               "(0: off)")
    batch_norm: bool = option(False, "squeezenet only: train with a batch norm after every Fire convolution, "
                                     "folded into the convolutions when the model is saved, so the saved network "
                                     "is plain SqueezeNet 1.1 (1/0)")
    identity_weight: float = option(1.0, "weight of the softmax identity loss")
    distill_weight: float = option(0.0, "weight of the distillation loss towards the reference face model's "
                                        "embeddings (0: off, the papers' recipe; see facelib/training/distill.py)")
    distill_form: str = option("embedding", "embedding (1 - cos of the projected embedding to the reference's) or "
                                            "similarity (the batch's pairwise cosines matched to the reference's, "
                                            "no projection)")
    teacher: str = option("cached", "cached (the reference's embedding of each photo, computed once) or online "
                                    "(the reference run each step on the student's own augmented view, aligned by "
                                    "the face's points: facelib/training/teacher.py)")
    mixup_alpha: float = option(0.0, "with --teacher online: mix faces in pairs (the second warped onto the "
                                     "first's points), weight ~ Beta(alpha, alpha); 0: off")
    val_fraction: float = option(0.02, "share of each identity's images held out for validation")
    min_images: int = option(2, "LFW people need at least this many images to be training identities")
    max_identities: int | None = option(None, "keep only the first N identities (quick runs)")
    use_lfw: bool = option(True, "train on LFW people absent from the development pairs (1/0)")
    use_celeba: bool = option(True, "train on the CelebA-299 identities (1/0)")
    data: str | None = option(None, "train on your own folder of identities instead (DIR/<person>/<image>, the "
                                    "VGGFace2 layout), read from the files as each batch needs them; evaluation "
                                    "stays on LFW's pairs")
    boxes: str | None = option(None, "with --data: a CSV of face boxes (VGGFace2's loose_bb: NAME_ID, X, Y, W, H); "
                                     "without it each image is taken as a face crop")
    workers: int = option(2, "with --data: DataLoader processes decoding faces (each torchrun rank has its own)")
    dropout: float | None = option(None, "dropout before the identity classifier (default: the network's own, "
                                         "SqueezeNet 0.5, MobileNetV2 0.2; ResNet50 has none)")
    held_out: str = option("dev", "LFW people never trained on: dev (those of the development pairs) or view2 "
                                  "(every person of View 2, pairs.txt)")
    eval_pairs: str | None = option("dev", "LFW pairs for the per-epoch EER: dev, devtrain, view2, devpeople or none")
    max_pairs: int | None = option(None, "evaluate on at most this many of the pairs, evenly spaced (quick runs)")
    checkpoint_every: int = option(50, "write a resumable checkpoint every N steps (and after every epoch)")
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)")
    device: str = option("cpu", "torch device, e.g. cpu or cuda")
    precision: str = option("fp32", "fp32, or bf16: mixed precision (bfloat16 autocast, channels-last), much "
                                    "faster on CPUs with bfloat16 units (bench/bench_precision.py); weights and "
                                    "optimizer state stay fp32")

    def check(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise FacelibError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
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
        self._check_augmentation()
        if self.workers < 0 or (self.dropout is not None and not 0 <= self.dropout < 1):
            raise FacelibError("--workers must not be negative and --dropout must be in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise FacelibError(f"unknown schedule {self.schedule!r}; choose plateau or cosine")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise FacelibError("--warmup-epochs must be between 0 and --epochs")
        if self.epochs < 1 or self.batch_size < 1:
            raise FacelibError("--epochs and --batch-size must be at least 1")
        if self.identity_weight < 0 or self.distill_weight < 0:
            raise FacelibError("--identity-weight and --distill-weight must not be negative")
        check_pair_set(self.eval_pairs)

    def _check_augmentation(self) -> None:
        if not (0 <= self.jitter < 1 and 0 <= self.erase <= 1) or ((self.jitter or self.erase) and not self.augment):
            raise FacelibError("--jitter must be in [0, 1) and --erase in [0, 1], both with --augment 1")
        if (self.jitter or self.erase) and self.teacher == "online":
            raise FacelibError("--jitter and --erase are for the cached teacher (the online teacher draws its own views)")
        if self.mixup_alpha < 0 or (self.mixup_alpha > 0 and self.teacher != "online"):
            raise FacelibError("--mixup-alpha must not be negative, and mixup needs --teacher online")

    def same_run_as(self, other: "TrainConfig") -> bool:
        """Whether ``other`` continues this run: everything but threads, device and (under the plateau
        schedule, which does not depend on it) the epoch count agree."""
        return self._agrees_with(other, {"threads", "device", "workers"}
                                 | ({"epochs"} if self.schedule == "plateau" else set()))
