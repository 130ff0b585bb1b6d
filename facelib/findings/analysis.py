"""What the result tables (``results/``) show beyond the papers' claims (``findings.claims``): which
layers lose filters, EER at equal shares removed, the recipe search read by its intervals, and the
deploy bench's rows. Nothing here trains or prunes; every function reads the tables written by
``study.record`` (a run's: ``study.recorded.PruningRun``; its *share removed*:
``study.recorded.share_removed``).

*Size / loss correlation*: Spearman's rank correlation, over the prunable groups, between a
group's initial number of filters and the fraction of them removed by a step (the last by default).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from facelib import io
from facelib.evaluation import metrics
from facelib.study import layout
from facelib.study.bases import chosen_way
from facelib.study.recorded import PruningRun, larger_set_measured, load_run, started_from_earlier_base


def pairs_name(run: PruningRun) -> str:
    """The pairs a run's EER is measured on, in words (its base's ``eval_pairs``)."""
    pairs = run.info.get("base_training", {}).get("eval_pairs", "dev")
    return {"view2": "LFW View 2 pairs", "dev": "development pairs"}.get(pairs, f"{pairs} pairs")


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


def step_rows(run: PruningRun) -> list[dict]:
    """The unpruned network and every step with a fine-tuned copy (every step, in a run that fine-tunes
    none): the share of trunk parameters removed, the MACs left, the (EER, low, high) of the pruned
    network and of its fine-tuned copy (NaN where none; on the larger set where the run measured it,
    else on its own pairs), and the batch-1 latency against the unpruned network's. ``tables.steps_table``
    shows them."""
    pairs = "devpeople" if larger_set_measured(run) else "dev"
    pruned, tuned = run.eer_series(pairs=pairs), run.eer_series(finetuned=True, pairs=pairs)
    at = {int(step): i for i, step in enumerate(pruned.steps)}
    copies = {int(step): j for j, step in enumerate(tuned.steps)}  # step 0 (the unpruned network) and each copy
    steps = list(copies) if len(copies) > 1 else list(at)  # a run without fine-tuned copies: every step
    removed, macs = run.share_removed(), run.macs_ratio
    return [{"step": step, "removed": float(removed[at[step]]), "macs": float(macs[at[step]]),
             "pruned": tuple(float(s[at[step]]) for s in (pruned.eer, pruned.low, pruned.high)),
             "finetuned": (tuple(float(s[copies[step]]) for s in (tuned.eer, tuned.low, tuned.high))
                           if step in copies else (math.nan,) * 3),
             "latency_ratio": float(run.latency_ratio[at[step]])} for step in steps]


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
                    **{f"eer_{name}{end}": row[f"eer{end}"] if _measured(row["eer"]) else math.nan
                       for name, row in (("fp32", fp32), ("int8", int8)) for end in ("", "_low", "_high")},
                    "int8_minus_fp32": _difference(int8["eer"], fp32["eer"]),
                    "cpu": r["cpu"] if isinstance(r.get("cpu"), str) else "not recorded",
                    "timed_today": timed_today(r)})
    return out


def _measured(x) -> bool:
    """Whether a ``deploy.csv`` EER cell holds a number (empty, read as NaN, for shape-only rows)."""
    return x != "" and not (isinstance(x, float) and math.isnan(x))


def _difference(a, b):
    return a - b if _measured(a) and _measured(b) else float("nan")
