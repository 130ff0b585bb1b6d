"""The papers' claims, answered from a pruning run's tables with their uncertainty (issue 15).

Alonso-Fernandez et al. (SqueezerFaceNet; "Deep network pruning: a comparative study on CNNs in
face recognition", PRL 2025) claim that a large share of filters goes at <= 1 point EER, that
SqueezeNet gets under 1M parameters without loss, that the layers with the most filters lose
filters first, and that Taylor scoring beats the baselines. Each answer here reads the EER on the
larger set of the development people (``steps.csv``'s ``devpeople_*`` columns: 5,104 pairs, 95 %
interval with people resampled), not the 1,000 pairs, whose noise is the size of the tolerance.

Uncertainty of a "removable" share. A step is *over* the tolerance when its EER exceeds the
unpruned network's by more than ``tolerance``. The share is read at the last step before the first
step over it (``Removable.share``); it is *at least* the share before the first step that is
possibly over and *at most* the share before the first step that is surely over. Where the run
recorded, for every step, the paired 95 % interval of its EER minus the unpruned network's
(``steps.csv``'s ``devpeople_diff_*``: the same people resampled for both, ``metrics.
eer_difference_interval``), a step is possibly over when that interval's upper end exceeds the
tolerance and surely over when its lower end does (``Removable.paired``). The share at the first step
surely over (``Removable.over``) bounds what is removable from above: a step between the last one
measured under the line and that one (fine-tuned copies are made every few steps only) may still
be under it, so a claim is refuted only where even that share falls short of it. Runs without those
columns fall back on the two EERs' own intervals, which are much wider: possibly over when the
step's interval reaches over the line base + tolerance, surely over when it lies wholly over it;
the unpruned network itself (step 0) is never over, though its own interval may reach over the
line. Worked example of the fallback, base 8.0 %,
tolerance 1 point (line at 9.0 %): steps at 10 / 20 / 30 % removed with EER 8.5 [7.5, 9.6],
9.2 [8.1, 10.3], 10.4 [9.3, 11.5] give share 10 % (step 2 is over), range [0 %, 20 %] (step 1's
interval reaches 9.6 %; step 3's lies wholly above 9.0 %), and ``over`` 30 % (step 3's share).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facelib import io
from facelib.evaluation import metrics
from facelib.findings.analysis import larger_set_measured as has_larger_set  # noqa: F401 (one definition)
from facelib.findings.analysis import size_loss_correlation
from facelib.study import layout
from facelib.study.recorded import PruningRun, available_runs, last_before, load_run, started_from_earlier_base
from facelib.study.runs import ARCHS, FORM_OF, PRETRAINED

LARGER = "devpeople_eer"


@dataclass(frozen=True)
class Removable:
    """A share removed at <= ``tolerance`` EER loss, with the range the EER intervals allow."""

    share: float
    low: float
    high: float
    step: int
    paired: bool = False  # the range read from paired intervals of the differences (module docstring)
    over: float = math.inf  # the share at the first step surely over the line (inf: none is)

    def __str__(self) -> str:
        if math.isnan(self.low):  # a run recorded before its steps carried intervals
            return f"{self.share:.0%} (step {self.step}; no interval recorded)"
        return f"{self.share:.0%} [{self.low:.0%}, {self.high:.0%}] (step {self.step}{', paired' * self.paired})"


def reached_shares(runs: list[PruningRun], shares: tuple[float, ...]) -> tuple[float, ...]:
    """The ``shares`` of trunk parameters removed that every one of ``runs`` reached; where none is, the
    share they all reached (short runs, as the fast profile's)."""
    reach = min(r.share_removed()[-1] for r in runs)
    return tuple(s for s in shares if s <= reach) or (round(reach, 2),)


def removable(run: PruningRun, tolerance: float = 0.01, finetuned: bool = False, by: str = "params",
              pairs: str = "devpeople") -> Removable:
    """The share of trunk parameters (``by="params"``) or of MACs (``"macs"``) removed at <= ``tolerance``
    EER loss on the larger set (``pairs="dev"``: the 1,000 development pairs, for a run evaluated on
    those alone), with its range (module docstring)."""
    series = run.eer_series(finetuned, pairs=pairs)
    share, line = series.share_removed(by), series.eer[0] + tolerance
    paired = not np.isnan(series.diff_low[1:]).any() and not np.isnan(series.diff_high[1:]).any()
    possibly, surely = ((series.diff_high > tolerance, series.diff_low > tolerance) if paired else
                        (series.high > line, series.low > line))
    at, least, most = series.last_within(tolerance), last_before(possibly), last_before(surely)
    if not paired and (np.isnan(series.low[1:]).any() or np.isnan(series.high[1:]).any()):
        return Removable(float(share[at]), math.nan, math.nan, int(series.steps[at]))
    over = float(share[most + 1]) if surely[1:].any() else math.inf
    return Removable(float(share[at]), float(share[least]), float(share[most]), int(series.steps[at]), paired, over)


def size_loss_at(run: PruningRun, shares: tuple[float, ...] = (0.10, 0.25, 0.50)) -> list[dict]:
    """Spearman rho between a group's initial filters and the fraction it lost, at the first step
    where each of ``shares`` of the filters is gone (NaN where the run never got there), with its
    95 % interval (``metrics.spearman_interval``: the groups resampled): positive when the widest
    layers lose filters first, the papers' finding."""
    gone, out = run.share_removed("filters"), []
    for s in shares:
        reached = np.nonzero(gone >= s - 1e-9)[0]
        step = int(run.steps[reached[0]]["step"]) if len(reached) else None
        nothing = {"rho": math.nan, "rho_low": math.nan, "rho_high": math.nan}
        out.append({"filters_gone": s, "step": step, **(size_loss_at_step(run, step) if step is not None else nothing)})
    return out


def size_loss_at_step(run: PruningRun, step: int) -> dict:
    """Spearman rho between a group's initial filters and the fraction it lost by ``step``, with its
    95 % interval over resampled groups (``rho``, ``rho_low``, ``rho_high``; NaN where undefined)."""
    rho, rows = size_loss_correlation(run, step)
    low, high = math.nan, math.nan
    if not math.isnan(rho):
        low, high = metrics.spearman_interval([r["initial_filters"] for r in rows], [r["fraction_lost"] for r in rows])
    return {"rho": rho, "rho_low": low, "rho_high": high}


def first_under(run: PruningRun, params: int = 1_000_000) -> dict | None:
    """The first step whose whole network (classifier counted) has fewer than ``params`` parameters,
    with its larger-set EER and interval, pruned and (at the nearest fine-tuned step at or after it)
    fine-tuned, against the unpruned network's; None where the run never gets there."""
    under = [i for i, r in enumerate(run.steps) if r["params"] < params]
    if not under:
        return None
    r, base = run.steps[under[0]], run.steps[0]
    tuned = next((t for t in run.steps[under[0]:] if not math.isnan(t[f"{LARGER}_finetuned"])), None)
    return {"step": int(r["step"]), "params": int(r["params"]), "base_params": int(base["params"]),
            **{f"base{k}": base[f"{LARGER}{k}_pruned"] for k in ("", "_low", "_high")},
            **{f"pruned{k}": r[f"{LARGER}{k}_pruned"] for k in ("", "_low", "_high")},
            "finetuned_step": int(tuned["step"]) if tuned else None,
            **{f"finetuned{k}": tuned[f"{LARGER}{k}_finetuned"] if tuned else math.nan for k in ("", "_low", "_high")}}


def at_equal_params(arch: str, names: tuple[str, ...], shares: tuple[float, ...],
                    finetuned: bool = False) -> list[dict]:
    """Each run's larger-set EER and interval at the step nearest each share of trunk parameters
    removed (steps of 1 % of the filters lie about a point of parameters apart), one row per run
    and share, with ``best``: whether its interval overlaps the lowest EER's interval at that share
    (several runs can be best: no difference is claimed between overlapping intervals)."""
    runs = [load_run(arch, n) for n in names]
    rows = []
    for s in shares:
        here = []
        for run in runs:
            series = run.eer_series(finetuned, pairs="devpeople")
            removed = series.share_removed()
            i = int(np.argmin(np.abs(removed - s)))
            here.append({"run": run.criterion, "share": s, "step": int(series.steps[i]),
                         "params_removed": float(removed[i]), "eer": float(series.eer[i]),
                         "low": float(series.low[i]), "high": float(series.high[i])})
        lowest = min(here, key=lambda h: h["eer"])
        rows += [{**h, "best": h["low"] <= lowest["high"]} for h in here]
    return rows


def current_runs(names: tuple[str, ...], archs: tuple[str, ...] = ARCHS) -> list[PruningRun]:
    """The runs among ``names`` of ``archs`` that answer the claims: recorded, from the network's chosen
    base, and evaluated on the larger set at every step."""
    recorded = set(available_runs())  # one look at the results folder, not one per run
    found = [load_run(a, n) for a in archs for n in names if (a, n) in recorded]
    return [r for r in found if has_larger_set(r) and not started_from_earlier_base(r)]


def removable_rows(tolerance: float = 0.01) -> list[dict]:
    """Claims 1 and 3 per network and score form (``runs.SCORE_FORMS``): the share of trunk parameters
    and of MACs removable at <= ``tolerance`` EER loss, pruned and pruned + fine-tuned, each with its
    range, and the size/loss rank correlation where 10, 25 and 50 % of the filters are gone, with its
    interval (``rho_10``, ``rho_10_low``, ``rho_10_high``, ...)."""
    rows = []
    for run in current_runs(tuple(FORM_OF)):
        rhos = {f"rho_{round(100 * r['filters_gone'])}{end}": r[f"rho{end}"] for r in size_loss_at(run)
                for end in ("", "_low", "_high")}
        rows.append({"network": run.arch, "score_form": FORM_OF[run.criterion],
                     "base_eer": run.steps[0][f"{LARGER}_pruned"],
                     **{f"{by}_{kind}": removable(run, tolerance, kind == "finetuned", by)
                        for by in ("params", "macs") for kind in ("pruned", "finetuned")}, **rhos})
    return rows


def headline() -> list[dict]:
    """One row per network with a Taylor run (raw scores, the papers' form), each figure with its
    interval, on the larger set where the run was evaluated on it at every step (``pairs``), else on
    the 1,000 development pairs: the base EER, the shares removable at <= 1 point (``Removable``),
    the smallest model and its EER, the first model under 1M parameters and its EER, and the
    size/loss rank correlation at the last step; beside them the reference model's EER on the same
    pairs, with its interval (``reference.csv``)."""
    reference = {r["align"]: r for r in io.read_csv(layout.results_dir() / "reference.csv", missing_ok=True,
                                                    numeric=True)}
    rows = []
    for arch, criterion in available_runs():
        if criterion != "taylor" or arch == PRETRAINED:  # its own table: pretrained.summary, on View 2
            continue
        run = load_run(arch, criterion)
        pairs = "devpeople" if has_larger_set(run) else "dev"
        prefix = "devpeople_" if pairs == "devpeople" else ""

        def eer(row: dict) -> tuple[float, float, float]:
            return tuple(row[f"{prefix}eer{end}_pruned"] for end in ("", "_low", "_high"))
        under = [r for r in run.steps if r["params"] < 1_000_000]
        rho = size_loss_at_step(run, int(run.steps[-1]["step"]))
        rows.append({"network": arch, "base": run.info.get("base_way", ""), "pairs": pairs,
                     **dict(zip(("base_eer", "base_eer_low", "base_eer_high"), eer(run.steps[0]))),
                     **{f"reference_eer{end}": reference.get("landmarks", {}).get(f"{prefix}eer{end}", math.nan)
                        for end in ("", "_low", "_high")},
                     "removable": removable(run, pairs=pairs), "removable_finetuned": removable(run, finetuned=True,
                                                                                                pairs=pairs),
                     "params_start": run.steps[0]["params"], "params_end": run.steps[-1]["params"],
                     **dict(zip(("eer_end", "eer_end_low", "eer_end_high"), eer(run.steps[-1]))),
                     "under_1m_params": under[0]["params"] if under else math.nan,
                     **dict(zip(("under_1m_eer", "under_1m_eer_low", "under_1m_eer_high"),
                                eer(under[0]) if under else (math.nan,) * 3)),
                     "size_loss_rho": rho["rho"], "size_loss_rho_low": rho["rho_low"],
                     "size_loss_rho_high": rho["rho_high"], "earlier_base": started_from_earlier_base(run)})
    return rows
