"""The step tables the notebooks show (``analysis.steps_table``): a person reads them, and they say
what the recorded tables say."""
from __future__ import annotations

from facelib.findings import analysis
from facelib.study import recorded


def test_every_fine_tuned_step_with_its_intervals(full_profile):
    for arch, name in recorded.available_runs():
        run = recorded.load_run(arch, name)
        rows = analysis.steps_table(run)
        tuned = run.eer_series(finetuned=True, pairs="devpeople" if "larger set" in list(rows[0])[3] else "dev")
        assert [r["step"] for r in rows] == [int(s) for s in tuned.steps]
        assert len(rows[0]) <= 7 and rows[0]["trunk parameters removed"] == "0 %"
        last = rows[-1]
        eer = list(last.values())[4]
        assert eer.startswith(f"{100 * tuned.eer[-1]:.1f} % [{100 * tuned.low[-1]:.1f},"), (arch, name, eer)
