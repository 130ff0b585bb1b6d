"""The refit runs beside their baseline (``findings.refit``), on the recorded results."""
from __future__ import annotations

import math

from facelib.findings import pretrained, refit
from facelib.study.runs import PRETRAINED, REFIT_RUNS


def test_the_baseline_row_is_the_pretrained_findings_own(full_profile):
    """MobileFaceNet's baseline is judged as notebook 08's question judges it: MACs within 0.5 point of
    View 2 EER, the fine-tuned copies' share the one ``pretrained.summary`` gives."""
    rows = {r["run"]: r for r in refit.comparison(PRETRAINED)}
    summary = {r["run"]: r for r in pretrained.summary()}
    assert rows[refit.BASELINE]["macs_removed_finetuned"] == summary[refit.BASELINE]["macs_removed"]
    assert rows[refit.BASELINE]["macs_removed_pruned"] == summary[refit.BASELINE]["macs_removed_pruned"]
    assert refit.tolerance_line(PRETRAINED) == summary[refit.BASELINE]["base_eer"] + 0.005


def test_every_recorded_refit_run_is_read_as_it_ran(full_profile):
    """A run that trains nothing has no fine-tuned share; every refit run says how long its refits took;
    each share's range holds the share; the sentence calls a run "more than" the baseline only where its
    range lies wholly above the baseline's."""
    for arch in REFIT_RUNS:
        rows = refit.comparison(arch)
        assert rows and rows[0]["run"] == refit.BASELINE
        for row in rows[1:]:
            assert (row["fine-tuned"] == "—") == (row["trained"] == "no")
            assert row["refit_seconds_per_step"] > 0 and row["refit_seconds_per_step"] <= row["seconds_per_step"]
            for s in (row["_pruned"], row["_tuned"]):
                assert s is None or math.isnan(s.low) or s.low <= s.share <= s.high
        base = refit.best(rows[0])
        said = " ".join(refit.sentence(arch))
        for row in rows[1:]:
            s = refit.best(row)
            assert ("more than the baseline" in said) >= (s.low > base.high)
        assert bool(said) == (len(rows) > 1)


def test_the_step_figure_has_a_panel_per_refit_run_over_the_same_baseline(full_profile):
    """Each panel draws the baseline's pruned EER in grey and its run's in blue, both with their bands, and
    diamonds for the fine-tuned copies of the runs that train; the tolerance line is the same in each."""
    from facelib.findings import figures

    for arch in REFIT_RUNS:
        baseline, *others = refit.recorded(arch)
        panels = {refit.label(run): run for run in others}
        assert len(panels) == len(others)  # a label tells the runs apart
        fig = figures.eer_against_baseline(baseline, panels, refit.tolerance_line(arch), larger=arch == "squeezenet")
        titles = [a.text for a in fig.layout.annotations if a.text in panels]
        assert titles == list(panels)
        pruned = [t for t in fig.data if t.name == "this run, pruned"]
        assert len(pruned) == len(others) == len([t for t in fig.data if t.name == "baseline, pruned"])
        for trace, run in zip(pruned, others):
            assert len(trace.y) == len(run.steps)
        tuned = [t for t in fig.data if t.name == "this run, fine-tuned" and len(t.x)]
        assert len(tuned) == sum(refit.trains(run) for run in others)
        assert len({s.y0 for s in fig.layout.shapes}) == 1
        if arch == PRETRAINED:  # before any refit run is recorded (the fast profile): the baseline alone
            alone = figures.eer_against_baseline(baseline, {}, refit.tolerance_line(arch))
            assert [t.name for t in alone.data if t.name and t.name.startswith("this run")] == []
            assert [t for t in alone.data if t.name == "baseline, pruned"][0].y.tolist() == \
                [t for t in fig.data if t.name == "baseline, pruned"][0].y.tolist()
