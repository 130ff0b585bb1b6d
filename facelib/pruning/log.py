"""A pruning run's tables, row by row: ``steps.csv`` (one row per step, columns ``STEP_COLUMNS``,
described in ``facelib.pruning.loop``), ``layers.csv`` (filters of each group after each step) and
``removed.csv`` (each removed filter, by its number in the unpruned network, with its score)."""
from __future__ import annotations

import numpy as np

from facelib.data.pairs import Pair
from facelib.evaluation import metrics, verification

STEP_COLUMNS = ["step", "params", "trunk_params", "macs", "filters", "removed", "loss", "eer_pruned", "eer_finetuned",
                "tar_1e3_pruned", "tar_1e3_finetuned", "threshold_pruned", "threshold_finetuned",
                "eer_low_pruned", "eer_high_pruned", "eer_low_finetuned", "eer_high_finetuned",
                "accuracy_pruned", "accuracy_finetuned", "devpeople_eer_pruned", "devpeople_eer_low_pruned",
                "devpeople_eer_high_pruned", "devpeople_eer_finetuned", "devpeople_eer_low_finetuned",
                "devpeople_eer_high_finetuned", "devpeople_diff_low_pruned", "devpeople_diff_high_pruned",
                "devpeople_diff_low_finetuned", "devpeople_diff_high_finetuned", "seconds"]
REFIT_COLUMN = "refit_seconds"  # runs that reconstruct (``PruneConfig.reconstruct_faces``): the refit's seconds
LAYER_COLUMNS = ["step", "group", "kind", "filters", "initial_filters"]


def step_columns(rows: list[dict]) -> list[str]:
    """The columns of ``steps.csv`` for ``rows``: ``STEP_COLUMNS``, and the refit's seconds where a row has them."""
    return STEP_COLUMNS + ([REFIT_COLUMN] if any(REFIT_COLUMN in r for r in rows) else [])
REMOVED_COLUMNS = ["step", "group", "index", "score"]


def verification_columns(model, pairs: list[Pair], larger: list[Pair], suffix: str, precision: str,
                         unpruned: np.ndarray | None = None, found: dict | None = None) -> dict:
    """The verification columns of ``steps.csv`` for ``model`` on the development ``pairs``, named
    ``<metric>_<suffix>``, and its EER with interval on the ``larger`` set, ``devpeople_<metric>_<suffix>``,
    with the paired interval of its difference to the ``unpruned`` network's scores of the same pairs
    (NaN without pairs, so that a fine-tuned step stays told apart from one that was not: empty).
    ``precision``: the evaluation's (``PruneConfig.eval_precision``); ``found``: the model's
    ``verification.evaluate_sets`` where already made (the unpruned network's, step 0)."""
    names, nan = ("eer", "eer_low", "eer_high", "tar_1e3", "threshold", "accuracy"), float("nan")
    if found is None:
        found = verification.evaluate_sets(model, {"dev": pairs, "larger": larger}, precision=precision)
    v, big = found.get("dev"), found.get("larger")
    dev = (v.eer, v.eer_low, v.eer_high, v.tar_at_far_1e3, v.threshold, v.accuracy) if v else [nan] * 6
    diff = (metrics.eer_difference_interval(unpruned, big.scores, big.labels, [p.a.identity for p in larger],
                                            [p.b.identity for p in larger])
            if big is not None and unpruned is not None else (nan, nan))
    return {**{f"{k}_{suffix}": x for k, x in zip(names, dev)},
            **{f"devpeople_{k}_{suffix}": x for k, x in zip(names[:3], (big.eer, big.eer_low, big.eer_high)
                                                            if big else [nan] * 3)},
            f"devpeople_diff_low_{suffix}": diff[0], f"devpeople_diff_high_{suffix}": diff[1]}


def widths_by_step(layers: list[dict]) -> dict[int, dict[str, int]]:
    """``{step: {group: filters}}`` from the rows of a run's ``layers.csv`` (read as text or numbers):
    the shape of every step's network (``surgery.shrink_to`` rebuilds it)."""
    widths: dict[int, dict[str, int]] = {}
    for r in layers:
        widths.setdefault(int(float(r["step"])), {})[r["group"]] = int(float(r["filters"]))
    return widths
