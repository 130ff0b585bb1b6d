"""The precision a run can afford on this CPU, and recorded results that answer either precision."""
from __future__ import annotations

import dataclasses
import json

import pytest

from facelib.pruning.config import PruneConfig
from facelib.study import configs, layout, running
from facelib.training import precision
from facelib.training.config import TrainConfig


def test_bf16_falls_back_to_fp32_without_bf16_units(monkeypatch):
    assert precision.runnable("fp32") == "fp32"
    expected = "bf16" if precision.bf16_units() else "fp32"  # this CPU, as /proc/cpuinfo names its units
    assert precision.runnable("bf16") == expected
    monkeypatch.setattr(precision, "bf16_units", lambda: ())
    assert precision.runnable("bf16") == "fp32"
    monkeypatch.setattr(precision, "bf16_units", lambda: ("amx_bf16",))
    assert precision.runnable("bf16") == "bf16"


@pytest.mark.parametrize("units", [(), ("amx_bf16",)])
def test_the_study_asks_for_what_the_cpu_affords(monkeypatch, units):
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    monkeypatch.setattr(precision, "bf16_units", lambda: units)
    want = "bf16" if units else "fp32"
    assert configs.base_config("resnet50", "distill").precision == want
    assert configs.recipe_config("cosine-1e-3").precision == want
    cfg = configs.prune_config("squeezenet", "taylor")
    assert cfg.precision == cfg.eval_precision == want
    assert configs.prune_config("mobilefacenet", "taylor").precision == want  # declared bf16 in runs.PRETRAINED_RUN


def test_a_result_recorded_in_bf16_answers_an_fp32_request(monkeypatch):
    """The committed SqueezeNet base and its Taylor run were made in bf16: on a CPU without bf16
    units the study asks for fp32 and must still read them, not retrain for hours."""
    monkeypatch.setenv("FACELIB_PROFILE", "full")
    monkeypatch.delenv("FACELIB_RERUN", raising=False)
    monkeypatch.setattr(precision, "bf16_units", lambda: ())

    def no_work(*args, **kwargs):
        raise AssertionError("a recorded result was run again")

    monkeypatch.setattr(running, "_train_run", no_work)
    monkeypatch.setattr(running, "run_pruning", no_work)
    row = running.ensure_base("squeezenet", "distill", progress=False)
    assert TrainConfig.from_dict(json.loads(row["config"])).precision == "bf16"
    assert running.ensure_pruning("squeezenet", "taylor", progress=False) == layout.pruning_results_dir(
        "squeezenet", "taylor")


def test_only_machine_fields_may_differ():
    cfg = PruneConfig(base_model="models/x.pt", precision="bf16", eval_precision="bf16", threads=2)
    assert cfg.same_study_run(dataclasses.replace(cfg, precision="fp32", eval_precision="fp32", threads=None))
    assert not cfg.same_study_run(dataclasses.replace(cfg, lr=cfg.lr * 2))
    assert not cfg.same_study_run(TrainConfig())


def test_the_cpu_a_timing_ran_on_is_named_with_its_matrix_units():
    """Deploy latencies (int8 above all) depend on VNNI/AMX, so each timing saves this description."""
    with open("/proc/cpuinfo") as f:
        flags = set(f.read().split())
    described = precision.cpu_description()
    units = [u for u in precision.MATRIX_UNITS if u in flags]
    assert described.endswith(f"({', '.join(units)})" if units else "(no int8/bf16 matrix units)")
    assert set(precision.bf16_units()) == {u for u in precision.BF16_UNITS if u in flags}
