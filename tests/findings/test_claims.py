"""facelib.findings.claims: the papers' claims read from a run's tables, with the range the intervals allow."""
from __future__ import annotations

import math

import pytest

from facelib.findings import claims
from facelib.study.recorded import PruningRun


def run_of(rows: list[tuple], layers: list[dict] | None = None) -> PruningRun:
    """A run whose steps are (trunk_params, params, filters, eer, low, high, eer_ft, low_ft, high_ft)."""
    names = ("trunk_params", "params", "filters", "devpeople_eer_pruned", "devpeople_eer_low_pruned",
             "devpeople_eer_high_pruned", "devpeople_eer_finetuned", "devpeople_eer_low_finetuned",
             "devpeople_eer_high_finetuned")
    steps = [{"step": i, "macs": r[0] * 10, **dict(zip(names, r))} for i, r in enumerate(rows)]
    return PruningRun("squeezenet", "taylor", steps, layers or [], {})


NAN = math.nan
# the module docstring's worked example: base 8.0 %, line at 9.0 %
EXAMPLE = run_of([(1000, 1500, 100, .080, .070, .090, NAN, NAN, NAN),
                  (900, 1400, 90, .085, .075, .096, NAN, NAN, NAN),
                  (800, 1300, 80, .092, .081, .103, .084, .074, .095),
                  (700, 1200, 70, .104, .093, .115, NAN, NAN, NAN)])


def test_removable_share_and_its_range_follow_the_worked_example():
    r = claims.removable(EXAMPLE)
    assert (round(r.share, 6), round(r.low, 6), round(r.high, 6), r.step) == (0.1, 0.0, 0.2, 1)
    assert str(r) == "10% [0%, 20%] (step 1)" and round(r.over, 6) == 0.3  # step 3 surely over
    assert claims.removable(EXAMPLE, by="macs").share == r.share  # MACs scale with parameters here
    # fine-tuned: step 0, then step 2 alone (8.4 %, within the line; its interval reaches over it)
    tuned = claims.removable(EXAMPLE, finetuned=True)
    assert (round(tuned.share, 6), tuned.low, round(tuned.high, 6), tuned.step) == (0.2, 0.0, 0.2, 2)
    assert tuned.over == math.inf  # no fine-tuned step is surely over: nothing bounds the share
    assert claims.has_larger_set(EXAMPLE)
    # an unpruned network whose own interval reaches over the line (intervals wider than the tolerance)
    # is not "over": the range starts at step 0, never wraps to the end of the run
    wide = run_of([(1000, 1500, 100, .080, .065, .095, NAN, NAN, NAN), *[(900 - 100 * i, 1400, 90, .085, .07, .1,
                                                                          NAN, NAN, NAN) for i in range(3)]])
    r = claims.removable(wide)
    assert (round(r.share, 6), r.low, r.step) == (0.3, 0.0, 3) and r.low <= r.share <= r.high


def test_first_under_a_size_takes_the_next_fine_tuned_step():
    found = claims.first_under(EXAMPLE, params=1350)
    assert (found["step"], found["params"], found["finetuned_step"]) == (2, 1300, 2)
    assert (found["base"], found["pruned"], found["finetuned"]) == (.080, .092, .084)
    assert claims.first_under(EXAMPLE, params=1000) is None


def test_size_loss_correlation_is_read_where_each_share_of_filters_is_gone():
    # two groups: the wide one (60 filters) loses filters first, so rho is +1 wherever they differ
    widths = {0: (60, 40), 1: (50, 40), 2: (44, 36), 3: (36, 34)}
    layers = [{"step": s, "group": g, "filters": w, "initial_filters": (60, 40)[i]}
              for s, ws in widths.items() for i, (g, w) in enumerate(zip(("wide", "thin"), ws))]
    run = run_of([(1000, 1000, sum(w), .1, .1, .1, NAN, NAN, NAN) for w in widths.values()], layers)
    found = claims.size_loss_at(run, (0.10, 0.25, 0.5))
    assert [f["step"] for f in found] == [1, 3, None]
    assert found[0]["rho"] == pytest.approx(1.0) and math.isnan(found[2]["rho"])


def test_paired_differences_decide_the_range_where_the_run_recorded_them():
    """Steps whose EER minus the base's has a paired interval: step 1 +0.5 [-0.2, +0.8] points (not
    over), step 2 +0.9 [+0.4, +1.4] (possibly over), step 3 +1.6 [+1.2, +2.0] (surely over)."""
    run = run_of([(1000, 1500, 100, .080, .070, .090, NAN, NAN, NAN),
                  (900, 1400, 90, .085, .075, .096, NAN, NAN, NAN),
                  (800, 1300, 80, .089, .078, .100, NAN, NAN, NAN),
                  (700, 1200, 70, .096, .085, .107, NAN, NAN, NAN)])
    for r, (low, high) in zip(run.steps, [(0, 0), (-.002, .008), (.004, .014), (.012, .020)]):
        r |= {"devpeople_diff_low_pruned": low, "devpeople_diff_high_pruned": high}
    r = claims.removable(run)
    assert r.paired and (round(r.share, 6), round(r.low, 6), round(r.high, 6), r.step) == (0.2, 0.1, 0.2, 2)
    assert round(r.over, 6) == 0.3
    assert str(r) == "20% [10%, 20%] (step 2, paired)"
    assert not claims.removable(EXAMPLE).paired  # without the columns: the EERs' own intervals
