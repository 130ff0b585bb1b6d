"""Verification metrics over similarity scores (higher score = more likely the same person).

At threshold ``t`` a pair is accepted when ``score >= t``:

    FAR(t) = #{different-person pairs with score >= t} / #different
    FRR(t) = #{same-person pairs with score <  t} / #same

Every distinct score is tried as a threshold. The equal error rate is taken where
``|FAR - FRR|`` is smallest, as ``EER = (FAR + FRR) / 2``; among equally close thresholds the
highest one wins (the strictest threshold with that balance).
"""
from __future__ import annotations

import functools
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


def error_curve(scores, labels, weights=None) -> ErrorCurve:
    """FAR/FRR at each distinct score as threshold, in O(n log n); ``weights`` (one per pair,
    default 1) count a pair that many times, as the bootstrap's resampled people do."""
    scores, labels = _check(scores, labels)
    w = np.ones(scores.size) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    order = np.argsort(-scores, kind="stable")
    s, y, w = scores[order], labels[order], w[order]
    # Last index of each run of equal scores: accepting ">= t" takes the whole run.
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    accepted_same = np.cumsum(w * y)[ends]
    accepted_diff = np.cumsum(w * ~y)[ends]
    n_same, n_diff = accepted_same[-1], accepted_diff[-1]
    return ErrorCurve(thresholds=s[ends], far=accepted_diff / n_diff, frr=1.0 - accepted_same / n_same)


def eer(scores, labels, weights=None) -> tuple[float, float]:
    """Equal error rate and its threshold: ``(FAR + FRR) / 2`` where ``|FAR - FRR|`` is smallest."""
    curve = error_curve(scores, labels, weights)
    i = int(np.argmin(np.abs(curve.far - curve.frr)))  # first = highest threshold on ties
    return float((curve.far[i] + curve.frr[i]) / 2), float(curve.thresholds[i])


def _people_weights(labels: np.ndarray, person_a, person_b, resamples: int, seed: int):
    """Chunks (at most 100 rows x pairs) of the people bootstrap's pair weights, in the pairs' order:
    each resample draws the set's P people with replacement; a person drawn ``m`` times has
    multiplicity ``m``, a same-person pair of person ``p`` then counts ``m_p`` times and a
    different-person pair of ``p`` and ``q`` counts ``m_p * m_q`` times."""
    names, index = np.unique(np.r_[np.asarray(person_a, dtype=str), np.asarray(person_b, dtype=str)],
                             return_inverse=True)
    a, b = index[:labels.size], index[labels.size:]
    if a.size != labels.size or b.size != labels.size:
        raise ValueError("need one person_a and one person_b per score")
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, 100):  # chunks of 100 resamples keep memory at 100 x pairs
        m = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=min(100, resamples - start))
        yield np.where(labels, m[:, a], m[:, a] * m[:, b]).astype(np.float64)


def _weighted_eers(scores: np.ndarray, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The EER of ``scores`` under each row of pair weights ``w`` (NaN for a row left without a
    same- or a different-person pair)."""
    order = np.argsort(-scores, kind="stable")
    s, y, w = scores[order], labels[order], w[:, order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    same, diff = np.cumsum(w * y, axis=1)[:, ends], np.cumsum(w * ~y, axis=1)[:, ends]
    out = np.full(len(w), np.nan)
    ok = (same[:, -1] > 0) & (diff[:, -1] > 0)
    far, frr = diff[ok] / diff[ok, -1:], 1.0 - same[ok] / same[ok, -1:]
    i = np.argmin(np.abs(far - frr), axis=1)
    rows = np.arange(len(i))
    out[ok] = (far[rows, i] + frr[rows, i]) / 2
    return out


def eer_interval(scores, labels, person_a, person_b, level: float = 0.95, resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the EER, resampling *people* rather than pairs, since the
    pairs that share a person are not independent (Bolle et al. 2004, "subsets bootstrap"): each
    resample's EER is the ``eer`` weighted by ``_people_weights``; resamples left without a same- or
    a different-person pair are skipped.
    """
    scores, labels = _check(scores, labels)
    eers = np.concatenate([_weighted_eers(scores, labels, w)
                           for w in _people_weights(labels, person_a, person_b, resamples, seed)])
    low, high = np.quantile(eers[~np.isnan(eers)], [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def eer_difference_interval(reference, scores, labels, person_a, person_b, level: float = 0.95,
                            resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Paired percentile bootstrap interval of EER(``scores``) - EER(``reference``): two models'
    scores of the *same* pairs, every resample of people (``_people_weights``) weighing both alike,
    so that what the two share (the same hard pairs, the same people) cancels. Far narrower than the
    two EERs' own intervals set side by side. Worked example: two models whose EERs are 6.0 % [4.8,
    7.2] and 6.9 % [5.6, 8.1] on one set can have a difference of +0.9 [+0.3, +1.5] points."""
    reference, labels = _check(reference, labels)
    scores, _ = _check(scores, labels)
    found = []
    for w in _people_weights(labels, person_a, person_b, resamples, seed):
        found.append(_weighted_eers(scores, labels, w) - _weighted_eers(reference, labels, w))
    diffs = np.concatenate(found)
    low, high = np.quantile(diffs[~np.isnan(diffs)], [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


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


def _row_ranks(x: np.ndarray) -> np.ndarray:
    """``ranks`` of each row of ``x``: the values below plus the average place among the equal ones."""
    below = (x[:, None, :] < x[:, :, None]).sum(2)
    equal = (x[:, None, :] == x[:, :, None]).sum(2)
    return below + (equal + 1) / 2


def spearman_interval(a, b, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``spearman(a, b)``, the items (a network's groups) resampled
    with replacement; resamples whose ranks are all tied in ``a`` or ``b`` (no correlation defined)
    are left out. Ranks are taken afresh in each resample, as ``spearman`` would."""
    return _spearman_interval(tuple(map(float, a)), tuple(map(float, b)), level, resamples, seed)


@functools.lru_cache(maxsize=256)
def _spearman_interval(a: tuple, b: tuple, level: float, resamples: int, seed: int) -> tuple[float, float]:
    """``spearman_interval``, once per question (the findings ask the same of a run more than once)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    i = np.random.default_rng(seed).integers(0, len(a), (resamples, len(a)))  # all resamples at once
    ra, rb = _row_ranks(a[i]), _row_ranks(b[i])
    ok = (np.ptp(a[i], axis=1) > 0) & (np.ptp(b[i], axis=1) > 0)
    ra, rb = ra[ok] - ra[ok].mean(1, keepdims=True), rb[ok] - rb[ok].mean(1, keepdims=True)
    rhos = (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rhos, [tail, 100 - tail])
    return float(low), float(high)
