"""The shipped models as the dashboard's pages load them: ``models/`` listed by ``results/models.csv``, each
loaded once per server (``st.cache_resource``), run in PyTorch or exported to ONNX Runtime, with its scores
on its pairs as recorded in ``results/scores/`` (``facelib.study.shipped_scores``); and the pretrained
MobileFaceNet from its shared ONNX weights.
"""
from __future__ import annotations

import streamlit as st

from facelib import io
from facelib.data import paths
from facelib.deployment import export
from facelib.errors import FacelibError
from facelib.evaluation import verification
from facelib.findings import tables
from facelib.networks import models
from facelib.networks.mobilefacenet import MobileFaceNet
from facelib.study import configs, layout, recorded, shipped_scores
from facelib.study.runs import PRETRAINED, SHIPPED_RUNS


@st.cache_resource(show_spinner=False)
def load_model(file: str):
    """A shipped model, loaded once per session (``weights_only=True`` inside)."""
    path = layout.models_dir() / file
    if not path.exists():
        row = next(r for r in shipped_models() if r["file"] == file)
        source = layout.notebook_for(row["arch"], row["criterion"] or None)
        raise FacelibError(f"the model file {path.relative_to(layout.ROOT)} is missing; notebooks/{source}.ipynb "
                           "writes it")
    return models.load_model(path)


@st.cache_data(show_spinner=False)
def shipped_models() -> list[dict]:
    return io.read_csv(layout.results_dir() / "models.csv", missing_ok=True, numeric=True)


# What to run when results are missing, named by the one map from run to notebook.
NO_RUNS = f"No pruning results yet: run notebooks/{layout.notebook_for('squeezenet', 'taylor')}.ipynb first."
NO_MODELS = (f"No shipped models: run notebooks/{layout.notebook_for('squeezenet')}.ipynb and "
             f"{layout.notebook_for('squeezenet', 'taylor')}.ipynb.")


@st.cache_resource(show_spinner=False)
def runtime_model(file: str, runtime: str = "torch"):
    """A shipped model in PyTorch (``torch``), or exported (once, under runs/) and run by ONNX
    Runtime in ``fp32`` or statically quantised ``int8`` (``facelib.deployment.export``)."""
    if runtime == "torch":
        return load_model(file)
    load_model(file)  # the same one-sentence error where the file is missing
    exported = export.cached_export(layout.models_dir() / file, runtime, layout.runs_dir() / "onnx")
    return verification.OnnxFaceModel(exported)


@st.cache_data(show_spinner=False)
def dev_verification(file: str, runtime: str = "torch") -> dict:
    """A shipped model on its network's evaluation pairs (``shipped_scores.pairs_for``): scores, labels,
    EER, its 95 % interval and threshold, as recorded in ``results/scores/`` (PyTorch), else computed."""
    found = shipped_scores.load(file) if runtime == "torch" else None  # recorded once, beside the model
    if found is not None:
        return found
    model = runtime_model(file, runtime)
    pairs = configs.pretrained_pairs() if isinstance(model, MobileFaceNet) else configs.dev_pairs()
    v = verification.evaluate_model(model, pairs)
    return {"scores": v.scores, "labels": v.labels, "eer": v.eer, "low": v.eer_low, "high": v.eer_high,
            "threshold": v.threshold}


def threshold(row: dict, runtime: str) -> float:
    """The model's EER threshold on the development pairs: the recorded one, which holds for its fp32
    export too (the same embeddings within 1e-4); measured anew for int8, whose embeddings move."""
    return dev_verification(row["file"], runtime)["threshold"] if runtime == "int8" else row["threshold"]


def eer_on_pairs(row: dict, runtime: str = "torch") -> str:
    """A shipped model's EER with its 95 % interval and the pairs it is on: as its run recorded it, on the
    most pairs it was measured on (``shipped_scores.recorded_eer``); measured anew on the development
    pairs for an int8 export, whose embeddings move."""
    if row["kind"] == "pretrained":
        return row["eer"]
    if runtime == "int8":
        v = dev_verification(row["file"], "int8")
        return f"{tables.eer_text(v['eer'], v['low'], v['high'])} (1,000 pairs, int8)"
    found = shipped_scores.recorded_eer(row)
    return f"{tables.eer_text(found['eer'], found['low'], found['high'])} ({found['pairs']})"


def model_label(row: dict) -> str:
    if row["kind"] == "pretrained":
        return "unpruned (pretrained)"
    if row["kind"].startswith("base"):
        return f"unpruned ({row['kind'][5:]})"
    return f"step {int(row['step'])} {row['criterion']} + fine-tuned"


@st.cache_data(show_spinner=False)
def pretrained_rows() -> list[dict]:
    """The pretrained MobileFaceNet as a row like those of ``models.csv``, where its ONNX file is here.
    Its threshold: the EER threshold on LFW View 2 at step 0 of its shipped run (``runs.SHIPPED_RUNS``),
    the pairs its pruned copies' thresholds come from; before that run exists, the one on the development pairs in
    ``reference.csv``."""
    try:
        paths.reference_model()
    except FacelibError:
        return []
    if (PRETRAINED, SHIPPED_RUNS[PRETRAINED]) in recorded.available_runs():
        s = recorded.load_run(PRETRAINED, SHIPPED_RUNS[PRETRAINED]).steps[0]
        found = [(s["threshold_pruned"], s["eer_pruned"], s["eer_low_pruned"], s["eer_high_pruned"], "LFW View 2")]
    else:
        found = [(r["threshold"], r["eer"], r["eer_low"], r["eer_high"], "1,000 pairs") for r in io.read_csv(
            layout.results_dir() / "reference.csv", missing_ok=True, numeric=True) if r["align"] == "landmarks"]
    return [{"file": "", "arch": PRETRAINED, "criterion": "", "step": 0, "kind": "pretrained", "threshold": t,
             "eer": f"{tables.eer_text(eer, low, high)} ({pairs})"} for t, eer, low, high, pairs in found[:1]]


@st.cache_resource(show_spinner=False)
def pretrained_model():
    """The pretrained MobileFaceNet, its weights read from the shared ONNX file."""
    return MobileFaceNet.from_onnx(paths.reference_model())


def choose_shipped_network(key: str, extra: list[dict] = ()) -> list[dict] | None:
    """The ``models.csv`` rows (and ``extra`` rows) of the network picked in a select box (None,
    with a warning, when nothing is shipped)."""
    shipped = shipped_models() + list(extra)
    if not shipped:
        st.warning(NO_MODELS)
        return None
    arch = st.selectbox("Network", list(dict.fromkeys(r["arch"] for r in shipped)), key=f"{key}-arch")
    rows = [r for r in shipped if r["arch"] == arch]
    return sorted(rows, key=lambda r: r["kind"] != "pretrained" and not r["kind"].startswith("base"))  # unpruned first
