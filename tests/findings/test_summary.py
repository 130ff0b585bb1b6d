"""The findings in words (``findings.summary``), generated from the committed results: each claim's
figures and verdict as the tables have them, and sentences that follow the tables when they change."""
from __future__ import annotations

import shutil

from facelib.findings import claims, report, summary, verdicts
from facelib.study import layout, recorded


def test_every_claim_is_said_with_its_figures_and_verdict(full_profile):
    found = summary.what_we_found()
    assert 5 <= len(found) <= 10 and all(s.endswith(".") for s in found)  # 10: a refit sentence per network
    text = summary.as_list()
    for run in claims.current_runs(("taylor", "taylor_normalised")):
        share = claims.removable(run, finetuned=True)
        assert f"{summary._share(share)} for {summary.NAMES[run.arch]}" in text
    for row in verdicts.removable_verdicts():
        assert row["verdict"] in text
    first = claims.first_under(claims.current_runs(("taylor",), ("squeezenet",))[0])
    assert f"at step {first['step']}" in text and f"{100 * first['finetuned']:.1f} %" in text


def test_the_readme_opens_with_the_generated_findings(full_profile):
    readme = (layout.ROOT / "README.md").read_text()
    assert report.generated_block(layout.ROOT / "README.md", report.FINDINGS_START, report.FINDINGS_END) \
        == summary.as_list(), "run: python -m facelib report"
    assert readme.index(report.FINDINGS_START) < readme.index(report.COMPACT_START) < readme.index("## Map")


def test_a_changed_result_changes_the_sentence(full_profile, tmp_path, monkeypatch):
    """The sentences are read from the tables: in a copy of results/ where every fine-tuned copy of
    SqueezeNet's raw run scores an EER of 0 (all under the line), the share removable is its last
    step's, and the first sentence says so."""
    shutil.copytree(layout.ROOT / "results", tmp_path / "results")
    before = summary.what_we_found()[0]
    said_before = summary._share(claims.removable(recorded.load_run("squeezenet", "taylor"), finetuned=True))
    steps = tmp_path / "results" / "pruning" / "squeezenet-taylor" / "steps.csv"
    rows = steps.read_text().splitlines()
    header = rows[0].split(",")
    for i, line in enumerate(rows[1:], start=1):
        cells = line.split(",")
        if cells[header.index("devpeople_eer_finetuned")] not in ("", "nan"):
            for column in ("eer", "eer_low", "eer_high", "diff_low", "diff_high"):
                cells[header.index(f"devpeople_{column}_finetuned")] = "-0.01" if "diff" in column else "0.0"
            rows[i] = ",".join(cells)
    steps.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(layout, "ROOT", tmp_path)
    run = recorded.load_run("squeezenet", "taylor")
    said_after = summary._share(claims.removable(run, finetuned=True))
    after = summary.what_we_found()[0]
    assert said_after != said_before and f"{said_before} for SqueezeNet" in before
    assert f"{said_after} for SqueezeNet" in after
    assert claims.removable(run, finetuned=True).step == run.eer_series(finetuned=True).steps[-1]
