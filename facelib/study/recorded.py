"""One recorded pruning run, read from its tables in ``results/pruning/<network>-<run>/``
(``steps.csv``: one row per step; ``layers.csv``: one row per step and group; ``run.json``).

Every reader of a run's EERs (the claims, the headline, the figures) selects its rows here, by
``PruningRun.eer_series``: on the development pairs (columns ``eer_pruned``, ``eer_low_pruned``,
...) or on the larger set of the development people (the same names prefixed ``devpeople_``);
of the pruned networks (every step) or of the pruned + fine-tuned ones (the steps that have a
fine-tuned copy, with the unpruned network, step 0, as their start). Worked example: steps 0-3
with fine-tuned copies at steps 2 and 3 give ``eer_series(finetuned=True)`` the rows of steps
0, 2, 3 and the EERs ``eer_pruned`` of step 0, ``eer_finetuned`` of steps 2 and 3.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelib import io
from facelib.errors import FacelibError
from facelib.pruning.log import widths_by_step
from facelib.study import layout
from facelib.study.bases import is_earlier_base
from facelib.study.runs import NETWORKS, PRETRAINED, runs_of

PREFIX = {"dev": "", "devpeople": "devpeople_"}  # pairs -> column prefix in steps.csv
SIZES = {"params": "trunk_params", "macs": "macs", "filters": "filters"}  # what a share removed is of


def share_removed(rows: list[dict], by: str = "params") -> np.ndarray:
    """Each row's share removed, against the first row (the unpruned network): ``1 - size / size0``,
    the size being its trunk parameters (``params``: the trunk is what a deployed face embedder keeps,
    the identity classifier is for training only), multiply-accumulates (``macs``) or prunable
    filters (``filters``)."""
    values = np.array([r[SIZES[by]] for r in rows], dtype=float)
    return 1 - values / values[0]


def last_before(over: np.ndarray) -> int:
    """Index of the last row before the first that is ``over`` (the last row where none is); row 0 is the
    unpruned network, the line's own, never over."""
    hits = np.nonzero(over[1:])[0]
    return int(hits[0]) if len(hits) else len(over) - 1


def larger_set_measured(run: PruningRun) -> bool:
    """Whether every step of ``run`` was evaluated on the larger set of the development people."""
    return all(not math.isnan(r.get("devpeople_eer_pruned", math.nan)) for r in run.steps)


@dataclass(frozen=True)
class EerSeries:
    """A run's EER per selected step, with its 95 % interval (NaN where the run did not measure one)."""

    rows: list[dict]
    eer: np.ndarray
    low: np.ndarray
    high: np.ndarray
    # the paired 95 % interval of each EER minus the unpruned network's (larger set only; NaN elsewhere)
    diff_low: np.ndarray
    diff_high: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        return np.array([r["step"] for r in self.rows], dtype=int)

    def without_start(self) -> EerSeries:
        """The series without its first row (the unpruned network): the fine-tuned copies alone."""
        return EerSeries(self.rows[1:], self.eer[1:], self.low[1:], self.high[1:], self.diff_low[1:],
                         self.diff_high[1:])

    def share_removed(self, by: str = "params") -> np.ndarray:
        """Each selected step's share removed (``share_removed``)."""
        return share_removed(self.rows, by)

    def last_within(self, tolerance: float = 0.01) -> int:
        """Index of the last row before the first whose EER is more than ``tolerance`` above row 0's
        (the unpruned network; the last row where none is): the point reading of "removable at
        <= 1 point" (``findings.claims.removable``)."""
        return last_before(self.eer > self.eer[0] + tolerance)


@dataclass
class PruningRun:
    """One pruning run's tables: ``steps`` (one row per step), ``layers`` (step x group)."""

    arch: str
    criterion: str
    steps: list[dict]
    layers: list[dict]
    info: dict

    @property
    def trunk_params(self) -> np.ndarray:
        return np.array([r["trunk_params"] for r in self.steps])

    def share_removed(self, by: str = "params") -> np.ndarray:
        """Each step's share removed (``share_removed``)."""
        return share_removed(self.steps, by)

    @property
    def eer_pruned(self) -> np.ndarray:
        return np.array([r["eer_pruned"] for r in self.steps])

    @property
    def macs_ratio(self) -> np.ndarray:
        """Each step's multiply-accumulates as a share of the unpruned network's."""
        macs = np.array([r["macs"] for r in self.steps])
        return macs / macs[0]

    @property
    def latency_ratio(self) -> np.ndarray:
        """Each step's batch-1 CPU latency as a ratio to the unpruned network's (NaN where the
        run's table has no latency columns)."""
        return np.array([r.get("latency_ratio", math.nan) for r in self.steps], dtype=float)

    def latency_at_macs(self, ratio: float = 0.6) -> dict:
        """Step, MACs ratio and latency ratio of the pruning step (not 0) whose MACs ratio is
        nearest ``ratio`` (0.6: "about 40 % fewer multiply-accumulates")."""
        i = 1 + int(np.argmin(np.abs(self.macs_ratio[1:] - ratio)))
        return {"network": self.arch, "criterion": self.criterion, "step": int(self.steps[i]["step"]),
                "macs_ratio": float(self.macs_ratio[i]), "latency_ratio": float(self.latency_ratio[i])}

    def settings(self) -> str:
        """How the run was set, as recorded in its ``run.json`` (not as this CPU would run it today)."""
        c = self.info.get("config", {})
        if not c:
            return "settings not recorded"
        return (f"from the {self.info.get('base_way', '?')} base; {c['filters_per_step']} filters per step, {c['steps']} "
                f"steps, {c['batches_per_step']} mini-batches of {c['batch_size']} faces per step; fine-tuning "
                f"{c['finetune_batches']} mini-batches every {c['finetune_every']} steps; {c['precision']}; "
                f"{self.info['seconds'] / 60:.0f} min of training, scoring and removal (evaluations not included)")

    def parameter_split(self) -> str:
        """The unpruned network's parameters, split into its trunk and its identity classifier."""
        base = self.steps[0]
        head = int(base["params"] - base["trunk_params"])
        return (f"unpruned: {int(base['params']):,} parameters, of which {int(base['trunk_params']):,} in the trunk and "
                f"{head:,} in the identity classifier for our training people (the papers' counts include an "
                f"ImageNet classifier of 1,000 classes instead)")

    def deployable_steps(self, tolerance: float = 0.01, half: float = 0.5) -> list[int]:
        """The fine-tuned copies a user would deploy (what ``models/`` ships of a run): the last one within
        ``tolerance`` of the unpruned network's EER (``EerSeries.last_within``; on the larger set where the
        run measured it) and the one whose share of filters removed is nearest ``half``."""
        series = self.eer_series(finetuned=True, pairs="devpeople" if larger_set_measured(self) else "dev")
        if len(series.rows) < 2:
            return []
        nearest = 1 + int(np.argmin(np.abs(series.share_removed("filters")[1:] - half)))
        return sorted({int(series.steps[i]) for i in (series.last_within(tolerance), nearest) if i > 0})

    def widths(self, step: int) -> dict[str, int]:
        """Filters of every group after ``step`` (the shape ``pruning.surgery.shrink_to`` rebuilds)."""
        return widths_by_step(self.layers)[step]

    def eer_series(self, finetuned: bool = False, pairs: str = "dev") -> EerSeries:
        """EER with its interval on ``pairs`` (``dev``: the development pairs; ``devpeople``: the larger
        set of the development people) of every pruned network, or (``finetuned``) of step 0 and the
        fine-tuned copies (module docstring)."""
        p, kind = PREFIX[pairs], "finetuned" if finetuned else "pruned"
        rows = [r for r in self.steps
                if r["step"] == 0 or not finetuned or not math.isnan(r.get(f"{p}eer_finetuned", math.nan))]

        def column(name: str) -> np.ndarray:
            return np.array([r.get(f"{name}_pruned" if r["step"] == 0 else f"{name}_{kind}", math.nan)
                             for r in rows], dtype=float)
        return EerSeries(rows, column(f"{p}eer"), column(f"{p}eer_low"), column(f"{p}eer_high"),
                         column(f"{p}diff_low"), column(f"{p}diff_high"))


def load_run(arch: str, criterion: str) -> PruningRun:
    """The recorded run ``criterion`` (a name of ``runs.PRUNING_RUNS``) of network ``arch``; read once
    while its files stay as they are (the findings read each run many times), so treat it as read-only."""
    d = layout.pruning_results_dir(arch, criterion)
    if not (d / "steps.csv").exists():
        raise FacelibError(f"no results for {arch} pruned by {criterion}; "
                           f"run notebooks/{layout.notebook_for(arch, criterion)}.ipynb first")
    stamps = tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None
                   for f in (d / "steps.csv", d / "layers.csv", d / "run.json"))
    return _read_run(arch, criterion, d, stamps)


@functools.lru_cache(maxsize=64)
def _read_run(arch: str, criterion: str, d: Path, stamps: tuple) -> PruningRun:
    """``load_run``'s reading, once per folder and version of its files (``stamps``)."""
    info = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
    return PruningRun(arch, criterion, io.read_csv(d / "steps.csv", numeric=True),
                      io.read_csv(d / "layers.csv", numeric=True), info)


def available_runs() -> list[tuple[str, str]]:
    """(network, run name) of every pruning run with tables in the results folder (names: ``runs.runs_of``)."""
    return [(a, c) for a in NETWORKS for c in runs_of(a) if (layout.pruning_results_dir(a, c) / "steps.csv").exists()]


def started_from_earlier_base(run: PruningRun) -> bool:
    """Whether ``run`` started from a base since replaced (``bases.is_earlier_base``): its numbers describe
    that earlier base, and the study runs it again (``study.running.ensure_pruning``). The pretrained
    MobileFaceNet has one base, the shared ONNX weights."""
    return run.arch != PRETRAINED and is_earlier_base(run.arch, run.info.get("base_training"))


def earlier_base_note(runs: list[PruningRun]) -> str | None:
    """One sentence naming those of ``runs`` that started from a base since replaced (None if none):
    what the dashboard and notebooks say above their figures until the runs are made again."""
    old = [r for r in runs if started_from_earlier_base(r)]
    if not old:
        return None
    names = ", ".join(f"{r.arch}/{r.criterion} (base EER {r.steps[0]['eer_pruned']:.1%})" for r in old)
    return (f"Started from an earlier, weaker base than the one base_models.csv now holds: {names}; their "
            "numbers describe that base until the study runs them again from the new one.")
