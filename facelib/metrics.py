"""Verification metrics over similarity scores (higher score = more likely the same person).

At threshold ``t`` a pair is accepted when ``score >= t``:

    FAR(t) = #{different-person pairs with score >= t} / #different
    FRR(t) = #{same-person pairs with score <  t} / #same

Every distinct score is tried as a threshold. The equal error rate is taken where
``|FAR - FRR|`` is smallest, as ``EER = (FAR + FRR) / 2``; among equally close thresholds the
highest one wins (the strictest threshold with that balance).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ErrorCurve:
    """FAR and FRR at every distinct score used as a threshold, thresholds in descending order."""

    thresholds: np.ndarray
    far: np.ndarray
    frr: np.ndarray

    @property
    def tar(self) -> np.ndarray:
        return 1.0 - self.frr


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if labels.all() or not labels.any():
        raise ValueError("need at least one same-person and one different-person pair")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return scores, labels


def error_curve(scores, labels) -> ErrorCurve:
    """FAR/FRR at each distinct score as threshold, in O(n log n)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    # Last index of each run of equal scores: accepting ">= t" takes the whole run.
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    accepted_same = np.cumsum(y)[ends]
    accepted_diff = np.cumsum(~y)[ends]
    n_same, n_diff = y.sum(), (~y).sum()
    return ErrorCurve(thresholds=s[ends], far=accepted_diff / n_diff, frr=1.0 - accepted_same / n_same)


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and its threshold: ``(FAR + FRR) / 2`` where ``|FAR - FRR|`` is smallest."""
    curve = error_curve(scores, labels)
    i = int(np.argmin(np.abs(curve.far - curve.frr)))  # first = highest threshold on ties
    return float((curve.far[i] + curve.frr[i]) / 2), float(curve.thresholds[i])


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: (false accept rate, true accept rate, threshold), starting at (0, 0)."""
    curve = error_curve(scores, labels)
    return (np.r_[0.0, curve.far], np.r_[0.0, curve.tar], np.r_[np.inf, curve.thresholds])


def det(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """DET curve: (FAR, FRR) at every threshold; plot both on a normal-deviate (probit) scale."""
    curve = error_curve(scores, labels)
    return curve.far, curve.frr


def tar_at_far(scores, labels, far: float) -> float:
    """Highest true accept rate over thresholds whose false accept rate is at most ``far``."""
    curve = error_curve(scores, labels)
    ok = curve.far <= far
    return float(curve.tar[ok].max()) if ok.any() else 0.0


def best_accuracy_threshold(scores, labels) -> float:
    """Threshold (one of the scores) maximising accuracy of ``score >= t`` on these pairs."""
    scores, labels = _check(scores, labels)
    curve = error_curve(scores, labels)
    n_same, n_diff = labels.sum(), (~labels).sum()
    correct = (1 - curve.frr) * n_same + (1 - curve.far) * n_diff
    return float(curve.thresholds[int(np.argmax(correct))])


def kfold_accuracy(scores, labels, folds) -> tuple[float, float]:
    """LFW protocol: for each fold, the threshold is the best one on the other folds; mean and std of accuracy."""
    scores, labels = _check(scores, labels)
    folds = np.asarray(folds)
    accs = []
    for f in np.unique(folds):
        test = folds == f
        t = best_accuracy_threshold(scores[~test], labels[~test])
        accs.append(np.mean((scores[test] >= t) == labels[test]))
    return float(np.mean(accs)), float(np.std(accs))


def ranks(x) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=r)
    return (sums / counts)[inverse]


def spearman(a, b) -> float:
    """Spearman rank correlation: Pearson correlation of the (tie-averaged) ranks."""
    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])
