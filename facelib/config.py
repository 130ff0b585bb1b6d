"""Run configurations as small dataclasses; each run saves its configuration beside its results."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainConfig:
    """Softmax identity training as in the papers: SGD with momentum, mini-batch 128, learning
    rate divided by ``lr_factor`` when the validation loss stops falling for ``lr_patience`` epochs."""

    arch: str = "squeezenet"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.1
    lr_patience: int = 1
    seed: int = 0
    augment: bool = True
    val_fraction: float = 0.02
    min_images: int = 2
    max_identities: int | None = None
    use_lfw: bool = True
    use_celeba: bool = True
    eval_pairs: str | None = "dev"
    checkpoint_every: int = 50
    threads: int | None = None
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def same_run_as(self, other: "TrainConfig") -> bool:
        """Whether ``other`` continues this run: everything but the epoch count, threads and device agree."""
        skip = {"epochs", "threads", "device"}
        a, b = self.to_dict(), other.to_dict()
        return all(a[k] == b[k] for k in a if k not in skip)
