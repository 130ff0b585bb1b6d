"""facelib.findings.verdicts: each claim judged by its interval, never by its point estimate alone."""
from __future__ import annotations

from facelib.findings import verdicts
from facelib.findings.claims import Removable

OUTCOMES = {"agree", "disagree", "cannot tell"}


def test_share_verdict_follows_the_worked_example():
    assert verdicts.share_verdict(Removable(0.03, 0.0, 0.08, 4, over=0.12), 0.40) == "disagree"
    assert verdicts.share_verdict(Removable(0.30, 0.20, 0.35, 12, over=0.45), 0.40) == "cannot tell"
    assert verdicts.share_verdict(Removable(0.50, 0.40, 0.55, 20, over=0.60), 0.40) == "agree"
    # a range measured wholly under the papers' share, but the next measured step, the first surely
    # over, beyond it: the steps between were not measured, so no refutation
    assert verdicts.share_verdict(Removable(0.23, 0.08, 0.23, 12, over=0.29), 0.25) == "cannot tell"
    assert verdicts.share_verdict(Removable(0.10, 0.05, 0.10, 6), 0.25) == "cannot tell"  # never surely over


def test_interval_verdict_needs_the_whole_interval_on_one_side():
    line = 0.07  # base 6 % + 1 point
    assert verdicts.interval_verdict(0.055, 0.068, line) == "agree"
    assert verdicts.interval_verdict(0.060, 0.080, line) == "cannot tell"  # straddles: no difference shown
    assert verdicts.interval_verdict(0.110, 0.140, line) == "disagree"
    # a rank correlation: the papers' side is above 0
    assert verdicts.interval_verdict(0.2, 0.6, 0.0, papers_below=False) == "agree"
    assert verdicts.interval_verdict(-0.4, 0.4, 0.0, papers_below=False) == "cannot tell"
    assert verdicts.interval_verdict(-0.9, -0.5, 0.0, papers_below=False) == "disagree"


def test_recorded_runs_get_a_verdict_per_claim():
    """On the results folder: every run that answers the claims gets claims 1 and 3, SqueezeNet's
    claim 2 too, each with one of the three outcomes."""
    rows = verdicts.all_verdicts()
    for r in rows:
        if not r["claim"].startswith("4."):
            assert set(r["verdict"].split(" / ")) <= OUTCOMES, r
    claims_of = {(r["network"], r["score_form"]): {r2["claim"][0] for r2 in rows
                                                   if (r2["network"], r2["score_form"]) == (r["network"], r["score_form"])}
                 for r in rows if r["score_form"]}
    for (network, _), found in claims_of.items():
        assert {"1", "3"} <= found and (network != "squeezenet" or "2" in found)
