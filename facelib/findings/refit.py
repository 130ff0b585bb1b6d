"""Pruning with little data: the runs that refit each pruned layer's readers by least squares
(``runs.REFIT_RUNS``), beside the network's layer-normalised Taylor run, the baseline. What notebooks 07
and 08 and the README's findings show; nothing here prunes.

Each run's share of MACs removed at <= the network's tolerance (``TOLERANCE``: MobileFaceNet 0.5 point
on LFW View 2, as ``findings.pretrained``; SqueezeNet 1 point on the larger development set, as the
claims) comes with the range its EER intervals allow (``claims.removable``), for the pruned network and,
where the run trains, its fine-tuned copies. A run that never left the tolerance before it stopped
has a share that is a floor: "at least".
"""
from __future__ import annotations

import math

import numpy as np

from facelib.findings.claims import Removable, removable
from facelib.findings.tables import pct, share_text
from facelib.study.recorded import PruningRun, available_runs, load_run
from facelib.study.runs import PRETRAINED, REFIT_RUNS

BASELINE = "taylor_normalised"
TOLERANCE = {PRETRAINED: (0.005, "dev"), "squeezenet": (0.01, "devpeople")}  # EER points, and on which pairs
NETWORK_NAMES = {PRETRAINED: "MobileFaceNet", "squeezenet": "SqueezeNet"}


def recorded(arch: str) -> list[PruningRun]:
    """The baseline and every refit run of ``arch`` recorded so far, in ``runs.REFIT_RUNS`` order."""
    here = set(available_runs())
    return [load_run(arch, name) for name in (BASELINE, *REFIT_RUNS[arch]) if (arch, name) in here]


def how(run: PruningRun) -> tuple[str, str, str]:
    """How ``run`` prunes, read from its configuration: what chooses the filters, whether it refits, whether
    it trains between steps."""
    cfg = run.info["config"]
    chosen = "reconstruction error" if cfg["criterion"] == "reconstruction" else "layer-normalised Taylor"
    return chosen, "yes" if cfg.get("reconstruct_faces") else "no", "yes" if trains(run) else "no"


def in_words(selection: str, trained: str) -> tuple[str, str]:
    """``how``'s choice and training as a sentence names them: ("Taylor", "with training")."""
    return selection.replace("layer-normalised ", ""), "with training" if trained == "yes" else "without training"


def label(run: PruningRun) -> str:
    """A refit run in a few words, for a panel title: "reconstruction error + refit, with training"."""
    chosen, _, trained = how(run)
    chosen, training = in_words(chosen, trained)
    return f"{chosen} + refit, {training}"


def tolerance_line(arch: str) -> float:
    """The EER a run of ``arch`` may reach and still count: the unpruned network's plus the tolerance."""
    tolerance, pairs = TOLERANCE[arch]
    return float(recorded(arch)[0].eer_series(pairs=pairs).eer[0]) + tolerance


def trains(run: PruningRun) -> bool:
    return run.info["config"].get("train", True)


def stopped_inside(s: Removable, reached: float) -> bool:
    """Whether the run stopped with no step surely over the tolerance and its range reaching its last step:
    its share is a floor."""
    return math.isinf(s.over) and s.high >= reached - 1e-9


def comparison(arch: str) -> list[dict]:
    """One row per recorded run of ``arch`` (``recorded``): how it chooses and trains, its MACs removable
    at the tolerance, pruned and (where it trains) fine-tuned, with ranges, how far it went, and its mean
    seconds per step, of them refitting."""
    tolerance, pairs = TOLERANCE[arch]
    rows = []
    for run in recorded(arch):
        reached = 1 - float(run.macs_ratio[-1])
        pruned = removable(run, tolerance, False, by="macs", pairs=pairs)
        tuned = removable(run, tolerance, True, by="macs", pairs=pairs) if trains(run) else None
        steps = run.steps[1:]
        refit = [r.get("refit_seconds", math.nan) for r in steps]
        selection, refits, trained = how(run)
        rows.append({"run": run.criterion, "selection": selection, "refit": refits, "trained": trained,
                     "pruned": share_text(pruned, stopped_inside(pruned, reached)),
                     "fine-tuned": share_text(tuned, stopped_inside(tuned, reached)) if tuned else "—",
                     "macs_removed_pruned": pruned.share, "macs_removed_finetuned": tuned.share if tuned else math.nan,
                     "reached": pct(reached, 0), "seconds_per_step": float(np.mean([r["seconds"] for r in steps])),
                     "refit_seconds_per_step": float(np.nanmean(refit)) if not np.isnan(refit).all() else math.nan,
                     "_pruned": pruned, "_tuned": tuned, "_reached": reached})
    return rows


def best(row: dict) -> Removable:
    """The larger of a run's two shares (pruned, fine-tuned)."""
    tuned = row["_tuned"]
    return tuned if tuned is not None and tuned.share > row["_pruned"].share else row["_pruned"]


def sentence(arch: str) -> list[str]:
    """The comparison in one sentence, judged by the ranges: a refit run "removes more" only where its
    range lies wholly above the baseline's (empty before the baseline and one refit run are recorded)."""
    rows = {r["run"]: r for r in comparison(arch)}
    if BASELINE not in rows or len(rows) < 2:
        return []
    tolerance, _ = TOLERANCE[arch]
    base = best(rows.pop(BASELINE))
    shares, verdicts = [], []
    for s, row in sorted(((best(r), r) for r in rows.values()), key=lambda pair: -pair[0].share):
        verdicts.append("more than" if s.low > base.high else "less than" if s.high < base.low else "no different from")
        chosen, training = in_words(row["selection"], row["trained"])
        shares.append(f"{share_text(s, stopped_inside(s, row['_reached']))} by {chosen} {training}")
    if set(verdicts) == {"no different from"}:
        judged = "none differs from the baseline by more than the intervals allow"
    else:
        shares = [f"{s} ({v} the baseline)" for s, v in zip(shares, verdicts)]
        judged = "judged by the intervals"
    return [f"With the layers that read pruned channels refitted by least squares, {NETWORK_NAMES[arch]} keeps its "
            f"EER within {100 * tolerance:g} point with these shares of its multiply-accumulates removed: "
            f"{', '.join(shares)}, against {share_text(base)} for the baseline (layer-normalised Taylor with "
            f"training, no refit); {judged}."]
