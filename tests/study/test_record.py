"""facelib.study.record: filling the paired-difference columns of a run recorded before the loop wrote them."""
from __future__ import annotations

import pytest

from facelib import io
from facelib.data.pairs import every_nth_pair, lfw_pairs
from facelib.errors import FacelibError
from facelib.pruning.config import PruneConfig
from facelib.pruning.loop import prune
from facelib.study import layout, record
from facelib.training import precision

DIFF = [f"devpeople_diff_{end}_{kind}" for kind in ("pruned", "finetuned") for end in ("low", "high")]


def test_paired_differences_from_the_models_equal_the_loops_own(tmp_path, lfw_people):
    """One step pruned from the shipped SqueezeNet, and fine-tuned, with the larger set (120 pairs,
    evaluated in bf16 as the study's runs are where the CPU has bfloat16 units):
    the columns rebuilt from the run folder's models equal those the loop wrote; a model that is not
    the run's is refused in one sentence."""
    cfg = PruneConfig(base_model=str(layout.ROOT / "models" / "squeezenet-distill-base.pt"), steps=1,
                      batches_per_step=2, batch_size=16, filters_per_step=24, finetune_every=1, finetune_batches=2,
                      larger_pairs="devpeople", max_pairs=120, threads=2,
                      eval_precision=precision.runnable("bf16"))
    prune(cfg, tmp_path, progress=False)
    written = io.read_csv(tmp_path / "steps.csv")
    larger = every_nth_pair(lfw_pairs("devpeople", lfw_people), 120)
    rebuilt = record.paired_differences(tmp_path, [{k: v for k, v in r.items() if k not in DIFF} for r in written],
                                        larger)
    for w, r in zip(written, rebuilt):
        for k in DIFF:
            assert (w[k] == "" and k not in r) or float(w[k]) == pytest.approx(r[k]), (w["step"], k)
    assert float(written[0]["devpeople_diff_low_pruned"]) == float(written[0]["devpeople_diff_high_pruned"]) == 0
    (tmp_path / "models" / "step_001_finetuned.pt").replace(tmp_path / "models" / "step_001_pruned.pt")
    with pytest.raises(FacelibError, match="not this run's model"):
        record.paired_differences(tmp_path, written, larger)
