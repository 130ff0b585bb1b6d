"""The tables the notebooks show (``facelib.findings.tables``): a person reads them (a few named
columns, percentages, every EER with its interval), and they say what the recorded tables say."""
from __future__ import annotations

import math

import pytest

from facelib.findings import analysis, claims, pretrained, tables, verdicts
from facelib.study import bases, recorded


def test_an_eer_reads_with_its_interval_in_the_same_unit():
    assert tables.eer_text(0.0603, 0.0480, 0.0720) == "6.0 % [4.8, 7.2]"
    assert tables.eer_text(0.0603, math.nan, math.nan) == "6.0 % (no interval recorded)"
    assert tables.eer_text(math.nan, math.nan, math.nan) == "n/a (not measured)"
    assert tables.rho_text({"rho": 0.82, "rho_low": -0.1, "rho_high": 0.94}) == "+0.82 [-0.10, +0.94]"
    assert tables.pct(0.25, 0) == "25 %" and tables.pct(None) == "n/a"


def test_every_fine_tuned_step_with_its_intervals(full_profile):
    """Each run's step table: the unpruned network and every fine-tuned copy; every step where there is none."""
    for arch, name in recorded.available_runs():
        run = recorded.load_run(arch, name)
        rows = tables.steps_table(run)
        tuned = run.eer_series(finetuned=True, pairs="devpeople" if analysis.larger_set_measured(run) else "dev")
        assert len(rows[0]) <= 7 and rows[0]["trunk parameters removed"] == "0 %"
        if len(tuned.steps) == 1:  # a run that fine-tunes no copy: every step, pruned only
            assert [r["step"] for r in rows] == [int(s["step"]) for s in run.steps]
            assert all(list(r.values())[4] == "" for r in rows), (arch, name)
            continue
        assert [r["step"] for r in rows] == [int(s) for s in tuned.steps]
        eer = list(rows[-1].values())[4]
        assert eer.startswith(f"{100 * tuned.eer[-1]:.1f} % [{100 * tuned.low[-1]:.1f},"), (arch, name, eer)


@pytest.fixture
def study_tables(full_profile) -> dict[str, list[dict]]:
    """Every table the notebooks show, made from the committed results."""
    current = claims.current_runs(("taylor", "taylor_normalised"))
    deployed = analysis.deploy_summary(analysis.deploy_rows())
    return {"bases": tables.bases_table(bases.base_models()), "sizes": tables.sizes_table(bases.base_models()),
            "removable": tables.removable_table(claims.removable_rows()),
            "size/loss": tables.size_loss_table([{"network": r.arch, "score form": r.criterion, **row}
                                                 for r in current for row in claims.size_loss_at(r)]),
            "under 1M": tables.under_1m_table([{"run": r.criterion, **f} for r in current
                                               if r.arch == "squeezenet" and (f := claims.first_under(r))]),
            "latency": tables.latency_table([r.latency_at_macs(0.6) for r in current]),
            "deploy speed": tables.deploy_speed_table(deployed), "deploy EER": tables.deploy_eer_table(deployed),
            "verdicts": tables.verdicts_table(verdicts.all_verdicts()),
            "pretrained": tables.pretrained_table(pretrained.summary())}


def test_tables_a_person_reads(study_tables):
    """At most seven named columns, no raw fraction (a float cell) anywhere."""
    for name, rows in study_tables.items():
        assert rows, name
        for row in rows:
            assert len(row) <= 7, (name, list(row))
            assert not any(isinstance(v, float) for v in row.values()), (name, row)


def test_the_tables_say_what_the_results_say(study_tables):
    rows = claims.removable_rows()
    assert [r["trunk parameters, fine-tuned"] for r in study_tables["removable"]] == [str(r["params_finetuned"]) for r in rows]
    base = bases.base_models()[0]
    assert study_tables["bases"][0][tables.LARGER].startswith(f"{100 * base['devpeople_eer']:.1f} % [")
    summary = pretrained.summary()[0]
    assert study_tables["pretrained"][0]["EER of that fine-tuned copy"] == tables.with_interval(summary, "eer")
