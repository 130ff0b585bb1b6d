"""The papers' findings, computed from the result tables (``results/``): what notebook 07, the
dashboard and the README headline show. Nothing here trains or prunes; every function reads
the tables written by ``facelib.record``.

Definitions (used everywhere a number below is shown):
- *share removed*: 1 - trunk parameters / trunk parameters of the unpruned network (the trunk
  is what a deployed face embedder keeps; the identity classifier is for training only).
- *removable at <= 1 point*: the share removed at the last step before the first step whose
  pruned EER exceeds the unpruned EER by more than ``tolerance`` (0.01 = 1 point); the same over
  the pruned + fine-tuned networks (the steps that have one).
- *size / loss correlation*: Spearman's rank correlation, over the prunable groups, between a
  group's initial number of filters and the fraction of them removed by the last step.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from facelib import io, layout, metrics
from facelib.config import TrainConfig
from facelib.runs import ARCHS, CRITERIA, NETWORKS, PRETRAINED, PRETRAINED_RUNS, PRUNING_RUNS
from facelib.errors import FacelibError
from facelib.pruning_run import PruningRun, load_run, widths_by_step  # noqa: F401 (read through analysis)


def pairs_name(run: PruningRun) -> str:
    """The pairs a run's EER is measured on, in words (its base's ``eval_pairs``)."""
    pairs = run.info.get("base_training", {}).get("eval_pairs", "dev")
    return {"view2": "LFW View 2 pairs", "dev": "development pairs"}.get(pairs, f"{pairs} pairs")


def base_models() -> list[dict]:
    """The rows of ``base_models.csv`` (numbers as floats)."""
    path = layout.results_dir() / "base_models.csv"
    if not path.exists():
        raise FacelibError(f"{path} does not exist; run notebooks/{layout.notebook_for(ARCHS[0])}.ipynb first")
    return io.read_csv(path, numeric=True)


def chosen_way(arch: str) -> str:
    """The way of training the pruning runs start from: the one with the lower development EER."""
    rows = [r for r in base_models() if r["arch"] == arch]
    if not rows:
        raise FacelibError(f"no base model of {arch} in results; run notebooks/{layout.notebook_for(arch)}.ipynb first")
    return min(rows, key=lambda r: r["dev_eer"])["way"]


def base_training_config(arch: str) -> dict:
    """The training configuration of ``arch``'s chosen base, from ``base_models.csv`` (the shipped
    base files carry none)."""
    way = chosen_way(arch)
    return next(json.loads(r["config"]) for r in base_models() if (r["arch"], r["way"]) == (arch, way))


def is_earlier_base(arch: str, base_training: dict | None) -> bool:
    """Whether a pruning run whose base was trained by ``base_training`` (its ``run.json`` field;
    None when unknown) started from a base other than ``arch``'s chosen one in ``base_models.csv``:
    the two training configurations differ. An unknown base counts as an earlier one."""
    if base_training is None:
        return True
    return TrainConfig.from_dict(base_training).to_dict() != TrainConfig.from_dict(base_training_config(arch)).to_dict()


def started_from_earlier_base(run: PruningRun) -> bool:
    """Whether ``run`` started from a base since replaced (``is_earlier_base``): its numbers describe
    that earlier base, and the study runs it again (``facelib.study.ensure_pruning``). The pretrained
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


def recipe_verdict(rows: list[dict]) -> list[str]:
    """The recipe rows (``recipes.csv``) read as the choice they support, by the larger set of the
    development people: the lowest EER, and for each other recipe whether its interval overlaps
    the lowest one's (then the set shows no difference) or lies above it."""
    best = min(rows, key=lambda r: r["devpeople_eer"])
    lines = [f"lowest EER on the larger set: {best['recipe']} {best['devpeople_eer']:.1%} "
             f"(95 % interval {best['devpeople_eer_low']:.1%} - {best['devpeople_eer_high']:.1%})"]
    for r in rows:
        if r is best:
            continue
        worse = r["devpeople_eer_low"] > best["devpeople_eer_high"]
        lines.append(f"{r['recipe']}: {r['devpeople_eer']:.1%} ({r['devpeople_eer_low']:.1%} - "
                     f"{r['devpeople_eer_high']:.1%}): " + ("worse, the intervals do not overlap" if worse else
                                                           "no difference the larger set can show (the intervals overlap)"))
    return lines


def late_gain(history: list[dict], share: float = 0.2) -> float:
    """Development EER gained over the last ``share`` of a run's epochs: the EER of the epoch before
    them minus the last epoch's (issue 14 calls a run levelled off below 0.005, half a point)."""
    n = len(history)
    k = max(1, round(share * n))
    if n <= k:
        raise ValueError(f"a history of {n} epochs has no epochs before its last {k}")
    return float(history[n - k - 1]["dev_eer"]) - float(history[-1]["dev_eer"])


def available_runs() -> list[tuple[str, str]]:
    """(network, run name) of every pruning run with tables in the results folder (names:
    ``runs.PRUNING_RUNS``)."""
    return [(a, c) for a in NETWORKS for c in (PRETRAINED_RUNS if a == PRETRAINED else PRUNING_RUNS)
            if (layout.pruning_results_dir(a, c) / "steps.csv").exists()]


def removable_share(run: PruningRun, tolerance: float = 0.01, finetuned: bool = False,
                    by: str = "params") -> tuple[float, int]:
    """(share removed, step) at the last step before the EER on the development pairs first exceeds
    the unpruned EER by more than ``tolerance``: of the pruned networks (every step), or of the
    pruned + fine-tuned ones (``PruningRun.eer_series``). ``by``: the share of trunk parameters
    (``params``) or of multiply-accumulates (``macs``) removed."""
    series = run.eer_series(finetuned)
    share = series.share_removed(by)
    over = np.nonzero(series.eer > series.eer[0] + tolerance)[0]
    last = (over[0] - 1) if len(over) else len(share) - 1
    return float(share[last]), int(series.steps[last])


def layer_matrix(run: PruningRun) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """Groups (in network order), steps, remaining filters [group, step] and initial filters [group]."""
    groups = list(dict.fromkeys(r["group"] for r in run.layers))
    steps = sorted({int(r["step"]) for r in run.layers})
    g_index, s_index = {g: i for i, g in enumerate(groups)}, {s: i for i, s in enumerate(steps)}
    left = np.zeros((len(groups), len(steps)))
    initial = np.zeros(len(groups))
    for r in run.layers:
        left[g_index[r["group"]], s_index[int(r["step"])]] = r["filters"]
        initial[g_index[r["group"]]] = r["initial_filters"]
    return groups, steps, left, initial


def size_loss_correlation(run: PruningRun, step: int | None = None) -> tuple[float, list[dict]]:
    """Spearman rho between initial filters and fraction lost by ``step`` (default: the last), with the rows."""
    groups, steps, left, initial = layer_matrix(run)
    col = steps.index(step) if step is not None else len(steps) - 1
    lost = 1 - left[:, col] / initial
    rows = [{"group": g, "initial_filters": int(n), "fraction_lost": float(f)} for g, n, f in zip(groups, initial, lost)]
    if np.ptp(lost) == 0:
        return float("nan"), rows
    return metrics.spearman(initial, lost), rows


def eer_at_share(run: PruningRun, shares: np.ndarray, finetuned: bool = False) -> np.ndarray:
    """EER on the development pairs linearly interpolated at the given shares of removed trunk
    parameters (NaN beyond the run): of the pruned networks, or of the pruned + fine-tuned ones."""
    series = run.eer_series(finetuned)
    x = series.share_removed()
    out = np.interp(shares, x, series.eer)
    out[(shares < x[0]) | (shares > x[-1])] = np.nan
    return out


def criteria_comparison(arch: str, names: tuple[str, ...] = CRITERIA, points: int = 5,
                        finetuned: bool = False) -> list[dict]:
    """EER of each run in ``names`` (pruned, or pruned + fine-tuned) at equal shares of removed
    parameters, up to what every run reached."""
    runs = [load_run(arch, c) for c in names if (arch, c) in available_runs()]
    if not runs:
        raise FacelibError(f"no pruning results for {arch}")
    reach = min(r.share_removed[-1] for r in runs)
    shares = np.linspace(0, reach, points)
    return [{"criterion": r.criterion,
             **{f"{s:.0%}": float(e) for s, e in zip(shares, eer_at_share(r, shares, finetuned))}}
            for r in runs]


def deploy_rows() -> list[dict]:
    """The rows of ``deploy.csv`` (``bench/bench_deploy.py``; none where it has not run)."""
    return io.read_csv(layout.results_dir() / "deploy.csv", missing_ok=True, numeric=True)


def timing_source(arch: str, model: str) -> Path:
    """The file a ``deploy.csv`` model is made from: the chosen base in ``models/`` for ``unpruned``,
    else the run's ``layers.csv`` (its step's shape; ``taylor_up16`` rounds the ``taylor`` run's)."""
    if model == "unpruned":
        return layout.models_dir() / f"{arch}-{chosen_way(arch)}-base.pt"
    return layout.pruning_results_dir(arch, _timed_run(model)) / "layers.csv"


def _timed_run(model: str) -> str:
    """The pruning run a ``deploy.csv`` model is a step of (``taylor_up16``: the ``taylor`` run's, rounded)."""
    return "taylor" if model == "taylor_up16" else model


def timed_today(row: dict) -> bool:
    """Whether a ``deploy.csv`` row timed a model of today's results, not one since replaced: its
    ``source`` digest is that of the file ``timing_source`` names now (rows timed before the bench
    recorded ``source`` count as replaced), and a run's step comes from a run of today's base."""
    arch, model = row["arch"], row["model"]
    path = timing_source(arch, model)
    if not (isinstance(row.get("source"), str) and path.exists() and io.file_digest(path) == row["source"]):
        return False
    return model == "unpruned" or not started_from_earlier_base(load_run(arch, _timed_run(model)))


def deploy_summary(rows: list[dict]) -> list[dict]:
    """One row per network and model of ``deploy.csv``: its MACs ratio, batch-1 latency ratio to the
    unpruned model in each runtime, the end-to-end speed-up of the model in ONNX Runtime int8 over
    the unpruned one in ONNX Runtime fp32, its EER in fp32 and int8 with their intervals, and the CPU
    it was timed on (int8's speed-up depends on its matrix units; rows timed before ``cpu`` was
    recorded say "not recorded"), and whether it timed today's model (``timed_today``)."""
    at = {(r["arch"], r["model"], r["runtime"]): r for r in rows}
    out = []
    for (arch, model, runtime), r in at.items():
        if runtime != "eager":
            continue
        fp32, int8 = at[arch, model, "onnx_fp32"], at[arch, model, "onnx_int8"]
        out.append({"network": arch, "model": model, "step": r["step"], "weights": r["weights"],
                    "macs_ratio": r["macs_ratio"], **{f"latency_ratio_{k}": at[arch, model, k]["latency_ratio"]
                                                      for k in ("eager", "onnx_fp32", "onnx_int8")},
                    "speedup_int8_vs_unpruned_fp32": at[arch, "unpruned", "onnx_fp32"]["latency_ms"] / int8["latency_ms"],
                    "eer_fp32": fp32["eer"], "eer_fp32_interval": _interval(fp32), "eer_int8": int8["eer"],
                    "eer_int8_interval": _interval(int8), "int8_minus_fp32": _difference(int8["eer"], fp32["eer"]),
                    "cpu": r["cpu"] if isinstance(r.get("cpu"), str) else "not recorded",
                    "timed_today": timed_today(r)})
    return out


def _measured(x) -> bool:
    """Whether a ``deploy.csv`` EER cell holds a number (empty, read as NaN, for shape-only rows)."""
    return x != "" and not (isinstance(x, float) and math.isnan(x))


def _interval(row: dict) -> str:
    return f"{row['eer_low']:.1%} - {row['eer_high']:.1%}" if _measured(row["eer"]) else ""


def _difference(a, b):
    return a - b if _measured(a) and _measured(b) else float("nan")
