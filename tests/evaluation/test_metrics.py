"""EER and friends against hand-worked cases and a brute-force independent calculation."""
import numpy as np
import pytest

from facelib.evaluation import metrics


def brute_force_eer(scores, labels):
    """Independent O(n^2) EER: try every score as threshold, accept score >= t."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    best = None
    for t in sorted(set(scores.tolist()), reverse=True):
        far = np.mean(scores[~labels] >= t)
        frr = np.mean(scores[labels] < t)
        if best is None or abs(far - frr) < best[0] - 1e-15:
            best = (abs(far - frr), (far + frr) / 2, t)
    return best[1], best[2]


def test_perfect_separation():
    assert metrics.eer([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == (0.0, 0.8)


def test_fully_inverted():
    e, _ = metrics.eer([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])
    assert e == 1.0


def test_hand_worked_overlap():
    # same: 0.9 0.6 0.4; different: 0.7 0.3 0.2. At t=0.6: FAR 1/3, FRR 1/3.
    e, t = metrics.eer([0.9, 0.6, 0.4, 0.7, 0.3, 0.2], [1, 1, 1, 0, 0, 0])
    assert e == pytest.approx(1 / 3) and t == 0.6


def test_ties_are_accepted_together():
    # One same and one different pair share 0.5: at t=0.5 both are accepted.
    curve = metrics.error_curve([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0])
    assert curve.thresholds.tolist() == [0.9, 0.5, 0.1]
    assert curve.far.tolist() == [0.0, 0.5, 1.0]
    assert curve.frr.tolist() == [0.5, 0.0, 0.0]
    e, t = metrics.eer([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0])
    # |FAR - FRR| = 0.5 at both 0.9 and 0.5: the higher threshold wins.
    assert (e, t) == (0.25, 0.9) == brute_force_eer([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0])


def test_all_equal_scores():
    # One threshold: everything accepted, FAR 1, FRR 0 -> EER 0.5 (chance).
    assert metrics.eer([0.3] * 6, [1, 0, 1, 0, 1, 0]) == (0.5, 0.3)


def test_tiny_set():
    assert metrics.eer([0.2, 0.1], [1, 0]) == (0.0, 0.2)
    # Inverted pair: at t=0.2 both are wrong (FAR 1, FRR 1); at t=0.1 |FAR-FRR| = 1.
    assert metrics.eer([0.1, 0.2], [1, 0]) == (1.0, 0.2)


def test_rejects_one_class_and_nan():
    with pytest.raises(ValueError):
        metrics.eer([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError):
        metrics.eer([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError):
        metrics.eer([0.1, 0.2, 0.3], [1, 0])


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    n = 300
    labels = rng.random(n) < 0.4
    scores = np.round(rng.normal(labels * 1.0, 1.0), 1)  # rounding makes many ties
    e, t = metrics.eer(scores, labels)
    be, bt = brute_force_eer(scores, labels)
    assert e == pytest.approx(be) and t == bt


def test_roc_and_tar_at_far():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 1, 0, 1, 0, 0]
    far, tar, thr = metrics.roc(scores, labels)
    assert far[0] == 0 and tar[0] == 0 and far[-1] == 1 and tar[-1] == 1
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert metrics.tar_at_far(scores, labels, 0.0) == pytest.approx(2 / 3)
    assert metrics.tar_at_far(scores, labels, 0.34) == pytest.approx(1.0)
    f, r = metrics.det(scores, labels)
    assert len(f) == len(r) == 6


def test_kfold_accuracy_uses_other_folds():
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # Both folds learn 0.6, which separates the other fold too.
    scores = np.array([0.9, 0.6, 0.4, 0.1, 0.8, 0.6, 0.3, 0.2])
    assert metrics.kfold_accuracy(scores, labels, folds) == (1.0, 0.0)
    # Fold 1 learns 0.7 (the highest best threshold), which rejects fold 0's same pair at 0.6.
    scores = np.array([0.9, 0.6, 0.4, 0.1, 0.8, 0.7, 0.3, 0.2])
    assert metrics.kfold_accuracy(scores, labels, folds) == (0.875, 0.125)


def test_weights_count_a_pair_that_many_times():
    rng = np.random.default_rng(3)
    scores, labels = rng.normal(size=300), rng.random(300) < 0.4
    scores[labels] += 1.0
    weights = rng.integers(0, 4, size=300)
    repeated = np.repeat(np.arange(300), weights)
    assert metrics.eer(scores, labels, weights) == metrics.eer(scores[repeated], labels[repeated])
    assert metrics.eer(scores, labels, np.ones(300)) == metrics.eer(scores, labels)


def test_people_bootstrap_sees_what_a_pair_bootstrap_misses():
    """When all the same-person pairs of a person share that person's difficulty, resampling
    people gives a wider interval than treating the same pairs as independent (each pair with
    people of its own)."""
    rng = np.random.default_rng(0)
    n_people, per = 40, 20
    person = np.repeat(np.arange(n_people), per)
    same_scores = 1.5 + rng.normal(size=n_people)[person] + 0.5 * rng.normal(size=person.size)
    other = (person + rng.integers(1, n_people, size=person.size)) % n_people  # never the same person
    scores = np.r_[same_scores, rng.normal(size=person.size)]
    labels = np.r_[np.ones(person.size, bool), np.zeros(person.size, bool)]
    a, b = np.r_[person, person].astype(str), np.r_[person, other].astype(str)
    by_people = metrics.eer_interval(scores, labels, a, b)
    alone = np.arange(scores.size)
    by_pairs = metrics.eer_interval(scores, labels, alone, np.where(labels, alone, alone + scores.size))
    e, _ = metrics.eer(scores, labels)
    assert by_people[0] <= e <= by_people[1] and by_pairs[0] <= e <= by_pairs[1]
    assert by_people[1] - by_people[0] > 1.5 * (by_pairs[1] - by_pairs[0])
    assert metrics.eer_interval(scores, labels, a, b) == by_people  # seeded
    with pytest.raises(ValueError, match="one person_a"):
        metrics.eer_interval(scores, labels, a[:10], b)
