"""Verification on real LFW pairs: the reference ONNX model checks the pipeline end to end."""
import numpy as np
import pytest

from facelib.data import alignment, paths
from facelib.data.pairs import lfw_pairs
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.networks import models


@pytest.fixture(scope="module")
def reference():
    return verification.OnnxFaceModel(paths.reference_model(), align="landmarks", threads=2)


@pytest.fixture(scope="module")
def fold0(lfw_people):
    return [p for p in lfw_pairs("view2", lfw_people) if p.fold == 0]


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).normal(size=(5, 2)) * 20
    m = alignment.similarity_transform(src, src @ rot.T + shift)
    assert np.allclose(m, np.hstack([rot, shift[:, None]]))


def test_landmark_alignment_puts_eyes_on_the_template(lfw_people, reference):
    face = lfw_people["AJ_Cook"][0]
    m = reference.transform(face)
    eyes = np.array(face.landmarks[:2])
    mapped = eyes @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - alignment.TEMPLATE_112[:2]).max() < 4  # pixels in the 112x112 input


def test_reference_model_on_view2_fold(reference, fold0):
    """600 real pairs: aligned faces give a far lower EER than unaligned ones, as its README says."""
    aligned = reference.evaluate(fold0)
    assert aligned.eer < 0.025 and aligned.accuracy > 0.97
    unaligned = verification.OnnxFaceModel(paths.reference_model(), align="none", threads=2).evaluate(fold0)
    assert unaligned.eer > aligned.eer + 0.05


def test_mirror_fusion_changes_scores(reference, fold0):
    pairs = fold0[:40] + fold0[300:340]
    a, b = reference.evaluate(pairs, mirror=True), reference.evaluate(pairs, mirror=False)
    assert not np.allclose(a.scores, b.scores)
    assert a.scores[a.labels].mean() > a.scores[~a.labels].mean()


def test_facenet_evaluation_runs_on_real_pairs(fold0):
    model = models.build("squeezenet", 10)
    result = verification.evaluate_model(model, fold0[:50] + fold0[300:350])
    assert result.pairs == 100 and 0 <= result.eer <= 1
    assert result.scores.shape == (100,) and np.all(np.abs(result.scores) <= 1 + 1e-6)


def test_bad_onnx_inputs(tmp_path):
    with pytest.raises(FacelibError, match="does not exist"):
        verification.OnnxFaceModel(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(FacelibError, match="not a loadable"):
        verification.OnnxFaceModel(tmp_path / "bad.onnx")
    with pytest.raises(FacelibError, match="unknown alignment"):
        verification.OnnxFaceModel(paths.reference_model(), align="magic")


def test_eer_interval_of_a_shipped_model_on_both_development_sets(lfw_people):
    """The 95 % interval (people resampled) holds the EER; the larger set of the same people
    pins the EER down more tightly than the 1,000 official pairs."""
    from facelib.study import layout

    model = models.load_model(layout.ROOT / "models" / "squeezenet-distill-base.pt")
    dev = verification.evaluate_model(model, lfw_pairs("dev", lfw_people))
    larger = verification.evaluate_model(model, lfw_pairs("devpeople", lfw_people))
    for v in (dev, larger):
        assert v.eer_low < v.eer < v.eer_high
        assert 0.005 < v.eer_high - v.eer_low < 0.15
    assert larger.eer_high - larger.eer_low < dev.eer_high - dev.eer_low


def test_paired_difference_of_two_shipped_models_is_narrower_than_their_own_intervals(lfw_people):
    """The unpruned SqueezeNet and a pruned, fine-tuned copy of it on the larger set: the paired
    interval of their EER difference holds the difference and is narrower than either EER's own
    interval; a model against itself differs by exactly 0."""
    from facelib import io
    from facelib.evaluation import metrics
    from facelib.study import layout

    pairs = lfw_pairs("devpeople", lfw_people)
    a, b = [p.a.identity for p in pairs], [p.b.identity for p in pairs]
    base = verification.evaluate_model(models.load_model(layout.ROOT / "models" / "squeezenet-distill-base.pt"), pairs)
    copies = sorted((r for r in io.read_csv(layout.ROOT / "results" / "models.csv", numeric=True)
                     if r["arch"] == "squeezenet" and r["kind"] == "finetuned"), key=lambda r: r["step"])
    pruned = verification.evaluate_model(models.load_model(layout.ROOT / "models" / copies[0]["file"]), pairs)
    low, high = metrics.eer_difference_interval(base.scores, pruned.scores, base.labels, a, b)
    assert low <= pruned.eer - base.eer <= high
    assert high - low < min(base.eer_high - base.eer_low, pruned.eer_high - pruned.eer_low)
    assert metrics.eer_difference_interval(base.scores, base.scores, base.labels, a, b) == (0.0, 0.0)


def test_sets_evaluated_together_score_as_each_alone(lfw_people):
    """``evaluate_sets`` embeds the faces the sets share once; every set's scores and EER are those
    of evaluating it alone, and an empty set is left out."""
    from facelib.study import layout

    model = models.load_model(layout.ROOT / "models" / "squeezenet-distill-base.pt")
    dev = lfw_pairs("dev", lfw_people)[::10]
    larger = lfw_pairs("devpeople", lfw_people)[::40]
    assert set(verification.unique_faces(dev)) & set(verification.unique_faces(larger))  # they share faces
    found = verification.evaluate_sets(model, {"dev": dev, "larger": larger, "none": []})
    assert list(found) == ["dev", "larger"]
    for name, pairs in (("dev", dev), ("larger", larger)):
        alone = verification.evaluate_model(model, pairs)
        np.testing.assert_allclose(found[name].scores, alone.scores, atol=1e-5)
        assert found[name].eer == pytest.approx(alone.eer, abs=1e-9)
        assert (found[name].eer_low, found[name].eer_high) == pytest.approx((alone.eer_low, alone.eer_high), abs=1e-9)


@pytest.mark.bf16_units
def test_bf16_evaluation_gives_the_eers_of_fp32(lfw_people):
    """The pruning loop evaluates in bf16 (``eval_precision``): on the shipped SqueezeNet and the
    larger set's every 4th pair, scores move by less than 0.01 and the EER by less than 0.3 points,
    well inside its interval."""
    from facelib.study import layout

    model = models.load_model(layout.ROOT / "models" / "squeezenet-distill-base.pt")
    pairs = lfw_pairs("devpeople", lfw_people)[::4]
    fp32 = verification.evaluate_sets(model, {"larger": pairs})["larger"]
    bf16 = verification.evaluate_sets(model, {"larger": pairs}, precision="bf16")["larger"]
    assert np.abs(bf16.scores - fp32.scores).max() < 0.01
    assert abs(bf16.eer - fp32.eer) < 0.003 < fp32.eer_high - fp32.eer_low
