"""facelib.study.recorded: which rows of a run's steps each EER series reads."""
from __future__ import annotations

import math

import numpy as np

from facelib.study.recorded import PruningRun

NAN = math.nan


def run_of(rows: list[tuple]) -> PruningRun:
    """Steps of (trunk_params, eer, eer_finetuned, devpeople_eer, devpeople_eer_finetuned); each
    interval is the EER +- 1 point."""
    steps = []
    for i, (params, eer, tuned, big, big_tuned) in enumerate(rows):
        row = {"step": i, "trunk_params": params, "macs": 2 * params}
        for prefix, pruned, fine in (("", eer, tuned), ("devpeople_", big, big_tuned)):
            row |= {f"{prefix}eer_pruned": pruned, f"{prefix}eer_finetuned": fine,
                    f"{prefix}eer_low_pruned": pruned - .01, f"{prefix}eer_high_pruned": pruned + .01,
                    f"{prefix}eer_low_finetuned": fine - .01, f"{prefix}eer_high_finetuned": fine + .01}
        steps.append(row)
    return PruningRun("squeezenet", "taylor", steps, [], {})


# the module docstring's worked example: steps 0-3, fine-tuned copies at steps 2 and 3
EXAMPLE = run_of([(1000, .08, NAN, .07, NAN), (900, .09, NAN, .08, NAN),
                  (800, .11, .085, .10, .075), (700, .13, .095, .12, .085)])


def test_pruned_series_reads_every_step():
    s = EXAMPLE.eer_series()
    assert list(s.steps) == [0, 1, 2, 3]
    assert np.allclose(s.eer, [.08, .09, .11, .13]) and np.allclose(s.high - s.eer, .01)
    assert np.allclose(s.share_removed(), [0, .1, .2, .3])


def test_finetuned_series_starts_at_the_unpruned_network():
    s = EXAMPLE.eer_series(finetuned=True)
    assert list(s.steps) == [0, 2, 3]
    assert np.allclose(s.eer, [.08, .085, .095])  # step 0: its pruned column (there is no fine-tuned one)
    assert np.allclose(s.share_removed("macs"), [0, .2, .3])
    assert list(s.without_start().steps) == [2, 3]


def test_larger_set_series_reads_its_own_columns():
    s = EXAMPLE.eer_series(finetuned=True, pairs="devpeople")
    assert np.allclose(s.eer, [.07, .075, .085]) and np.allclose(s.eer - s.low, .01)


def test_a_run_without_intervals_gives_nan_intervals():
    run = PruningRun("squeezenet", "taylor", [{"step": 0, "trunk_params": 10, "eer_pruned": .1, "eer_finetuned": NAN}],
                     [], {})
    s = run.eer_series()
    assert s.eer[0] == .1 and math.isnan(s.low[0]) and math.isnan(s.high[0])
