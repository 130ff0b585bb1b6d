"""The pretrained MobileFaceNet's findings (issue 16), from its pruning runs' tables: how much of
its computation goes before its LFW View 2 EER moves. What notebook 08, docs/results.md and
the dashboard overview show; nothing here prunes (the runs: ``runs.PRETRAINED_RUNS``).
"""
from __future__ import annotations

import math

from facelib.findings.analysis import size_loss_correlation
from facelib.findings.claims import removable
from facelib.study.recorded import available_runs, load_run
from facelib.study.runs import PRETRAINED, PRETRAINED_RUNS

# The pretrained MobileFaceNet's question (issue 16): how many MACs go at <= 0.5 points of View 2 EER lost
TOLERANCE = 0.005


def summary() -> list[dict]:
    """One row per pruning run of the pretrained MobileFaceNet, on all of LFW View 2: the unpruned
    network's EER (95 % interval) and 10-fold accuracy; the share of MACs removed before the EER first
    rises more than ``TOLERANCE``, pruned (every step, ``macs_removed_pruned``) and, pruned + fine-tuned,
    before the EER first rises more than ``TOLERANCE`` (and that step's figures); the
    last step's; the size / loss correlation."""
    rows = []
    for arch, name in available_runs():
        if arch != PRETRAINED or name not in PRETRAINED_RUNS:  # the refit runs: findings.refit
            continue
        run = load_run(arch, name)
        # on its own pairs, View 2 (its "dev" columns), where the larger set is not measured
        tuned, pruned = (removable(run, TOLERANCE, finetuned, by="macs", pairs="dev") for finetuned in (True, False))
        share, step, share_pruned, step_pruned = tuned.share, tuned.step, pruned.share, pruned.step
        at, first, last = next(r for r in run.steps if r["step"] == step), run.steps[0], run.steps[-1]
        kind = "pruned" if step == 0 else "finetuned"
        cells = lambda r, k, p: {f"{p}{m}": r.get(f"{m}_{k}", math.nan)  # noqa: E731
                                 for m in ("eer", "eer_low", "eer_high", "accuracy")}
        rows.append({"run": name, **cells(first, "pruned", "base_"), "macs_removed_pruned": share_pruned,
                     "step_pruned": step_pruned, "macs_removed": share, "step": step,
                     **cells(at, kind, ""), "macs_removed_end": 1 - float(run.macs_ratio[-1]),
                     "step_end": int(last["step"]), **cells(last, "finetuned", "end_"),
                     "size_loss_rho": size_loss_correlation(run)[0]})
    return rows
