"""What every run configuration shares: a small dataclass saved beside its results as JSON, each
option's help text beside its field (``option``), read by the command line, and ``check()``, which
turns a bad option into one sentence (``FacelibError``) before any work starts.
"""
from __future__ import annotations

from dataclasses import asdict, field, fields
from typing import Any

from facelib.errors import FacelibError

OPTIMIZERS = ("sgd", "adamw")
PRECISIONS = ("fp32", "bf16")
# How a run was computed rather than what it is: a result recorded with other values still answers it
# (a bf16 result made on a CPU with bfloat16 units, asked for in fp32 on one without: training.precision)
MACHINE_FIELDS = ("threads", "device", "precision", "eval_precision")


def option(default: Any, help: str) -> Any:  # noqa: A002 - argparse's word for it
    """A configuration field with its command-line help text (``cli`` reads ``metadata["help"]``)."""
    return field(default=default, metadata={"help": help})


class Config:
    """The base of ``TrainConfig`` and ``PruneConfig``."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The configuration saved by ``to_dict`` (unknown keys, from other versions, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def _agrees_with(self, other: "Config", skip: set[str] | tuple[str, ...]) -> bool:
        """Whether ``other`` is of this kind and every field but ``skip`` is equal."""
        a, b = self.to_dict(), other.to_dict()
        return type(self) is type(other) and all(a[k] == b[k] for k in a if k not in skip)

    def same_study_run(self, other: "Config") -> bool:
        """Whether a result recorded with ``other`` answers this configuration: all but the
        ``MACHINE_FIELDS`` agree."""
        return self._agrees_with(other, MACHINE_FIELDS)

    def _check_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise FacelibError(f"unknown optimizer {self.optimizer!r}; choose sgd or adamw")
