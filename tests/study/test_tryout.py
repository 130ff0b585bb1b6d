"""The notebooks' "Try it" experiment (``study.tryout.prune_once``) on the shipped SqueezeNet base and
real faces: one-shot pruning to a share, both networks evaluated on the 1,000 development pairs."""
from __future__ import annotations

import pytest

from facelib.errors import FacelibError
from facelib.study import tryout


def test_prune_once_removes_the_share_asked_and_evaluates_both(full_profile):
    found = tryout.prune_once("squeezenet", "taylor", share=0.2, normalise=True, batches=3)
    base, pruned = found.base.trunk_parameters(), found.model.trunk_parameters()
    assert 0.75 * base <= pruned <= 0.8 * base  # the fewest filters that reach the share
    layers = found.layers()
    assert sum(r["filters"] - r["left"] for r in layers) > 0 and all(0 <= r["lost"] < 1 for r in layers)
    assert found.eer.pairs == found.base_eer.pairs == 1000
    for v in (found.eer, found.base_eer):
        assert v.eer_low <= v.eer <= v.eer_high
    low, high = found.difference
    assert low <= found.eer.eer - found.base_eer.eer <= high
    assert "development pairs" in str(found) and f"{found.seconds:.0f} s" in str(found)


def test_prune_once_by_a_share_of_filters_in_multiples_of_16(full_profile):
    found = tryout.prune_once("squeezenet", "taylor", share=0.3, normalise=True, batches=2, by="filters", round_to=16)
    layers = found.layers()
    gone = sum(r["filters"] - r["left"] for r in layers) / sum(r["filters"] for r in layers)
    assert 0.3 <= gone < 0.35  # at least the share, in units of 16 filters
    assert all(r["left"] % 16 == 0 for r in layers if r["filters"] % 16 == 0)
    assert "30% of the filters" in str(found) or f"{gone:.0%} of the filters" in str(found)


def test_an_unknown_criterion_is_one_sentence(full_profile):
    with pytest.raises(FacelibError, match="unknown network 'squeezenet' or criterion 'magnitude'"):
        tryout.prune_once("squeezenet", "magnitude")
    with pytest.raises(FacelibError, match="give a share between 0 and 1"):
        tryout.prune_once("squeezenet", "taylor", share=1.0, by="filters")


def test_prune_once_by_a_share_of_macs_then_a_short_recovery(full_profile):
    """The fewest filters that take 30 % of the MACs, then 30 mini-batches of fine-tuning: the same
    removal, and on the same pairs a lower EER than without the recovery; every stage reported."""
    from facelib.networks.models import count_macs

    heard = []
    found = tryout.prune_once("squeezenet", "taylor", share=0.3, normalise=True, by="macs", recovery=30,
                              progress=lambda done, what: heard.append(done))
    plain = tryout.prune_once("squeezenet", "taylor", share=0.3, normalise=True, by="macs")
    gone = 1 - count_macs(found.model) / count_macs(found.base)
    assert 0.3 <= gone < 0.33
    assert [(r["group"], r["left"]) for r in found.layers()] == [(r["group"], r["left"]) for r in plain.layers()]
    assert found.eer.eer < plain.eer.eer
    assert heard == sorted(heard) and heard[0] == 0.0 and heard[-1] == 1.0
    assert "30 mini-batches of recovery" in str(found)
    with pytest.raises(FacelibError, match="give 0"):
        tryout.prune_once("squeezenet", "taylor", recovery=-1)


def test_the_pretrained_mobilefacenet_prunes_on_view2_with_its_fitted_classifier(monkeypatch):
    """MobileFaceNet ships without a classifier: it gets its pruning runs' fitted one and is judged on
    as many View 2 pairs as the others' development pairs; its unpruned scores are kept for the next
    experiment (fast profile: 10 people, 30 pairs)."""
    import numpy as np

    from facelib.data.pairs import lfw_pairs
    from facelib.study import configs
    from facelib.training.precision import runnable

    monkeypatch.setenv("FACELIB_PROFILE", "fast")
    name, pairs = tryout.evaluation_pairs("mobilefacenet")
    assert name == "view2" and len(pairs) == len(configs.dev_pairs()) and set(pairs) <= set(lfw_pairs("view2"))
    kept = tryout.base_scores_file(tryout.base_file("mobilefacenet"), name, len(pairs), runnable("bf16"))
    kept.unlink(missing_ok=True)
    found = tryout.prune_once("mobilefacenet", "taylor", share=0.3, normalise=True, by="filters", batches=2)
    assert found.eer.pairs == found.base_eer.pairs == len(pairs) and kept.exists()
    assert found.base.head.out_features == 10 and "LFW View 2 pairs" in str(found)
    assert found.model.trunk_parameters() < found.base.trunk_parameters()
    again = tryout.prune_once("mobilefacenet", "taylor", share=0.35, normalise=True, by="filters", batches=2)
    assert np.allclose(again.base_eer.scores, found.base_eer.scores) and again.base_eer.eer == found.base_eer.eer
    assert again.model.trunk_parameters() < found.model.trunk_parameters()


def test_a_missing_shipped_base_is_one_sentence(monkeypatch, full_profile):
    from facelib.study import layout

    monkeypatch.setattr(layout, "models_dir", lambda: layout.ROOT / "no-models-here")
    with pytest.raises(FacelibError, match="the shipped squeezenet base .* is missing: notebooks/02"):
        tryout.prune_once("squeezenet", "taylor")


def test_prune_once_with_a_refit_changes_only_the_readers_and_brings_the_embeddings_back(full_profile):
    """30 % of the MACs by layer-normalised Taylor, then the layers reading the removed channels refitted
    on 200 training faces: the same filters go as without; only those readers change; on faces of other
    people (the development pairs) the pair scores agree better with the unpruned network's. The reconstruction
    criterion scores on the refit's faces, and without them is one sentence."""
    import numpy as np
    import torch

    from facelib.pruning.groups import channel_groups

    common = dict(arch="squeezenet", criterion="taylor", share=0.3, normalise=True, by="macs", batches=3)
    refit, plain = tryout.prune_once(**common, refit_faces=200), tryout.prune_once(**common)
    assert [(r["group"], r["left"]) for r in refit.layers()] == [(r["group"], r["left"]) for r in plain.layers()]
    readers = {c for g in channel_groups(refit.base) for c, _ in g.consumers}
    a, b = refit.model.state_dict(), plain.model.state_dict()
    changed = {k.rsplit(".", 1)[0] for k in a if not torch.equal(a[k], b[k])}
    assert changed and changed <= readers and "refitted on 200 faces" in str(refit)
    agreement = [np.corrcoef(found.base_eer.scores, found.eer.scores)[0, 1] for found in (refit, plain)]
    assert agreement[0] > agreement[1]  # the pairs' scores closer to the unpruned network's
    with pytest.raises(FacelibError, match="needs them"):
        tryout.prune_once("squeezenet", "reconstruction")
    by_error = tryout.prune_once("squeezenet", "reconstruction", share=0.2, refit_faces=100)
    assert 0.75 * by_error.base.trunk_parameters() <= by_error.model.trunk_parameters() <= 0.8 * by_error.base.trunk_parameters()
