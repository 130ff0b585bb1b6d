"""Where we agree with the papers: each claim of Alonso-Fernandez et al. beside our answer
(``facelib.findings.claims``, on the larger development-people set) and a verdict decided by the answer's
interval, never by its point estimate alone. Notebook 07, the README and docs/results.md show these rows.

The papers' claims, in their words (SqueezerFaceNet, IWAIPR 2023; "Deep network pruning: a
comparative study on CNNs in face recognition", PRL 2025): SqueezeNet "can be further reduced (up
to 40 %) without an appreciable loss in performance" and so gets under 1M parameters; in all three
networks "a substantial percentage of filters can be removed with minimal performance loss";
"filters with the highest amount of output channels tend to be removed first".

Verdicts (three outcomes; "cannot tell" whenever the interval straddles the papers' figure):
1. *Share removable at <= 1 point* (trunk parameters, pruned + fine-tuned, ``claims.removable``):
   the papers' share is 40 % for SqueezeNet and, for the other two, "substantial", read here as
   25 % (``SUBSTANTIAL``). Agree when even the lower end of our range reaches it; disagree when even
   the first step surely over the line (``Removable.over``) had removed no more than it: our range's
   upper end is the last step *measured* under the line, and the fine-tuned copies, made every few
   steps, leave steps between it and the next copy unmeasured.
2. *SqueezeNet under 1M parameters without appreciable loss* (``claims.first_under``; its fine-tuned
   copy): agree when the copy's whole EER interval lies at or under the base + 1 point; disagree when
   it lies wholly over it.
3. *Widest layers first* (``claims.size_loss_at``, at 10 / 25 / 50 % of the filters gone): agree where
   the rank correlation's interval lies above 0, disagree where it lies below 0.
4. *Criteria at equal parameters* (``claims.at_equal_params``): no claim in the papers (Taylor is
   their criterion); our answer names the runs whose interval overlaps the lowest EER's.

Worked example (claim 1): SqueezeNet, fine-tuned share 3 % [0 %, 8 %], its next fine-tuned copy (12 %
removed) surely over: even 12 % is under the papers' 40 %, so "disagree"; a share of 30 % [20 %, 35 %]
whose next copy, at 45 %, is surely over would be "cannot tell".
"""
from __future__ import annotations

import math

from facelib.findings import analysis, claims
from facelib.study.runs import CRITERION_RUNS, FORM_OF

PAPERS_SHARE = {"squeezenet": 0.40}  # "up to 40 % without an appreciable loss" (SqueezerFaceNet)
SUBSTANTIAL = 0.25  # our reading of "a substantial percentage", for the networks with no figure
LAYER_SHARES = (0.10, 0.25, 0.50)  # filters gone where the size/loss correlation is read


def _judge(agree: bool, disagree: bool) -> str:
    return "agree" if agree else "disagree" if disagree else "cannot tell"


def share_verdict(share: claims.Removable, papers: float) -> str:
    """Claim 1's rule: agree when even the range's lower end reaches ``papers``, disagree when even
    the first step surely over the line had removed no more than ``papers``."""
    return _judge(share.low >= papers, share.over <= papers)


def interval_verdict(low: float, high: float, line: float, papers_below: bool = True) -> str:
    """Claims 2 and 3: agree when the whole interval [low, high] lies on the papers' side of ``line``
    (below it where ``papers_below``, else above), disagree when it lies wholly on the other side."""
    below, above = high <= line, low > line
    return _judge(below, above) if papers_below else _judge(above, below)


def removable_verdicts(tolerance: float = 0.01) -> list[dict]:
    """Claim 1 per network and score form: the fine-tuned share of trunk parameters removable at <=
    ``tolerance`` against the papers' share, with the group that had lost most of its filters by the
    first fine-tuned step over the line (where the loss comes from)."""
    out = []
    for run in claims.current_runs(tuple(FORM_OF)):
        papers = PAPERS_SHARE.get(run.arch, SUBSTANTIAL)
        tuned, pruned = claims.removable(run, tolerance, finetuned=True), claims.removable(run, tolerance)
        said = "up to 40 %" if run.arch in PAPERS_SHARE else f"'substantial' (read as {papers:.0%})"
        out.append({"claim": "1. share removable at <= 1 point", "network": run.arch, "score_form": FORM_OF[run.criterion],
                    "papers": said, "ours": f"{tuned} fine-tuned",
                    "detail": f"{pruned} pruned{_surely_over(tuned)}{_emptied_by(run, tuned.step)}",
                    "verdict": share_verdict(tuned, papers)})
    return out


def _surely_over(share: claims.Removable) -> str:
    """Where the series is first surely over the line, in words ('' where it never is)."""
    return f"; fine-tuned, surely over at {share.over:.0%}" if math.isfinite(share.over) else ""


def most_emptied(run, step: int) -> tuple[int, str, float, int] | None:
    """The group that had lost the largest share of its filters by the fine-tuned step after ``step``
    (the first over the line): (that step, group, share lost, initial filters); None at the run's end."""
    later = [s for s in run.eer_series(finetuned=True, pairs="devpeople").steps if s > step]
    if not later:
        return None
    groups, steps, left, initial = analysis.layer_matrix(run)
    lost = 1 - left[:, steps.index(int(later[0]))] / initial
    g = int(lost.argmax())
    return int(later[0]), groups[g], float(lost[g]), int(initial[g])


def _emptied_by(run, step: int) -> str:
    """``most_emptied`` in words ('' at the run's end)."""
    emptied = most_emptied(run, step)
    if emptied is None:
        return ""
    later, group, lost, initial = emptied
    return f"; by step {later}, the first over the line, {group} had lost {lost:.0%} of its {initial} filters"


def under_1m_verdicts(tolerance: float = 0.01) -> list[dict]:
    """Claim 2 per score form: SqueezeNet's first network under 1M parameters, fine-tuned, against
    its base + ``tolerance``."""
    out = []
    for run in claims.current_runs(tuple(FORM_OF), ("squeezenet",)):
        form = FORM_OF[run.criterion]
        first = claims.first_under(run)
        if first is None or first["finetuned_step"] is None:
            ours, verdict = "never under 1M parameters with a fine-tuned copy", "cannot tell"
        else:
            line = first["base"] + tolerance
            ours = (f"step {first['step']} ({first['params']:,} parameters): {first['finetuned']:.1%} "
                    f"[{first['finetuned_low']:.1%}, {first['finetuned_high']:.1%}] fine-tuned (step "
                    f"{first['finetuned_step']}) against the base's {first['base']:.1%}")
            verdict = interval_verdict(first["finetuned_low"], first["finetuned_high"], line)
        out.append({"claim": "2. SqueezeNet under 1M parameters without appreciable loss", "network": "squeezenet",
                    "score_form": form, "papers": "yes (under 1M, 40 % smaller)", "ours": ours, "detail": "", "verdict": verdict})
    return out


def layer_verdicts() -> list[dict]:
    """Claim 3 per network and score form: the size/loss rank correlation at each of ``LAYER_SHARES``."""
    out = []
    for run in claims.current_runs(tuple(FORM_OF)):
        at = [r for r in claims.size_loss_at(run, LAYER_SHARES) if not math.isnan(r["rho"])]
        ours = "; ".join(f"{r['filters_gone']:.0%} gone: {r['rho']:+.2f} [{r['rho_low']:+.2f}, {r['rho_high']:+.2f}]"
                         for r in at)
        verdict = " / ".join(interval_verdict(r["rho_low"], r["rho_high"], 0.0, papers_below=False) for r in at)
        out.append({"claim": "3. widest layers lose filters first", "network": run.arch, "score_form": FORM_OF[run.criterion],
                    "papers": "yes", "ours": ours or "no step reached 10 % of the filters", "detail": "",
                    "verdict": verdict or "cannot tell"})
    return out


def criteria_compared(arch: str = "squeezenet", shares: tuple[float, ...] = (0.10, 0.25, 0.40)) -> dict[float, list[dict]]:
    """Claim 4's rows (``claims.at_equal_params``, pruned networks), lowest EER first, at each share of
    trunk parameters removed that every current run of ``arch`` reached (where none is, the share they
    all reached); {} with fewer than two runs."""
    runs = claims.current_runs((*CRITERION_RUNS, "taylor_normalised"), (arch,))
    if len(runs) < 2:
        return {}
    reached = claims.reached_shares(runs, shares)
    rows = claims.at_equal_params(arch, tuple(r.criterion for r in runs), reached)
    return {s: sorted((r for r in rows if r["share"] == s), key=lambda r: r["eer"]) for s in reached}


def criteria_verdicts(arch: str = "squeezenet", shares: tuple[float, ...] = (0.10, 0.25, 0.40)) -> list[dict]:
    """Claim 4: at each share of ``criteria_compared``, the runs whose larger-set EER interval overlaps
    the lowest one's."""
    out = []
    for s, here in criteria_compared(arch, shares).items():
        best = [r["run"] for r in here if r["best"]]
        ranked = [f"{r['run']} {r['eer']:.1%} [{r['low']:.1%}, {r['high']:.1%}]" for r in here]
        verdict = (f"{best[0]} lowest, the others' intervals above it" if len(best) == 1 else
                   f"no difference among {', '.join(best)}")
        out.append({"claim": f"4. criteria at {s:.0%} of the parameters removed", "network": arch, "score_form": "",
                    "papers": "Taylor (their only criterion)", "ours": f"lowest: {ranked[0]}",
                    "detail": "then " + ", ".join(ranked[1:]), "verdict": verdict})
    return out


def all_verdicts(tolerance: float = 0.01) -> list[dict]:
    """Claims 1-4, one row each per network and score form (claim 4: per share of parameters): the
    claim, what the papers say, our figure (``ours``), what explains it (``detail``, may be empty)
    and the verdict."""
    return [*removable_verdicts(tolerance), *under_1m_verdicts(tolerance), *layer_verdicts(), *criteria_verdicts()]
